// gateway/http_session.cpp: one connection from its first byte to its close, over real HTTP on
// 127.0.0.1: keep-alive and pipelining answered in order, 413 naming the limit that applied
// (gateway.body_limit or the chain's pool.buffer_size), malformed requests and a missing Host 400
// with the connection closed, absolute-form targets served. Each scenario ends with every pool
// buffer back.
#include "tests/support/http_client.hpp"
#include "tests/support/http_gateway.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using namespace spry;
using spry::test::http_connection;
using spry::test::http_gateway;
using spry::test::http_request;

namespace {

core::app session_app() {
  core::app a("http-session-test");
  a.function("echo", [](core::message&) {});
  a.function("grow", [](core::message&) {});
  a.chain("echo").http("POST", "/echo").then("echo");
  a.chain("grow").http("POST", "/grow").then("grow").pool(4, 128);
  a.spec().gateway.body_limit = 4096;
  a.spec().gateway.header_timeout_ms = 300;
  a.spec().gateway.body_timeout_ms = 300;
  a.spec().worker_threads = 2;
  return a;
}

// Every buffer back in its pool (a chain may hold one a moment after its answer), bounded.
bool pools_full(http_gateway& g) {
  return spry::test::eventually([&] { return g.buffers_in_use() == 0; },
                                std::chrono::seconds(5));
}

} // namespace

TEST_CASE("http_session: keep-alive and pipelined requests are answered in order", "[gateway][http]") {
  auto a = session_app();
  http_gateway r(a);
  http_connection c(r.port());
  REQUIRE(c.connected());
  for (int i = 0; i < 20; ++i) {
    auto res = c.request("POST", "/echo", "n" + std::to_string(i));
    REQUIRE(res);
    CHECK(res->body == "n" + std::to_string(i));
  }
  std::string batch;
  for (int i = 0; i < 5; ++i)
    batch += "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\np" + std::to_string(i);
  REQUIRE(c.send_raw(batch));
  for (int i = 0; i < 5; ++i) {
    auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->body == "p" + std::to_string(i));
  }
  CHECK(pools_full(r));
}

TEST_CASE("http_session: bodies over the limit get 413 without being read", "[gateway][http]") {
  auto a = session_app();
  http_gateway r(a);
  auto big = http_request(r.port(), "POST", "/echo", std::string(5000, 'b'));
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK_THAT(big->body, Catch::Contains("exceeds gateway.body_limit of 4096 bytes"));
  // Larger than the chain's buffer but under the gateway limit: 413 too, naming the buffer (the
  // limit that applied), not the body limit.
  auto grow = http_request(r.port(), "POST", "/grow", std::string(200, 'g'));
  REQUIRE(grow);
  CHECK(grow->status == 413);
  CHECK_THAT(grow->body, Catch::Contains("body of 200 bytes exceeds the 128-byte buffer of chain "
                                         "'grow' (its pool.buffer_size; gateway.body_limit is 4096"));
  // Chunked bodies have no Content-Length: the limit is enforced while reading.
  http_connection c(r.port());
  std::string chunked = "POST /grow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i)
    chunked += "10\r\n" + std::string(16, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  REQUIRE(c.send_raw(chunked));
  auto res = c.read_response();
  REQUIRE(res);
  CHECK(res->status == 413);
  CHECK(pools_full(r));
}

TEST_CASE("http_session: malformed requests get 400 and the connection closes", "[gateway][http]") {
  auto a = session_app();
  http_gateway r(a);
  for (const std::string raw : {"GARBAGE\r\n\r\n", "POST /echo HTTP/1.1\r\nContent-Length: zz\r\n\r\n",
                                "POST /echo HTTP/9.9\r\n\r\n",
                                "POST /echo HTTP/1.1\r\nBad Header Line\r\n\r\n"}) {
    http_connection c(r.port());
    REQUIRE(c.send_raw(raw));
    auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(c.closed_by_peer(std::chrono::seconds(2)));
  }
  CHECK(pools_full(r));
}

TEST_CASE("http_session: Host is required on HTTP/1.1 (once), absolute-form targets are served",
          "[gateway][http]") {
  auto a = session_app();
  http_gateway r(a);
  for (const std::string raw : {"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
                                "POST /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 2\r\n\r\nhi"}) {
    http_connection c(r.port());
    REQUIRE(c.send_raw(raw));
    auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK_THAT(res->body, Catch::Contains("Host"));
    CHECK(c.closed_by_peer(std::chrono::seconds(2)));
  }
  { // HTTP/1.0 had no Host requirement
    http_connection c(r.port());
    REQUIRE(c.send_raw("POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi"));
    auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == "hi");
  }
  { // RFC 9112 3.2.2: a server must accept absolute-form; the path (and topic) come from it
    http_connection c(r.port());
    const std::string port = std::to_string(r.port());
    REQUIRE(c.send_raw("POST http://127.0.0.1:" + port + "/echo HTTP/1.1\r\nHost: 127.0.0.1:" + port +
                       "\r\nContent-Length: 2\r\n\r\nhi"));
    auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == "hi");
  }
  CHECK(pools_full(r));
}

