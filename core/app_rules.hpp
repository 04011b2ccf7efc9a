#pragma once
// The rules each key of an app obeys, whichever way the app was written: the app file's reader
// (config.cpp) applies them as it reads a key, so its error points at that key's line; the C++
// builder (app.hpp) writes the app_spec directly, so validate() applies the very same rules to
// the whole spec when the app is compiled (compile() calls it first, for both). One rule, one
// message: a mistake reads the same from the file ("app.yaml:9:7: chains[0].pool.buffers: must be
// at least 1") and from C++ ("chains[0].pool.buffers: must be at least 1").
//
// Each rule returns what is wrong as "PATH: what", PATH as in the app file ("chains[0].pool"),
// or an empty string when the value is fine. Pure functions: no I/O, any thread.

#include "core/app_spec.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <string>

namespace spry::core::rules {

/// A count the file reads as a whole number up to `max`: "PATH: V is too large (at most MAX)".
std::string at_most(uint64_t v, uint64_t max, const std::string& path);
/// A size up to `max` bytes: "PATH: V is too large (at most MAX bytes)".
std::string size_at_most(uint64_t bytes, uint64_t max, const std::string& path);
/// A duration (`timeout`, `interval`, ...): 1 ms or more.
std::string duration(uint32_t ms, const std::string& path);
/// `gateway.io_threads`: at least 1.
std::string io_threads(unsigned n, const std::string& path);
/// `chains[i].http.method`: GET, POST, PUT, PATCH or DELETE.
std::string http_method(const std::string& method, const std::string& path);
/// `chains[i].http.path`: starts with '/'.
std::string http_path(const std::string& p, const std::string& path);
/// `chains[i].pool.buffers`: at least 1.
std::string pool_buffers(uint32_t n, const std::string& path);
/// `chains[i].pool.buffer_size`: at least 1 byte.
std::string pool_buffer_size(uint32_t n, const std::string& path);
/// A number the file reads within [lo, hi]: "PATH: V is outside [lo, hi]".
std::string in_range(double v, double lo, double hi, const std::string& path);
/// The words of in_range for a value as written (the YAML walker keeps the file's text).
std::string outside(const std::string& value, double lo, double hi, const std::string& path);
/// `nodes[i].instance_cpu_limit`: 0 (no limit, what leaving it out means) or [0.01, 1024] cores.
std::string instance_cpu_limit(double cores, const std::string& path);
/// `instances.start`: exec or fork.
std::string instances_start(const std::string& start, const std::string& path);
/// `mqtt.broker`: tcp://HOST:PORT (or mqtt://).
std::string mqtt_broker(const std::string& broker, const std::string& path);
/// `mqtt.client_id`: 1 to 65535 bytes.
std::string mqtt_client_id(const std::string& id, const std::string& path);
/// `mqtt.share_group`: a non-empty name without '/', '+' or '#'.
std::string mqtt_share_group(const std::string& group, const std::string& path);
/// `mqtt.reconnect_min` / `reconnect_max`: max at least min (path: "mqtt").
std::string mqtt_reconnect(uint32_t min_ms, uint32_t max_ms, const std::string& path);
/// `mqtt.max_message_size`: at least 1 byte.
std::string mqtt_max_message_size(uint32_t bytes, const std::string& path);
/// A QoS (`qos`, `reply_qos`): 0 or 1 (2 is not supported).
std::string mqtt_qos(int qos, const std::string& path);
/// `mqtt.subscriptions[i].filter`: non-empty, '#' only as the last level.
std::string mqtt_filter(const std::string& filter, const std::string& path);
/// `mqtt.subscriptions[i].content_mode` (path ends in .content_mode): "" or structured (binary
/// needs MQTT 5), and only with an adapter.
std::string mqtt_content_mode(const std::string& mode, const std::string& adapter,
                              const std::string& path);

} // namespace spry::core::rules

namespace spry::core {

/// Every rule above applied to the whole app, in the order the file reader meets the keys; the
/// error carries the element's location (file:line for YAML, none for C++) and the rule's
/// message. Called by compile(), so `spry check`, `spry run` and a C++ app's run all apply it.
status_or_error validate(const app_spec& app);

} // namespace spry::core
