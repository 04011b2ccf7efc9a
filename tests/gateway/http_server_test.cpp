// gateway/http_server.cpp: the listening side. It binds where the app says (port 0: a free one),
// reports an address it cannot take, counts the connections its sessions hold, and stops
// accepting on stop().
#include "tests/support/http_client.hpp"
#include "tests/support/http_gateway.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace spry;
using spry::test::http_connection;
using spry::test::eventually;
using spry::test::http_gateway;

namespace {

core::app echo_app() {
  core::app a("http-server-test");
  a.function("echo", [](core::message&) {});
  a.chain("echo").http("POST", "/echo").then("echo");
  a.spec().worker_threads = 2;
  return a;
}

} // namespace

TEST_CASE("http_server: port 0 binds a free port on 127.0.0.1 and serves there", "[gateway][http]") {
  auto a = echo_app();
  http_gateway g(a);
  REQUIRE(g.port() != 0);
  auto res = spry::test::http_request(g.port(), "POST", "/echo", "hi");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "hi");
}

TEST_CASE("http_server: an address it cannot take is an error naming it", "[gateway][http]") {
  auto a = echo_app();
  http_gateway g(a);
  core::gateway_spec taken = g.rt->app().gateway;
  taken.port = g.port();
  gateway::http_server second(*g.gw, taken);
  auto ok = second.start();
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.err().message,
             Catch::StartsWith("cannot listen on 127.0.0.1:" + std::to_string(g.port()) + ": "));

  core::gateway_spec named = g.rt->app().gateway;
  named.host = "localhost";
  gateway::http_server third(*g.gw, named);
  auto bad = third.start();
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.err().message, Catch::Contains("gateway.listen: 'localhost' is not an IP address"));
}

TEST_CASE("http_server: counts open connections, and stop() stops accepting", "[gateway][http]") {
  auto a = echo_app();
  http_gateway g(a);
  {
    http_connection c1(g.port());
    http_connection c2(g.port());
    REQUIRE(c1.connected());
    REQUIRE(c2.connected());
    // A request on each makes sure both were accepted.
    REQUIRE(c1.request("POST", "/echo", "1"));
    REQUIRE(c2.request("POST", "/echo", "2"));
    CHECK(g.http->connections() == 2);
  }
  CHECK(eventually([&] { return g.http->connections() == 0; }));
  const auto port = g.port();
  g.http->stop(0);
  http_connection late(port);
  CHECK_FALSE(late.connected()); // the port no longer listens
}
