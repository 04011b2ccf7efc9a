#pragma once
// The gateway's MQTT client, 3.1.1 or 5 (mqtt_client_options::protocol): one TCP connection to
// the broker (TCP_NODELAY), a persistent or clean session, subscriptions, QoS 0/1 PUBLISH in both
// directions, keepalive, and QoS 1 acknowledgements that the application gives when it is done
// with a message (see mqtt_packet.hpp for why this is not Paho).
//
// MQTT 5: the session is Clean Start + Session Expiry Interval (a persistent one outlives the
// connection by session_expiry_s); PUBLISH properties reach the handler (Content Type, User
// Properties) and replies can carry them; the broker's CONNACK limits are honoured: Receive
// Maximum (at most that many QoS 1 replies unacknowledged at once, the rest wait in order),
// Maximum Packet Size (a larger reply is refused by publish(), not sent to be disconnected for),
// Maximum QoS (a QoS 1 reply goes out at QoS 0 if the broker takes no more) and Server Keep
// Alive. Reason codes and reason strings of CONNACK, SUBACK, PUBACK and DISCONNECT end up in the
// errors `why` reports.
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

#include "gateway/mqtt_properties.hpp"

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
  int protocol = 4;   ///< 4: MQTT 3.1.1, 5: MQTT 5
  /// 3.1.1: Clean Session; MQTT 5: Clean Start, and a non-clean session is kept by the broker for
  /// session_expiry_s after the connection ends (0xffffffff: for ever); a clean one ends with it.
  bool clean_session = true;
  uint32_t session_expiry_s = 3600;
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

/// An MQTT 5 User Property (views valid during the handler call only).
struct mqtt_user_property {
  std::string_view name;
  std::string_view value;
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
  // MQTT 5 (empty with 3.1.1):
  std::string_view content_type;                   ///< the Content Type property
  const mqtt_user_property* user_properties = nullptr; ///< in the order sent
  size_t user_property_count = 0;
  /// Non-empty: the PUBLISH's properties were not acceptable (why); its payload and properties
  /// are not passed on. The handler refuses it (and acknowledges it so it does not come back).
  std::string_view malformed;
};

/// What an MQTT 5 reply carries besides topic and payload (ignored with 3.1.1).
struct mqtt_publish_properties {
  std::string content_type;                                      ///< "" = none
  std::vector<std::pair<std::string, std::string>> user_properties; ///< in this order
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
  /// Publishes (QoS 0 or 1). False when it cannot be sent now or later, with the reason in `why`
  /// when given: QoS 0 while disconnected, too many QoS 1 messages waiting for the broker, a
  /// packet larger than the broker's Maximum Packet Size (MQTT 5), or a property string longer
  /// than 65535 bytes. `props` only counts with MQTT 5. Thread-safe.
  bool publish(std::string_view topic, std::string_view payload, int qos,
               const mqtt_publish_properties* props = nullptr, std::string* why = nullptr);

  /// QoS 1 replies the broker answered with a failure reason code in its PUBACK (MQTT 5: e.g.
  /// 0x87 not authorized); the last reason in `last_refusal` (thread-safe copy).
  uint64_t publishes_refused() const noexcept;
  std::string last_refusal() const;
  int protocol() const noexcept { return opts_.protocol; }
  /// MQTT 5: the limits the broker gave in its last CONNACK (Receive Maximum, 65535 when it
  /// gave none; Maximum Packet Size, 0 = none). Thread-safe.
  uint32_t broker_receive_maximum() const;
  uint32_t broker_maximum_packet_size() const;

private:
  bool send_locked(std::string_view bytes);
  bool read_into_buffer(std::string& why);
  /// Parses and handles complete packets in rx_. False on a protocol error.
  bool handle_buffer(std::string& why);
  bool handle_packet(uint8_t type, uint8_t flags, std::string_view body, std::string& why);
  uint16_t next_packet_id_locked();
  /// Sends queued QoS 1 replies while fewer than the broker's Receive Maximum are unacknowledged.
  void send_window_locked();

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
  uint32_t keepalive_ms_ = 0;               // ours, or the broker's Server Keep Alive (MQTT 5)
  mqtt_wire::property_list props_;          // reused for every packet read
  std::vector<mqtt_user_property> user_props_;

  // Guarded by mtx_: the socket's write side, acknowledgements, replies awaiting PUBACK.
  mutable std::mutex mtx_;
  int fd_ = -1;
  uint64_t connection_ = 0; // counts open()s; tokens carry it
  struct received {
    uint16_t packet_id;
    bool done;
  };
  std::deque<received> unacked_;
  // QoS 1 replies by packet id, until PUBACK; `sent`: on the wire on this connection. They leave
  // in publish order (out_order_), at most send_quota_ unacknowledged at once.
  struct outgoing {
    std::string bytes;
    bool sent = false;
  };
  std::map<uint16_t, outgoing> outgoing_;
  std::deque<uint16_t> out_order_;
  size_t in_flight_out_ = 0;
  uint32_t send_quota_ = 65535;          // the broker's Receive Maximum (MQTT 5)
  uint32_t max_packet_size_ = 0;         // the broker's Maximum Packet Size; 0 = no limit
  int max_qos_ = 1;                      // the broker's Maximum QoS
  uint64_t refused_ = 0;
  std::string last_refusal_;
  uint16_t last_packet_id_ = 0;
};

} // namespace spry::gateway
