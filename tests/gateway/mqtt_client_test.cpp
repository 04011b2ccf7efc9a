// The gateway's MQTT client (gateway/mqtt_client.hpp) against a scripted MQTT 5 broker on a
// loopback socket: the broker's Receive Maximum holds back QoS 1 replies until PUBACKs make room,
// in publish order; its Maximum Packet Size refuses a larger reply with the reason; a CONNACK
// refusal and a broker DISCONNECT come back with their reason codes and reason strings.
// Loopback TCP puts what send() wrote into the peer's receive queue before send() returns, so
// "what has the broker got now" is read without waiting.
#include "gateway/mqtt_client.hpp"
#include "gateway/mqtt_packet.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace spry::gateway;
namespace wire = spry::gateway::mqtt_wire;

namespace {

/// A listening socket on a free loopback port, and the one connection it accepts.
class scripted_broker {
public:
  scripted_broker() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(listen_fd_, 1) == 0);
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~scripted_broker() {
    if (fd_ >= 0)
      close(fd_);
    close(listen_fd_);
  }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  /// Accepts, reads the CONNECT and answers `connack` (the whole packet). Run on its own thread
  /// while the client's open() waits for the CONNACK.
  void accept_and_answer(const std::string& connack) {
    fd_ = accept(listen_fd_, nullptr, nullptr);
    if (fd_ < 0)
      return;
    packets(true); // the CONNECT
    send_bytes(connack);
  }
  /// The complete packets received so far (blocking for the first when `wait`).
  std::vector<std::string> packets(bool wait = false) {
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof buf, wait && rx_.empty() ? 0 : MSG_DONTWAIT);
      if (n <= 0)
        break;
      rx_.append(buf, static_cast<size_t>(n));
      wait = false;
    }
    std::vector<std::string> out;
    for (;;) {
      wire::fixed_header h;
      std::string why;
      if (wire::parse_fixed_header(rx_, h, why) != wire::parse_status::ok ||
          rx_.size() < h.header_size + h.remaining)
        break;
      out.push_back(rx_.substr(0, h.header_size + h.remaining));
      rx_.erase(0, h.header_size + h.remaining);
    }
    return out;
  }
  void send_bytes(const std::string& b) { REQUIRE(send(fd_, b.data(), b.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(b.size())); }

private:
  int listen_fd_ = -1, fd_ = -1;
  uint16_t port_ = 0;
  std::string rx_;
};

std::string connack5(const std::string& props, uint8_t reason = 0) {
  std::string body{static_cast<char>(0), static_cast<char>(reason)};
  wire::put_properties(body, props);
  return wire::frame(wire::connack << 4, body);
}

/// The payload of a QoS 1 MQTT 5 PUBLISH, and its packet id.
std::string payload_of(const std::string& packet, uint16_t& id) {
  wire::fixed_header h;
  std::string why;
  REQUIRE(wire::parse_fixed_header(packet, h, why) == wire::parse_status::ok);
  REQUIRE(h.type == wire::publish);
  wire::publish_header ph;
  const auto body = std::string_view(packet).substr(h.header_size);
  REQUIRE(wire::parse_publish_header(h.flags, h.remaining, body, ph, why, wire::v5) ==
          wire::parse_status::ok);
  id = ph.packet_id;
  return std::string(body.substr(ph.size));
}

mqtt_client_options v5_options(const scripted_broker& b) {
  mqtt_client_options o;
  o.broker = b.uri();
  o.client_id = "t";
  o.protocol = 5;
  o.clean_session = false;
  return o;
}

} // namespace

TEST_CASE("MQTT 5 client: QoS 1 replies wait for room under the broker's Receive Maximum",
          "[gateway][mqtt]") {
  scripted_broker broker;
  mqtt_client client(v5_options(broker), [](const mqtt_inbound&) {});
  std::string props;
  wire::put_property_u16(props, wire::receive_maximum, 2);
  std::thread t([&] { broker.accept_and_answer(connack5(props)); });
  std::string why;
  const bool opened = client.open({}, why);
  t.join();
  REQUIRE(opened);
  CHECK(client.broker_receive_maximum() == 2);

  for (const char* p : {"a", "b", "c", "d"})
    REQUIRE(client.publish("r", p, 1));
  // Two on the wire, two waiting.
  auto got = broker.packets(true);
  REQUIRE(got.size() == 2);
  uint16_t id_a = 0, id_b = 0, id = 0;
  CHECK(payload_of(got[0], id_a) == "a");
  CHECK(payload_of(got[1], id_b) == "b");
  // One PUBACK makes room for one more, in publish order.
  broker.send_bytes(wire::encode_puback(id_b));
  REQUIRE(client.serve(std::chrono::steady_clock::now() + std::chrono::seconds(5), -1, why));
  got = broker.packets(true);
  REQUIRE(got.size() == 1);
  CHECK(payload_of(got[0], id) == "c");
  // A PUBACK with a failure reason code also frees the slot, and is counted as a refusal.
  std::string refused = wire::encode_puback(id_a);
  refused[1] = 3;
  refused += static_cast<char>(0x87);
  broker.send_bytes(refused);
  REQUIRE(client.serve(std::chrono::steady_clock::now() + std::chrono::seconds(5), -1, why));
  got = broker.packets(true);
  REQUIRE(got.size() == 1);
  CHECK(payload_of(got[0], id) == "d");
  CHECK(client.publishes_refused() == 1);
  CHECK_THAT(client.last_refusal(), Catch::Contains("0x87 not authorized"));
  CHECK(broker.packets().empty());
}

TEST_CASE("MQTT 5 client: a reply larger than the broker's Maximum Packet Size is refused",
          "[gateway][mqtt]") {
  scripted_broker broker;
  mqtt_client client(v5_options(broker), [](const mqtt_inbound&) {});
  std::string props;
  wire::put_property_u32(props, wire::maximum_packet_size, 64);
  std::thread t([&] { broker.accept_and_answer(connack5(props)); });
  std::string why;
  const bool opened = client.open({}, why);
  t.join();
  REQUIRE(opened);
  std::string reason;
  CHECK_FALSE(client.publish("r", std::string(100, 'x'), 1, nullptr, &reason));
  CHECK_THAT(reason, Catch::Contains("Maximum Packet Size (64)"));
  mqtt_publish_properties p;
  p.content_type = "text/plain";
  p.user_properties = {{"k", "v"}};
  CHECK(client.publish("r", "small", 1, &p, &reason));
  const auto got = broker.packets(true);
  REQUIRE(got.size() == 1);
  wire::fixed_header h;
  REQUIRE(wire::parse_fixed_header(got[0], h, why) == wire::parse_status::ok);
  wire::publish_header ph;
  REQUIRE(wire::parse_publish_header(h.flags, h.remaining, std::string_view(got[0]).substr(h.header_size),
                                     ph, why, wire::v5) == wire::parse_status::ok);
  CHECK(ph.props.text_or(wire::content_type) == "text/plain");
  REQUIRE(ph.props.find(wire::user_property));
  CHECK(ph.props.find(wire::user_property)->value == "v");
}

TEST_CASE("MQTT 5 client: a refused CONNECT and a broker DISCONNECT say the reason", "[gateway][mqtt]") {
  {
    scripted_broker broker;
    mqtt_client client(v5_options(broker), [](const mqtt_inbound&) {});
    std::string props;
    wire::put_property_string(props, wire::reason_string, "no anonymous clients");
    std::thread t([&] { broker.accept_and_answer(connack5(props, 0x87)); });
    std::string why;
    const bool opened = client.open({}, why);
    t.join();
    CHECK_FALSE(opened);
    CHECK_THAT(why, Catch::Contains("refused the connection: 0x87 not authorized") &&
                      Catch::Contains("no anonymous clients"));
  }
  {
    scripted_broker broker;
    mqtt_client client(v5_options(broker), [](const mqtt_inbound&) {});
    std::thread t([&] { broker.accept_and_answer(connack5("")); });
    std::string why;
    const bool opened = client.open({}, why);
    t.join();
    REQUIRE(opened);
    std::string props;
    wire::put_property_string(props, wire::reason_string, "another gateway took client id t");
    std::string body{static_cast<char>(0x8e)};
    wire::put_properties(body, props);
    broker.send_bytes(wire::frame(wire::disconnect << 4, body));
    bool alive = true;
    for (int i = 0; i < 100 && alive; ++i)
      alive = client.serve(std::chrono::steady_clock::now() + std::chrono::milliseconds(100), -1, why);
    CHECK_FALSE(alive);
    CHECK_THAT(why, Catch::Contains("the broker disconnected: 0x8e session taken over") &&
                      Catch::Contains("another gateway took client id t"));
  }
}
