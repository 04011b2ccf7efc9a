#pragma once
// MQTT ingress: the gateway as a client of a real broker (Paho MQTT C++). It subscribes to the
// app's topic filters, turns every PUBLISH into a request on the mapped chain (through the
// subscription's adapter, straight into a pool buffer), and publishes the chain's result to the
// subscription's reply topic.
//
// Threads: Paho calls on_message on its own receive thread, one message at a time. That thread
// reserves a buffer, runs the adapter and submits; it never waits for the chain. Results come
// back on gateway worker threads (the completion), which publish replies (Paho's publish only
// queues). One thread of ours (`run`) connects and reconnects with backoff, resubscribes, and
// times out requests the chain never answered; idle and connected, it sleeps on a condition
// variable without waking.
//
// Backpressure: when the chain's pool is exhausted, the receive thread waits (up to
// mqtt.backpressure_wait) for a buffer instead of dropping at once; while it waits Paho reads
// nothing more, so the broker holds further messages (QoS 1: unacknowledged, up to its in-flight
// limit). Past the wait the message is dropped and counted.
//
// Bad input (a payload the adapter refuses, a topic longer than the buffer header holds, a chain
// that answers an error) has no reply channel in MQTT: it is counted by reason in /metrics and
// logged (rate-limited) with the reason; its pool buffer is returned at once.

#include "core/app_spec.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace mqtt {
class async_client;
class message;
} // namespace mqtt

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
  };
  enum outcome { ok, rejected, dropped, failed, timed_out, outcome_count };

  void run();
  bool try_connect();
  void on_message(std::shared_ptr<const mqtt::message> msg);
  void count(outcome o, const std::string& topic, const std::string& why);
  void publish_reply(const std::string& topic, std::string body, int qos);

  gateway& gw_;
  const core::mqtt_spec& spec_;
  std::unique_ptr<mqtt::async_client> client_;
  std::thread thread_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool lost_ = true; // not connected: run() (re)connects
  std::map<uint64_t, pending> in_flight_; // by our own message key
  uint64_t next_key_ = 1;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> outcomes_[outcome_count] = {};
  std::atomic<uint64_t> received_{0}, replies_{0}, reply_failures_{0}, connects_{0}, losses_{0};
  std::atomic<int64_t> last_log_s_{0};
  std::atomic<uint64_t> suppressed_{0};
};

} // namespace spry::gateway
