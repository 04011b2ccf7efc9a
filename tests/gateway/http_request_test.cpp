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
  CHECK(target_path("/a/b?x=1") == "/a/b");
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
