#pragma once
// MQTT ingress: the gateway as a client of a real broker (its own MQTT 3.1.1 or 5 client, see
// mqtt_client.hpp). It subscribes to the app's topic filters, turns every PUBLISH into a request
// on the mapped chain (through the subscription's adapter, straight into a pool buffer), and
// publishes the chain's result to the subscription's reply topic.
//
// Threads: one thread of ours (`run`) connects and reconnects with backoff, resubscribes, reads
// the socket and calls on_message for each PUBLISH, one at a time: it reserves a buffer, runs the
// adapter and submits; it never waits for the chain. Results come back on gateway worker threads
// (the completion), which publish replies and acknowledge. The same thread times out requests the
// chain never answered; idle and connected, it sleeps in poll() until a packet, a deadline, a
// keepalive ping or stop().
//
// At-least-once: a QoS 1 message is acknowledged to the broker only when it is done for good:
// its chain answered (2xx or an error), it timed out, or it was refused or dropped. A message
// whose chain is cut off (gateway killed or stopped, connection lost) is not acknowledged, so a
// persistent session (mqtt.persistent_session, default on with QoS 1) gets it again, with DUP set:
// adapters see that as adapter_request::redelivered and the CloudEvents they make carry an id
// derived from the message, equal on every delivery.
//
// Backpressure: when the chain's pool is exhausted, the client thread waits (up to
// mqtt.backpressure_wait) for a buffer instead of dropping at once; while it waits nothing more
// is read, so the broker holds further messages (QoS 1: unacknowledged ones count against its
// max_inflight_messages). Past the wait the message is dropped, counted and acknowledged.
//
// Adapters: the subscription's adapter turns the payload into the chain's input and, for the
// reply, the chain's result into the reply payload, in the mode its ingress chose (reply_mode:
// the `cloudevents` adapter answers a structured CloudEvent with one). MQTT 3.1.1 has no content
// type, so a subscription's `content_mode: structured` reaches the adapter as the content type
// application/cloudevents+json. A result the adapter cannot turn into a reply (status >= 400
// from egress) is not published: the message counts as failed.
//
// Bad input (a payload the adapter refuses, a message larger than mqtt.max_message_size, a chain
// that answers an error) has no reply channel in MQTT: it is counted by reason in /metrics, logged
// (rate-limited) with the reason and acknowledged so the broker does not send it again; its pool
// buffer is returned at once.

#include "core/adapter.hpp"
#include "core/app_spec.hpp"
#include "gateway/mqtt_client.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace spry::gateway {

class gateway;

class mqtt_ingress {
public:
  /// Nothing connects before start(). `spec` must outlive this object.
  mqtt_ingress(gateway& gw, const core::mqtt_spec& spec);
  ~mqtt_ingress();
  mqtt_ingress(const mqtt_ingress&) = delete;
  mqtt_ingress& operator=(const mqtt_ingress&) = delete;

  /// Starts connecting in the background (the broker may come up later). Never blocks.
  void start();
  /// Disconnects and gives up on requests still in flight (their buffers come back to the pool
  /// when the chain lets go). Idempotent.
  void stop();

  bool connected() const noexcept { return connected_.load(); }
  /// Prometheus text: messages by outcome, connection state and (re)connects.
  std::string metrics_text() const;

private:
  struct pending {
    uint64_t request_id = 0;
    uint32_t chain = 0;
    uint32_t slot = 0;
    bool submitted = false;
    std::chrono::steady_clock::time_point deadline;
    mqtt_ack_token token;
  };
  enum outcome { ok, rejected, dropped, failed, timed_out, outcome_count };

  void run();
  bool try_connect();
  void wake();
  void on_message(const mqtt_inbound& msg);
  void count(outcome o, std::string_view topic, const std::string& why);
  void publish_reply(const std::string& topic, std::string body, int qos,
                     const mqtt_publish_properties& props);

  gateway& gw_;
  const core::mqtt_spec& spec_;
  std::unique_ptr<mqtt_client> client_;
  std::vector<core::adapter_header> headers_; // client thread only: one message's user properties
  int wake_fd_ = -1; // eventfd: stop() and new deadlines wake run() out of poll()
  std::thread thread_;
  mutable std::mutex mtx_;
  bool stopping_ = false;
  std::map<uint64_t, pending> in_flight_; // by our own message key
  uint64_t next_key_ = 1;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> outcomes_[outcome_count] = {};
  std::atomic<uint64_t> received_{0}, replies_{0}, reply_failures_{0}, connects_{0}, losses_{0},
    redelivered_{0}, oversized_{0}, sessions_resumed_{0};
  std::atomic<int64_t> last_log_s_{0};
  std::atomic<uint64_t> suppressed_{0};
};

} // namespace spry::gateway
