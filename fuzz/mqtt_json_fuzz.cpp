// The MQTT ingress's payload handling: which subscription a PUBLISH topic matches and the reply
// topic its template expands to (gateway/mqtt_topic.hpp), and the mqtt-json adapter
// (adapters/mqtt-json) turning the payload into a structured CloudEvent in a pool buffer.
//
// Input: byte 0 picks the buffer capacity; a line with the subscription filter, a line with the
// PUBLISH topic, a line with the reply template, and the rest is the payload.
#include "adapters/cloudevents/cloudevent.hpp"
#include "fuzz/adapter_harness.hpp"
#include "fuzz/fuzz_input.hpp"
#include "gateway/mqtt_topic.hpp"

namespace ce = spry::adapters::cloudevents;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spry::fuzz::fuzz_input in(data, size);
  const uint32_t capacity = uint32_t{in.byte()} * 16;
  const std::string_view filter = in.line();
  const std::string_view topic = in.line();
  const std::string_view reply_template = in.line();
  const std::string_view payload = in.rest();

  (void)spry::gateway::mqtt_topic_matches(filter, topic);
  if (!spry::gateway::mqtt_topic_matches("#", topic) && (topic.empty() || topic.front() != '$')) {
    fprintf(stderr, "invariant broken: '#' does not match a topic without '$'\n");
    abort();
  }
  if (!topic.empty() && !spry::gateway::mqtt_topic_matches(topic, topic) &&
      topic.find_first_of("+#") == std::string_view::npos) {
    fprintf(stderr, "invariant broken: a topic does not match itself as a filter\n");
    abort();
  }
  (void)spry::gateway::mqtt_reply_topic(reply_template, topic, "result/topic");

  spry::core::adapter_request req;
  req.protocol = "mqtt";
  req.topic = topic;
  req.origin = "mqtt://127.0.0.1:1883";
  req.payload = payload;
  req.request_id = 7;
  req.now_unix_ms = 1700000000123;
  spry::core::adapter_ingress out;
  out.topic = std::string(topic);
  const std::string chain_input = spry::fuzz::run_ingress(req, capacity, out);
  if (out.error.empty()) {
    std::string why;
    if (!ce::parse_structured(chain_input, why)) {
      fprintf(stderr, "invariant broken: the adapter wrote an invalid event: %s\n", why.c_str());
      abort();
    }
  }
  return 0;
}
