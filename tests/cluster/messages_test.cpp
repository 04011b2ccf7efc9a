#include "cluster/link_frame.hpp"
#include "cluster/link_result.hpp"
#include "cluster/messages.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace spry::cluster;

TEST_CASE("a well-formed hello passes and malformed ones say what is wrong", "[cluster]") {
  node_hello h;
  h.version = "0.1.0";
  h.app_digest = "0123456789abcdef";
  h.name = "edge-a";
  h.cpu_capacity = 2;
  h.memory_mb = 1024;
  h.data_address = "10.0.0.1:7000";
  h.http_address = "10.0.0.1:8080";
  CHECK(validate(h, 2).empty());
  auto bad = h;
  bad.name = "edge\na";
  CHECK(validate(bad, 2).find("name") != std::string::npos);
  bad = h;
  bad.cpu_capacity = std::nan("");
  CHECK(validate(bad, 2).find("cpu") != std::string::npos);
  bad = h;
  bad.running = {1, 2, 3};
  CHECK(validate(bad, 2).find("3 entries") != std::string::npos);
  bad = h;
  bad.data_address.clear();
  CHECK(!validate(bad, 2).empty());
}

TEST_CASE("assignments, directories and reports must match the app", "[cluster]") {
  node_assignment a;
  a.epoch = 1;
  a.instances = {1, 0};
  CHECK(validate(a, 2).empty());
  a.instances = {1};
  CHECK(validate(a, 2).find("1 functions") != std::string::npos);
  a.instances = {1, 100000};
  CHECK(!validate(a, 2).empty());

  cluster_view v;
  v.nodes.resize(2);
  v.ready = {{1, 0}, {0, 1}};
  v.placed = v.ready;
  CHECK(validate(v, 2).empty());
  v.ready[1] = {1};
  CHECK(validate(v, 2).find("columns") != std::string::npos);
  v.ready.pop_back();
  CHECK(!validate(v, 2).empty());

  node_report r;
  r.functions.resize(2);
  r.ready = r.starting = r.held = {0, 0};
  CHECK(validate(r, 2).empty());
  r.functions[1].arrival_rate = -1;
  CHECK(!validate(r, 2).empty());
  r.functions[1].arrival_rate = 0;
  r.held.pop_back();
  CHECK(!validate(r, 2).empty());
}

TEST_CASE("results round-trip over the link and garbage is refused with a reason", "[cluster]") {
  spry::gateway::chain_result r;
  r.http_status = 201;
  r.content_type = "application/json";
  r.body = std::string("{\"x\":1}\0tail", 12);
  r.retry_after_s = 3;
  r.topic = "orders/new";
  r.headers = {{"ce-id", "42"}, {"x-a", ""}};
  auto back = decode_result(encode_result(r));
  REQUIRE(back);
  CHECK(back->http_status == 201);
  CHECK(back->content_type == r.content_type);
  CHECK(back->body == r.body);
  CHECK(back->retry_after_s == 3);
  CHECK(back->topic == r.topic);
  CHECK(back->headers == r.headers);

  CHECK(!decode_result(""));
  CHECK(!decode_result("\x93\x01\x02\x03"));
  r.http_status = 42;
  CHECK(decode_result(encode_result(r)).err().message.find("out of range") != std::string::npos);
  // A frame that declares a huge array is refused before anything is allocated.
  CHECK(!decode_result(std::string("\xdd\xff\xff\xff\xff", 5)));
  const std::string whole = encode_result(spry::gateway::chain_result{});
  for (size_t cut = 0; cut < whole.size(); ++cut)
    CHECK(!decode_result(whole.substr(0, cut)));
}
