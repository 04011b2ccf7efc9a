// The cloudevents adapter (adapters/cloudevents): HTTP binary mode (ce-* headers + body), HTTP
// structured mode (application/cloudevents+json), MQTT payloads (structured or wrapped), and
// the reply through egress() in the mode the request came in.
//
// Input: byte 0 bit 0 = MQTT (else HTTP); byte 1 picks the buffer capacity; byte 2 the reply
// status; then a line with the Content-Type (HTTP) or topic (MQTT), header lines "name: value"
// up to an empty line, and the rest is the body / payload.
#include "adapters/cloudevents/cloudevent.hpp"
#include "fuzz/adapter_harness.hpp"
#include "fuzz/fuzz_input.hpp"

#include <algorithm>
#include <cctype>

namespace ce = spry::adapters::cloudevents;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spry::fuzz::fuzz_input in(data, size);
  const bool mqtt = in.byte() & 1;
  const uint32_t capacity = uint32_t{in.byte()} * 16;
  const uint8_t status_pick = in.byte();
  const std::string_view first = in.line();
  std::vector<std::string> names;
  std::vector<std::string_view> values;
  for (std::string_view h = in.line(); !h.empty() && names.size() < 32; h = in.line()) {
    const auto colon = h.find(':');
    std::string n(h.substr(0, colon));
    // The gateway lower-cases names (gateway/http_request.hpp: lower_case_names).
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto v = colon == std::string_view::npos ? std::string_view() : h.substr(colon + 1);
    while (!v.empty() && v.front() == ' ')
      v.remove_prefix(1);
    names.push_back(std::move(n));
    values.push_back(v);
  }
  std::vector<spry::core::adapter_header> headers;
  for (size_t i = 0; i < names.size(); ++i)
    headers.push_back({names[i], values[i]});

  spry::core::adapter_request req;
  req.protocol = mqtt ? "mqtt" : "http";
  req.topic = mqtt ? first : std::string_view("orders/new");
  req.content_type = mqtt ? std::string_view() : first;
  req.origin = mqtt ? "mqtt://127.0.0.1:1883" : "http";
  req.headers = mqtt ? nullptr : headers.data();
  req.header_count = mqtt ? 0 : headers.size();
  req.payload = in.rest();
  req.request_id = 42;
  req.now_unix_ms = 1700000000123;

  spry::core::adapter_ingress out;
  out.topic = std::string(req.topic);
  out.content_type = std::string(req.content_type);
  const std::string chain_input = spry::fuzz::run_ingress(req, capacity, out);
  if (out.error.empty()) {
    // What functions get is a structured event: it must parse back and be valid.
    std::string why;
    auto e = ce::parse_structured(chain_input, why);
    if (!e) {
      fprintf(stderr, "invariant broken: the adapter wrote an invalid event: %s\n", why.c_str());
      abort();
    }
  }

  // The reply: the chain's answer (its input echoed, or the raw payload) through egress().
  static const uint16_t statuses[] = {200, 201, 202, 204, 400, 404, 500, 502};
  spry::core::adapter_reply reply;
  reply.status = statuses[status_pick % 8];
  reply.content_type = out.error.empty() ? out.content_type : std::string(first);
  reply.body = out.error.empty() ? chain_input : std::string(in.rest());
  reply.topic = (status_pick & 8) ? "done" : "";
  req.payload = {}; // egress sees the request without its payload (adapter.hpp)
  spry::fuzz::library_adapter().egress(req, out.reply_mode ^ ((status_pick >> 4) & 3), reply);
  return 0;
}
