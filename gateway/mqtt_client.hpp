#pragma once
// The gateway's MQTT 3.1.1 client: one TCP connection to the broker (TCP_NODELAY), a persistent
// or clean session, subscriptions, QoS 0/1 PUBLISH in both directions, keepalive, and QoS 1
// acknowledgements that the application gives when it is done with a message (see
// mqtt_packet.hpp for why this is not Paho).
//
// Threads: open(), serve() and close() are called by one thread, the owner's (the MQTT ingress's
// run thread); message handlers run on it, inside serve(). ack() and publish() may be called from
// any thread at any time, also while no connection is open.
//
// Acknowledgements: every QoS 1 PUBLISH gets an ack_token; ack(token) marks it done, and PUBACKs
// leave in the order the PUBLISHes arrived (MQTT 3.1.1 section 4.6 asks this of a client), so a
// message done early waits for the ones received before it. A token of an earlier connection is
// ignored: the broker resends what that connection did not acknowledge (with DUP set) when the
// session is persistent, which is how a message whose chain was cut off by a lost connection or a
// killed gateway is processed again.
//
// Replies (publish()): QoS 1 ones are kept until the broker's PUBACK and sent again (DUP) after a
// reconnect; published while disconnected they wait for the next connection (at most
// `max_pending_publishes`, past that publish() fails).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spry::gateway {

struct mqtt_client_options {
  std::string broker; ///< tcp://HOST:PORT or mqtt://HOST:PORT
  std::string client_id;
  bool clean_session = true;
  uint32_t keepalive_ms = 10000;
  /// A PUBLISH whose remaining length is larger is skipped on the socket without being held in
  /// memory; the handler sees it with `oversized` set and an empty payload.
  uint32_t max_message_size = 1u << 20;
  uint32_t connect_timeout_ms = 3000;
  size_t max_pending_publishes = 4096;
};

/// Identifies one received QoS 1 PUBLISH for ack(); QoS 0 tokens are empty (ack is a no-op).
struct mqtt_ack_token {
  uint64_t connection = 0; ///< 0: nothing to acknowledge
  uint16_t packet_id = 0;
};

struct mqtt_inbound {
  std::string_view topic;   ///< valid during the handler call only
  std::string_view payload; ///< valid during the handler call only; empty when oversized
  int qos = 0;
  bool dup = false;         ///< the broker says it may have sent this message before
  bool retain = false;
  bool oversized = false;   ///< larger than max_message_size; payload not read
  uint32_t size = 0;        ///< the payload's size as sent
  mqtt_ack_token token;
};

class mqtt_client {
public:
  using message_handler = std::function<void(const mqtt_inbound&)>;

  mqtt_client(mqtt_client_options opts, message_handler on_message);
  ~mqtt_client();
  mqtt_client(const mqtt_client&) = delete;
  mqtt_client& operator=(const mqtt_client&) = delete;

  /// Connects, sends CONNECT and the subscriptions (filter, QoS) and returns once the broker has
  /// acknowledged them (messages that arrive meanwhile go to the handler). On failure returns
  /// false with the reason in `why`; the connection is closed again.
  bool open(const std::vector<std::pair<std::string, int>>& subscriptions, std::string& why);
  /// True when the broker said it had a session for this client id (last open()).
  bool session_present() const noexcept { return session_present_; }
  bool is_open() const noexcept { return fd_ >= 0; }

  /// Waits for input until `until` (or until `wake_fd` is readable: the caller drains it), reads
  /// what arrived, runs the handler for each PUBLISH, sends keepalive pings. Returns false when
  /// the connection is gone (the reason in `why`); call close() and open() again.
  bool serve(std::chrono::steady_clock::time_point until, int wake_fd, std::string& why);

  /// Sends DISCONNECT when `graceful`, then closes. Unacknowledged messages stay with the broker.
  void close(bool graceful);

  /// Marks a QoS 1 message done; PUBACKs go out in arrival order. Thread-safe.
  void ack(const mqtt_ack_token& token);
  /// Publishes (QoS 0 or 1). False when it cannot be sent now or later (QoS 0 while
  /// disconnected, or too many QoS 1 messages waiting for the broker). Thread-safe.
  bool publish(std::string_view topic, std::string_view payload, int qos);

private:
  bool send_locked(std::string_view bytes);
  bool read_into_buffer(std::string& why);
  /// Parses and handles complete packets in rx_. False on a protocol error.
  bool handle_buffer(std::string& why);
  bool handle_packet(uint8_t type, uint8_t flags, std::string_view body, std::string& why);
  uint16_t next_packet_id_locked();

  mqtt_client_options opts_;
  message_handler on_message_;
  std::string host_, port_;

  // Owner thread only.
  std::string rx_;
  size_t rx_off_ = 0;
  uint64_t skip_ = 0; // bytes of an oversized PUBLISH still to discard
  bool session_present_ = false;
  bool connack_ = false;
  int suback_wait_ = 0; // SUBSCRIBE packet id awaited; 0 = none
  std::string suback_error_;
  std::chrono::steady_clock::time_point last_sent_, ping_sent_;
  bool ping_outstanding_ = false;

  // Guarded by mtx_: the socket's write side, acknowledgements, replies awaiting PUBACK.
  mutable std::mutex mtx_;
  int fd_ = -1;
  uint64_t connection_ = 0; // counts open()s; tokens carry it
  struct received {
    uint16_t packet_id;
    bool done;
  };
  std::deque<received> unacked_;
  std::map<uint16_t, std::string> outgoing_; // QoS 1 replies by packet id, until PUBACK
  uint16_t last_packet_id_ = 0;
};

} // namespace spry::gateway
