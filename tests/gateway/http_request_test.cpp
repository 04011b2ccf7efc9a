#include "gateway/http_request.hpp"

#include <boost/asio/buffer.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace spry;
using namespace spry::gateway;

namespace {

std::vector<core::chain_spec> chains() {
  std::vector<core::chain_spec> out(3);
  out[0].http = {"POST", "/hello"};
  out[1].http = {"GET", "/hello/info"};
  out[2].http = {"POST", "/"};
  return out;
}

} // namespace

TEST_CASE("match_route picks the longest prefix at a segment boundary", "[http_request]") {
  const auto c = chains();
  auto m = match_route(c, "POST", "/hello/a/b");
  CHECK(m.status == 0);
  CHECK(m.chain == 0);
  CHECK(m.topic == "a/b");
  m = match_route(c, "GET", "/hello/info");
  CHECK(m.status == 0);
  CHECK(m.chain == 1);
  m = match_route(c, "POST", "/hellos"); // not /hello: falls back to /
  CHECK(m.status == 0);
  CHECK(m.chain == 2);
  CHECK(m.topic == "hellos");
  m = match_route(c, "GET", "/hello");
  CHECK(m.status == 405);
  CHECK(m.allow == "POST");
  CHECK(match_route({}, "GET", "/x").status == 404);
  auto mqtt_only = c;
  mqtt_only[2].http.path.clear(); // a chain only an MQTT subscription starts
  CHECK(match_route(mqtt_only, "POST", "/hellos").status == 404);
}

TEST_CASE("reserved paths and query values are recognised", "[http_request]") {
  CHECK(classify_reserved("/healthz") == reserved_path::healthz);
  CHECK(classify_reserved("/admin/adapters/x") == reserved_path::admin_adapters);
  CHECK(classify_reserved("/admin/adaptersx") == reserved_path::none);
  CHECK(classify_reserved("/admin/libraries") == reserved_path::admin_libraries);
  CHECK(classify_reserved("/admin/libraries/x") == reserved_path::none);
  CHECK(target_path("/a/b?x=1") == "/a/b");
  // absolute-form (RFC 9112 3.2.2)
  CHECK(target_path("http://127.0.0.1:8080/hello/a?x=1") == "/hello/a");
  CHECK(target_path("HTTP://example.com/hello") == "/hello");
  CHECK(target_path("https://example.com") == "/");
  CHECK(target_path("*") == "*");
  CHECK(target_path("ftp://example.com/hello") == "ftp://example.com/hello");
  CHECK(query_value("/a?library=%2Ftmp%2Flib.so&x=a+b", "library") == "/tmp/lib.so");
  CHECK(query_value("/a?x=a+b", "x") == "a b");
  CHECK(query_value("/a?x=%zz%4", "x") == "%zz%4"); // malformed escapes stay
  CHECK(query_value("/a", "x").empty());
}

TEST_CASE("a declared body larger than the limit or the buffer is refused before reading it", "[http_request]") {
  CHECK(body_capacity(1000, 512) == 512);
  CHECK(body_capacity(100, 512) == 100);
  auto declared = [](const std::string& wire) {
    request_parser p;
    apply_limits(p, 1 << 20);
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(wire), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
    return declared_too_large(p, 100, 512);
  };
  CHECK_FALSE(declared("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n"));
  CHECK(declared("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"));
  CHECK_FALSE(declared("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")); // checked while read
}

TEST_CASE("Host: exactly one on HTTP/1.1, at most one before", "[http_request]") {
  auto problem = [](const std::string& wire) {
    request_parser p;
    apply_limits(p, 1 << 20);
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(wire), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
    return host_problem(p.get());
  };
  CHECK(problem("GET / HTTP/1.1\r\nHost: x\r\n\r\n").empty());
  CHECK_THAT(problem("GET / HTTP/1.1\r\n\r\n"), Catch::Contains("without a Host"));
  CHECK_THAT(problem("GET / HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n"), Catch::Contains("2 Host"));
  CHECK(problem("GET / HTTP/1.0\r\n\r\n").empty());
  CHECK_THAT(problem("GET / HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n"), Catch::Contains("2 Host"));
}

TEST_CASE("a 413 names the limit that applied", "[http_request]") {
  CHECK(too_large_text(100000, 1 << 20, 65536, "hello") ==
        "body of 100000 bytes exceeds the 65536-byte buffer of chain 'hello' (its "
        "pool.buffer_size; gateway.body_limit is 1048576 bytes)");
  CHECK(too_large_text(0, 4096, 0, "") == "body exceeds gateway.body_limit of 4096 bytes");
  CHECK(too_large_text(5000, 4096, 65536, "hello") ==
        "body of 5000 bytes exceeds gateway.body_limit of 4096 bytes");
}
