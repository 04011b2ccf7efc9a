// Adapters without a running gateway: the loader (ABI check, broken libraries, replacement with
// snapshots), the stock CloudEvents and mqtt-json adapters, and MQTT topic filters.
#include "gateway/adapter_set.hpp"
#include "gateway/mqtt_topic.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

using spry::gateway::adapter_set;
using nlohmann::json;

namespace {

struct run_result {
  spry::core::adapter_ingress out;
  std::string payload;
};

run_result ingress(const spry::gateway::adapter_ref& a, std::string protocol, std::string topic,
                   std::string content_type, std::string payload,
                   std::vector<spry::core::adapter_header> headers = {}) {
  static char buf[4096];
  spry::core::adapter_request in;
  in.protocol = protocol;
  in.topic = topic;
  in.content_type = content_type;
  in.origin = protocol == "mqtt" ? "tcp://127.0.0.1:1883" : "http";
  in.headers = headers.data();
  in.header_count = headers.size();
  in.payload = payload;
  in.request_id = 42;
  in.now_unix_ms = 1700000000123;
  run_result r;
  r.out.data = buf;
  r.out.capacity = sizeof buf;
  r.out.topic = topic;
  r.out.content_type = content_type;
  a->impl->ingress(in, r.out);
  r.payload.assign(buf, r.out.length);
  return r;
}

} // namespace

TEST_CASE("adapter libraries: loaded by name and ABI checked and broken ones refused",
          "[gateway][adapters]") {
  adapter_set set;
  auto ce = set.load("cloudevents", SPRY_CLOUDEVENTS_ADAPTER);
  REQUIRE(ce);
  CHECK((*ce)->generation == 1);
  CHECK(set.get("cloudevents") == *ce);

  auto bad_abi = set.load("cloudevents", SPRY_BAD_ABI_ADAPTER);
  REQUIRE_FALSE(bad_abi);
  CHECK_THAT(bad_abi.err().message, Catch::Contains("adapter ABI") && Catch::Contains("rebuild"));
  auto not_adapter = set.load("cloudevents", SPRY_HELLO_LIBRARY);
  REQUIRE_FALSE(not_adapter);
  CHECK_THAT(not_adapter.err().message, Catch::Contains("does not export spry_adapter_abi_version"));
  auto missing = set.load("cloudevents", "/nonexistent/libnothing.so");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.err().message, Catch::Contains("cannot load adapter library"));
  auto wrong_name = set.load("nosuch", SPRY_CLOUDEVENTS_ADAPTER);
  REQUIRE_FALSE(wrong_name);
  CHECK_THAT(wrong_name.err().message, Catch::Contains("no adapter named 'nosuch'") &&
                                         Catch::Contains("cloudevents"));
  // Every refusal left the serving adapter in place.
  CHECK(set.get("cloudevents") == *ce);
  CHECK_THAT(set.metrics_text(), Catch::Contains("spry_adapter_load_failures_total 4"));

  // Replacing: new requests get the new one; a request holding the old snapshot still runs on it.
  auto old = set.get("cloudevents");
  auto again = set.load("cloudevents", SPRY_CLOUDEVENTS_ADAPTER);
  REQUIRE(again);
  CHECK((*again)->generation == 2);
  CHECK(set.get("cloudevents") != old);
  auto r = ingress(old, "mqtt", "a/b", "", "{\"x\":1}");
  CHECK(r.out.error.empty());
  CHECK(set.unload("cloudevents"));
  CHECK_FALSE(set.get("cloudevents"));
  CHECK_FALSE(set.unload("cloudevents"));
  r = ingress(old, "mqtt", "a/b", "", "{\"x\":1}"); // still mapped: `old` holds the library
  CHECK(r.out.error.empty());
}

TEST_CASE("cloudevents adapter: HTTP binary and structured modes in and out", "[gateway][adapters]") {
  adapter_set set;
  auto ce = *set.load("cloudevents", SPRY_CLOUDEVENTS_ADAPTER);

  SECTION("binary mode becomes a structured event for the functions") {
    auto r = ingress(ce, "http", "x", "application/json", "{\"temp\": 21}",
                     {{"ce-specversion", "1.0"}, {"ce-id", "e1"}, {"ce-source", "/thermo"},
                      {"ce-type", "reading"}, {"ce-subject", "kitchen"}});
    REQUIRE(r.out.error.empty());
    CHECK(r.out.content_type == "application/cloudevents+json");
    const auto e = json::parse(r.payload);
    CHECK(e["id"] == "e1");
    CHECK(e["source"] == "/thermo");
    CHECK(e["subject"] == "kitchen");
    CHECK(e["datacontenttype"] == "application/json");
    CHECK(e["data"]["temp"] == 21);

    // The reply goes out in binary mode too: attributes as ce-* headers, data as the body.
    spry::core::adapter_request in;
    in.protocol = "http";
    in.request_id = 7;
    spry::core::adapter_reply reply;
    reply.content_type = "application/json";
    reply.body = "{\"ok\":true}";
    ce->impl->egress(in, r.out.reply_mode, reply);
    CHECK(reply.body == "{\"ok\":true}");
    bool has_id = false, has_spec = false;
    for (auto& [k, v] : reply.headers) {
      has_id = has_id || (k == "ce-id" && v == "7-reply");
      has_spec = has_spec || (k == "ce-specversion" && v == "1.0");
    }
    CHECK(has_id);
    CHECK(has_spec);
  }
  SECTION("structured mode in and out") {
    auto r = ingress(ce, "http", "", "application/cloudevents+json; charset=utf-8",
                     R"({"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}})");
    REQUIRE(r.out.error.empty());
    spry::core::adapter_request in;
    in.protocol = "http";
    spry::core::adapter_reply reply;
    reply.content_type = "text/plain";
    reply.body = "hello";
    ce->impl->egress(in, r.out.reply_mode, reply);
    CHECK(reply.content_type == "application/cloudevents+json");
    const auto e = json::parse(reply.body);
    CHECK(e["data"] == "hello");
    CHECK(e["specversion"] == "1.0");
  }
  SECTION("binary mode header values are percent-decoded in and encoded out") {
    // CloudEvents HTTP binding 3.1.3.2: space, '"', '%' and non-ASCII travel as %XX (UTF-8).
    auto r = ingress(ce, "http", "x", "text/plain", "hi",
                     {{"ce-specversion", "1.0"}, {"ce-id", "e%201"}, {"ce-source", "/k%C3%BCche"},
                      {"ce-type", "t"}, {"ce-subject", "100%25%20%22sure%22"}});
    REQUIRE(r.out.error.empty());
    const auto e = json::parse(r.payload);
    CHECK(e["id"] == "e 1");
    CHECK(e["source"] == "/k\xc3\xbc" "che");
    CHECK(e["subject"] == "100% \"sure\"");

    spry::core::adapter_request in;
    in.protocol = "http";
    spry::core::adapter_reply reply;
    reply.content_type = "application/cloudevents+json";
    reply.body = R"({"specversion":"1.0","id":"a b","source":"/k\u00fcche","type":"t","subject":"50%","data":"x"})";
    ce->impl->egress(in, r.out.reply_mode, reply);
    std::map<std::string, std::string> h(reply.headers.begin(), reply.headers.end());
    CHECK(h["ce-id"] == "a%20b");
    CHECK(h["ce-source"] == "/k%C3%BCche");
    CHECK(h["ce-subject"] == "50%25");

    for (const char* bad : {"50%", "%2", "%zz", "%C3", "%C0%AF", "%ED%A0%80", "%F5%80%80%80"}) {
      auto b = ingress(ce, "http", "x", "text/plain", "hi",
                       {{"ce-specversion", "1.0"}, {"ce-id", bad}, {"ce-source", "s"}, {"ce-type", "t"}});
      INFO(bad);
      CHECK_THAT(b.out.error, Catch::Contains("header ce-id: bad percent-encoding"));
    }
  }
  SECTION("invalid events are refused with the reason") {
    auto no_id = ingress(ce, "http", "", "text/plain", "x",
                         {{"ce-specversion", "1.0"}, {"ce-source", "s"}, {"ce-type", "t"}});
    CHECK_THAT(no_id.out.error, Catch::Contains("missing required attribute 'id'") &&
                                  Catch::Contains("ce-id"));
    auto bad_version = ingress(ce, "http", "", "text/plain", "x",
                               {{"ce-specversion", "0.3"}, {"ce-id", "1"}, {"ce-source", "s"}, {"ce-type", "t"}});
    CHECK_THAT(bad_version.out.error, Catch::Contains("unsupported specversion"));
    auto bad_json = ingress(ce, "http", "", "application/cloudevents+json", "{\"specversion\":");
    CHECK_THAT(bad_json.out.error, Catch::Contains("not valid JSON"));
    auto no_type = ingress(ce, "http", "", "application/cloudevents+json",
                           R"({"specversion":"1.0","id":"1","source":"s"})");
    CHECK_THAT(no_type.out.error, Catch::Contains("missing required attribute 'type'"));
    auto bad_data = ingress(ce, "http", "", "application/json", "{oops",
                            {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "s"}, {"ce-type", "t"}});
    CHECK_THAT(bad_data.out.error, Catch::Contains("data is not valid JSON"));
    auto plain = ingress(ce, "http", "", "text/plain", "hello");
    CHECK_THAT(plain.out.error, Catch::Contains("not a CloudEvent"));
  }
}

TEST_CASE("MQTT payloads reach functions as CloudEvents and malformed ones are refused",
          "[gateway][adapters]") {
  adapter_set set;
  auto mj = *set.load("mqtt-json", SPRY_MQTT_JSON_ADAPTER);
  auto r = ingress(mj, "mqtt", "sensors/kitchen/motion", "",
                   R"({"sensor": 3, "ts": 1700000000000, "state": "on"})");
  REQUIRE(r.out.error.empty());
  CHECK(r.out.topic == "sensors/kitchen/motion");
  const auto e = json::parse(r.payload);
  CHECK(e["specversion"] == "1.0");
  CHECK(e["subject"] == "sensors/kitchen/motion");
  CHECK(e["source"] == "tcp://127.0.0.1:1883");
  CHECK(e["time"] == "2023-11-14T22:13:20.123Z");
  CHECK_FALSE(e["id"].get<std::string>().empty());
  CHECK(e["data"]["state"] == "on");

  CHECK_THAT(ingress(mj, "mqtt", "t", "", "not json").out.error, Catch::Contains("not valid JSON"));
  CHECK_THAT(ingress(mj, "mqtt", "t", "", "[1,2]").out.error,
             Catch::Contains("must be a JSON object, got a JSON array"));
  CHECK_THAT(ingress(mj, "mqtt", "t", "", "").out.error, Catch::Contains("empty payload"));

  // The cloudevents adapter on MQTT: structured events pass (subject defaults to the topic),
  // anything else is wrapped.
  auto ce = *set.load("cloudevents", SPRY_CLOUDEVENTS_ADAPTER);
  auto s = ingress(ce, "mqtt", "a/b", "", R"({"specversion":"1.0","id":"9","source":"d","type":"t"})");
  REQUIRE(s.out.error.empty());
  CHECK(json::parse(s.payload)["subject"] == "a/b");
  auto w = ingress(ce, "mqtt", "a/b", "", "plain text");
  REQUIRE(w.out.error.empty());
  CHECK(json::parse(w.payload)["data"] == "plain text");
  CHECK_THAT(ingress(ce, "mqtt", "a/b", "", R"({"specversion":"1.0","id":"9"})").out.error,
             Catch::Contains("missing required attribute 'source'"));
}

namespace {

spry::core::adapter_reply egress(const spry::gateway::adapter_ref& a, std::string content_type,
                                 uint32_t reply_mode, std::string body, std::string ct) {
  spry::core::adapter_request in;
  in.protocol = "mqtt";
  in.topic = "sensors/kitchen/motion";
  in.content_type = content_type;
  in.origin = "tcp://127.0.0.1:1883";
  in.request_id = 42;
  in.now_unix_ms = 1700000000123;
  spry::core::adapter_reply reply;
  reply.content_type = std::move(ct);
  reply.body = std::move(body);
  reply.topic = "lights/kitchen";
  a->impl->egress(in, reply_mode, reply);
  return reply;
}

} // namespace

TEST_CASE("cloudevents adapter on MQTT: a structured event in, a structured event out",
          "[gateway][adapters]") {
  adapter_set set;
  auto ce = *set.load("cloudevents", SPRY_CLOUDEVENTS_ADAPTER);
  const std::string event =
    R"({"specversion":"1.0","id":"e1","source":"dev/7","type":"motion","data":{"state":"on"}})";
  auto s = ingress(ce, "mqtt", "sensors/kitchen/motion", "", event);
  REQUIRE(s.out.error.empty());
  CHECK(json::parse(s.payload)["id"] == "e1");
  CHECK(json::parse(s.payload)["subject"] == "sensors/kitchen/motion");

  // The chain's plain JSON result goes back as a structured event whose data it is.
  auto r = egress(ce, "", s.out.reply_mode, R"({"light":"on"})", "application/json");
  CHECK(r.status == 200);
  const auto e = json::parse(r.body);
  CHECK(e["specversion"] == "1.0");
  CHECK(e["subject"] == "lights/kitchen");
  CHECK(e["datacontenttype"] == "application/json");
  CHECK(e["data"]["light"] == "on");
  CHECK(e["type"] == "org.spry.chain.result");
  CHECK(r.content_type == "application/cloudevents+json");
  // A chain that answers a structured event has it validated and passed on as it is ...
  r = egress(ce, "", s.out.reply_mode, event, "application/cloudevents+json");
  CHECK(r.status == 200);
  CHECK(json::parse(r.body)["id"] == "e1");
  // ... and one that answers an invalid event gets no reply published (502 with the reason).
  r = egress(ce, "", s.out.reply_mode, R"({"specversion":"1.0","id":"x"})",
             "application/cloudevents+json");
  CHECK(r.status == 502);
  CHECK_THAT(r.body, Catch::Contains("invalid CloudEvent") && Catch::Contains("'source'"));

  // A payload that is not an event is wrapped, and its result goes out as the chain made it.
  auto w = ingress(ce, "mqtt", "sensors/kitchen/motion", "", R"({"state":"on"})");
  REQUIRE(w.out.error.empty());
  r = egress(ce, "", w.out.reply_mode, R"({"light":"on"})", "application/json");
  CHECK(r.body == R"({"light":"on"})");

  // content_mode: structured (passed as the content type MQTT 3.1.1 lacks): every payload must be
  // an event, and every reply is one.
  const std::string declared = "application/cloudevents+json";
  CHECK_THAT(ingress(ce, "mqtt", "a/b", declared, R"({"state":"on"})").out.error,
             Catch::Contains("missing required attribute 'specversion'") &&
               Catch::Contains("content_mode: structured"));
  CHECK_THAT(ingress(ce, "mqtt", "a/b", declared, "not json").out.error,
             Catch::Contains("not valid JSON"));
  auto d = ingress(ce, "mqtt", "a/b", declared, event);
  REQUIRE(d.out.error.empty());
  CHECK(json::parse(egress(ce, declared, d.out.reply_mode, "done", "text/plain").body)["data"] ==
        "done");
}

namespace {

/// An MQTT 5 PUBLISH through an adapter: content type and user properties as the gateway passes
/// them (adapter_request::headers), the subscription's content_mode.
run_result ingress5(const spry::gateway::adapter_ref& a, std::string topic, std::string content_type,
                    std::string content_mode, std::string payload,
                    std::vector<spry::core::adapter_header> user) {
  static char buf[4096];
  spry::core::adapter_request in;
  in.protocol = "mqtt";
  in.protocol_version = 5;
  in.topic = topic;
  in.content_type = content_type;
  in.content_mode = content_mode;
  in.origin = "tcp://127.0.0.1:1883";
  in.headers = user.data();
  in.header_count = user.size();
  in.payload = payload;
  in.request_id = 42;
  in.now_unix_ms = 1700000000123;
  run_result r;
  r.out.data = buf;
  r.out.capacity = sizeof buf;
  r.out.topic = topic;
  a->impl->ingress(in, r.out);
  r.payload.assign(buf, r.out.length);
  return r;
}

} // namespace

TEST_CASE("cloudevents adapter on MQTT 5: binary mode in user properties, out the same way",
          "[gateway][adapters]") {
  adapter_set set;
  auto ce = *set.load("cloudevents", SPRY_CLOUDEVENTS_ADAPTER);
  const std::vector<spry::core::adapter_header> attrs = {
    {"specversion", "1.0"}, {"id", "e1"}, {"source", "dev/7"}, {"type", "motion"},
    {"traceparent", "00-1-2-01"}, {"Not-An-Attribute", "x"}};
  // Declared binary, and detected by the specversion user property without a content_mode.
  for (const std::string mode : {"binary", ""}) {
    auto r = ingress5(ce, "sensors/kitchen/motion", "application/json", mode, R"({"state":"on"})", attrs);
    INFO("content_mode '" << mode << "'");
    REQUIRE(r.out.error.empty());
    const auto e = json::parse(r.payload);
    CHECK(e["id"] == "e1");
    CHECK(e["source"] == "dev/7");
    CHECK(e["traceparent"] == "00-1-2-01");
    CHECK_FALSE(e.contains("Not-An-Attribute"));
    CHECK(e["datacontenttype"] == "application/json");
    CHECK(e["data"]["state"] == "on");
    CHECK(e["subject"] == "sensors/kitchen/motion"); // defaults to the topic
    CHECK(r.out.content_type == "application/cloudevents+json");

    // The reply in binary mode: attributes as user properties (no prefix, no percent-encoding),
    // datacontenttype as the content type, the data as the body.
    spry::core::adapter_request in;
    in.protocol = "mqtt";
    in.protocol_version = 5;
    in.topic = "sensors/kitchen/motion";
    in.request_id = 42;
    in.now_unix_ms = 1700000000123;
    spry::core::adapter_reply reply;
    reply.content_type = "application/cloudevents+json";
    reply.body = R"({"specversion":"1.0","id":"r1","source":"spry","type":"light",)"
                 R"("subject":"lights/k üche","datacontenttype":"application/json","data":{"light":"on"}})";
    ce->impl->egress(in, r.out.reply_mode, reply);
    CHECK(reply.status == 200);
    CHECK(reply.content_type == "application/json");
    CHECK(json::parse(reply.body)["light"] == "on");
    std::map<std::string, std::string> props(reply.headers.begin(), reply.headers.end());
    CHECK(props["specversion"] == "1.0");
    CHECK(props["id"] == "r1");
    CHECK(props["subject"] == "lights/k üche");
    CHECK(props.count("datacontenttype") == 0);
    CHECK(props.count("ce-id") == 0);
  }
  // A Content Type that says application/cloudevents is structured mode (binding section 3).
  const std::string event =
    R"({"specversion":"1.0","id":"s1","source":"d","type":"t","data":{"state":"off"}})";
  auto s = ingress5(ce, "a/b", "application/cloudevents+json; charset=utf-8", "binary", event, {});
  REQUIRE(s.out.error.empty());
  CHECK(json::parse(s.payload)["id"] == "s1");

  // Refusals, with the reason and the user property to fix.
  auto missing_id = attrs;
  missing_id.erase(missing_id.begin() + 1);
  CHECK_THAT(ingress5(ce, "a/b", "application/json", "binary", "{}", missing_id).out.error,
             Catch::Contains("missing required attribute 'id'") && Catch::Contains("(user property id)"));
  CHECK_THAT(ingress5(ce, "a/b", "application/json", "binary", "{}", {}).out.error,
             Catch::Contains("missing required attribute 'specversion'") &&
               Catch::Contains("content_mode: binary"));
  auto twice = attrs;
  twice.push_back({"id", "e2"});
  CHECK_THAT(ingress5(ce, "a/b", "application/json", "binary", "{}", twice).out.error,
             Catch::Contains("user property 'id' appears more than once"));
  CHECK_THAT(ingress5(ce, "a/b", "application/json", "", "not json", attrs).out.error,
             Catch::Contains("not valid JSON"));
  // Without a content_mode and without specversion: wrapped, as with MQTT 3.1.1.
  auto w = ingress5(ce, "sensors/kitchen/motion", "", "", R"({"state":"on"})", {{"k", "v"}});
  REQUIRE(w.out.error.empty());
  CHECK(json::parse(w.payload)["type"] == "org.spry.mqtt.publish");
  // Binary data without a content type stays opaque (data_base64).
  auto b = ingress5(ce, "a/b", "", "binary", std::string("\xff\x00", 2), attrs);
  REQUIRE(b.out.error.empty());
  CHECK(json::parse(b.payload)["data_base64"] == "/wA=");
}

TEST_CASE("MQTT topic filters and reply topics", "[gateway][mqtt]") {
  using spry::gateway::mqtt_reply_topic;
  using spry::gateway::mqtt_topic_matches;
  CHECK(mqtt_topic_matches("sensors/+/motion", "sensors/kitchen/motion"));
  CHECK_FALSE(mqtt_topic_matches("sensors/+/motion", "sensors/kitchen/door"));
  CHECK_FALSE(mqtt_topic_matches("sensors/+/motion", "sensors/a/b/motion"));
  CHECK(mqtt_topic_matches("sensors/#", "sensors"));
  CHECK(mqtt_topic_matches("sensors/#", "sensors/a/b"));
  CHECK(mqtt_topic_matches("#", "anything/at/all"));
  CHECK_FALSE(mqtt_topic_matches("#", "$SYS/broker"));
  CHECK(mqtt_topic_matches("a/b", "a/b"));
  CHECK_FALSE(mqtt_topic_matches("a/b", "a/b/c"));
  CHECK(mqtt_topic_matches("+/+", "/x")); // an empty first level is a level
  CHECK(mqtt_reply_topic("lights/{2}", "sensors/kitchen/motion", "") == "lights/kitchen");
  CHECK(mqtt_reply_topic("{topic}", "sensors/kitchen/motion", "lights/kitchen") == "lights/kitchen");
  CHECK(mqtt_reply_topic("x/{9}/y", "a", "") == "x//y");
}
