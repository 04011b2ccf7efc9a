#pragma once
// Protocol adapters: the gateway's hook point between a protocol message (an HTTP request, an
// MQTT PUBLISH) and the chain. An adapter turns the message into what a chain runs on (topic,
// content type, payload written into the request's pool buffer) and turns the chain's result
// back into the protocol's answer (HTTP response headers and body, an MQTT reply).
//
// Adapters are shared libraries named in the app file under `adapters:` and loaded, replaced and
// unloaded while the gateway serves (POST/DELETE /admin/adapters, `spry adapter`). A library
// defines its adapters with SPRY_ADAPTER_LIBRARY:
//
//   SPRY_ADAPTER_LIBRARY(registry) {
//     registry.add("cloudevents", [] { return std::make_unique<my_adapter>(); });
//   }
//
// which exports spry_adapter_abi_version() and spry_register_adapters(). The loader checks the
// ABI version before calling anything else: the interface passes C++ objects (std::string,
// std::vector) across the library boundary, which is only sound when both sides were built
// against the same layout, so any change to the structs below bumps SPRY_ADAPTER_ABI.
//
// Contract of every method:
// - called concurrently from several threads (HTTP I/O threads, the MQTT client's callback
//   thread, gateway workers): an adapter must be thread-safe; the stock ones are stateless;
// - must not block (it runs on the threads that serve every other request);
// - must not throw: errors are reported in the output struct (`error`), and the gateway treats an
//   escaping exception as a rejection with its text.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// Bumped whenever adapter, adapter_request, adapter_ingress, adapter_reply or adapter_registry
/// change layout or meaning.
#define SPRY_ADAPTER_ABI 3u

namespace spry::core {

/// One piece of protocol metadata as received: an HTTP header (name lower-case) or an MQTT 5
/// User Property (name as sent: MQTT names are case-sensitive and may repeat).
struct adapter_header {
  std::string_view name;
  std::string_view value;
};

/// A protocol message as the gateway received it. Every view stays valid for the call only.
struct adapter_request {
  std::string_view protocol;     ///< "http" or "mqtt"
  /// MQTT: the protocol level spoken with the broker, 4 (3.1.1) or 5; HTTP: 0. Only with 5 do
  /// PUBLISHes (and replies) carry a content type and user properties.
  uint8_t protocol_version = 0;
  std::string_view topic;        ///< HTTP: the path below the chain's prefix; MQTT: PUBLISH topic
  /// HTTP: the Content-Type header. MQTT 5: the PUBLISH's Content Type property. MQTT 3.1.1
  /// carries none: the subscription's `content_mode: structured` is passed as
  /// application/cloudevents+json, else empty.
  std::string_view content_type;
  /// MQTT: the subscription's `content_mode` ("", "structured" or "binary"); HTTP: empty.
  std::string_view content_mode;
  std::string_view origin;       ///< where it came from: "mqtt://host:port", "http"
  /// HTTP: the request headers; MQTT 5: the PUBLISH's User Properties in the order sent; MQTT
  /// 3.1.1: none. Not available to egress() (the message is gone by then).
  const adapter_header* headers = nullptr;
  size_t header_count = 0;
  std::string_view payload;      ///< never aliases adapter_ingress::data
  uint64_t request_id = 0;       ///< unique per gateway; a default event id
  uint64_t now_unix_ms = 0;      ///< arrival time (wall clock), a default event time
  /// MQTT: the broker may have delivered this message before (DUP: its earlier delivery was not
  /// acknowledged because the chain did not finish, e.g. the gateway was killed). Functions that
  /// must not act twice key on the event id, which is equal on every delivery for MQTT.
  bool redelivered = false;

  std::string_view header(std::string_view lower_case_name) const noexcept {
    for (size_t i = 0; i < header_count; ++i)
      if (headers[i].name == lower_case_name)
        return headers[i].value;
    return {};
  }
};

/// What an adapter makes of a request. The gateway pre-fills topic and content_type with the
/// request's own; the adapter writes the chain's input payload into data[0, capacity).
struct adapter_ingress {
  char* data = nullptr;   ///< the pool buffer's payload area
  uint32_t capacity = 0;
  uint32_t length = 0;    ///< bytes written into data
  std::string topic;      ///< the chain's first topic (routes branch on it)
  std::string content_type;
  /// Non-empty: the message is refused with this reason (HTTP 400; MQTT: counted and logged).
  std::string error;
  /// Opaque to the gateway, handed back to egress(): e.g. which CloudEvents mode to answer in.
  uint32_t reply_mode = 0;
};

/// A chain's result on its way back, which egress() may rewrite in place.
struct adapter_reply {
  uint16_t status = 200;
  std::string content_type;
  std::string body;
  std::string topic; ///< the topic the chain's last function set (MQTT replies may use it)
  /// HTTP: extra response headers. MQTT 5: the reply PUBLISH's User Properties (and
  /// content_type its Content Type property); MQTT 3.1.1 has room for neither.
  std::vector<std::pair<std::string, std::string>> headers;
};

class adapter {
public:
  virtual ~adapter() = default;
  /// Request in, chain input out (see adapter_ingress).
  virtual void ingress(const adapter_request& in, adapter_ingress& out) noexcept = 0;
  /// Chain result out. `in` is the original request (its payload view is empty by then);
  /// `reply_mode` is what ingress() set. Called for successes and errors alike.
  virtual void egress(const adapter_request& in, uint32_t reply_mode,
                      adapter_reply& reply) noexcept = 0;
};

using adapter_factory = std::function<std::unique_ptr<adapter>()>;

/// What a library's SPRY_ADAPTER_LIBRARY body fills in.
class adapter_registry {
public:
  void add(std::string name, adapter_factory make) {
    entries_.emplace_back(std::move(name), std::move(make));
  }
  const std::vector<std::pair<std::string, adapter_factory>>& entries() const { return entries_; }

private:
  std::vector<std::pair<std::string, adapter_factory>> entries_;
};

} // namespace spry::core

#define SPRY_ADAPTER_LIBRARY(registry_var)                                                       \
  static void spry_register_adapters_impl(::spry::core::adapter_registry&);                      \
  extern "C" __attribute__((visibility("default"))) uint32_t spry_adapter_abi_version() {         \
    return SPRY_ADAPTER_ABI;                                                                     \
  }                                                                                              \
  extern "C" __attribute__((visibility("default"))) void spry_register_adapters(                 \
    ::spry::core::adapter_registry* r) {                                                         \
    spry_register_adapters_impl(*r);                                                             \
  }                                                                                              \
  static void spry_register_adapters_impl(::spry::core::adapter_registry& registry_var)
