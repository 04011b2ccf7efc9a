#include "gateway/mqtt_client.hpp"

#include "gateway/mqtt_packet.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace spry::gateway {

namespace wire = mqtt_wire;
using clock_type = std::chrono::steady_clock;

namespace {

const char* connack_reason(int rc) {
  switch (rc) {
    case 1: return "unacceptable protocol version (the broker does not speak MQTT 3.1.1)";
    case 2: return "client identifier rejected (mqtt.client_id)";
    case 3: return "server unavailable";
    case 4: return "bad user name or password";
    case 5: return "not authorized (the broker's ACL or allow_anonymous)";
    default: return "refused";
  }
}

/// A TCP connection to host:port within `timeout`, or -1 with the reason.
int connect_tcp(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
                std::string& why) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || !res) {
    why = "cannot resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* a = res; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0)
      continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
        rc = 0;
      else {
        errno = rc == 0 ? ETIMEDOUT : (err ? err : errno);
        rc = -1;
      }
    }
    if (rc == 0)
      break;
    why = std::string("cannot connect: ") + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0)
    return -1;
  // Blocking from here on (writes under the client's mutex with a send timeout; reads only after
  // poll says there is something).
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  // MQTT packets are small writes: under Nagle a PUBACK or a second PUBLISH would wait for the
  // broker's TCP ACK of the previous write, which Linux delays by up to 40 ms.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{2, 0}; // a broker that stops reading: the write fails and the connection is lost
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

} // namespace

mqtt_client::mqtt_client(mqtt_client_options opts, message_handler on_message)
  : opts_(std::move(opts)), on_message_(std::move(on_message)) {
  std::string rest = opts_.broker;
  if (const auto p = rest.find("://"); p != std::string::npos)
    rest = rest.substr(p + 3);
  const auto colon = rest.rfind(':');
  host_ = colon == std::string::npos ? rest : rest.substr(0, colon);
  port_ = colon == std::string::npos ? "1883" : rest.substr(colon + 1);
  if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']')
    host_ = host_.substr(1, host_.size() - 2);
}

mqtt_client::~mqtt_client() { close(false); }

// -- connection ----------------------------------------------------------------------------------

bool mqtt_client::open(const std::vector<std::pair<std::string, int>>& subscriptions,
                       std::string& why) {
  close(false);
  const int fd = connect_tcp(host_, port_, std::chrono::milliseconds(opts_.connect_timeout_ms), why);
  if (fd < 0)
    return false;
  rx_.clear();
  rx_off_ = 0;
  skip_ = 0;
  connack_ = false;
  session_present_ = false;
  suback_wait_ = 0;
  suback_error_.clear();
  ping_outstanding_ = false;
  keepalive_ms_ = opts_.keepalive_ms;
  const auto keepalive_s = static_cast<uint16_t>(std::clamp<uint32_t>(opts_.keepalive_ms / 1000, 1, 65535));
  {
    std::lock_guard<std::mutex> guard{mtx_};
    fd_ = fd;
    ++connection_;
    unacked_.clear(); // the broker resends those of a persistent session itself
    send_quota_ = 65535;
    max_packet_size_ = 0;
    max_qos_ = 1;
    // A non-clean MQTT 5 session needs a Session Expiry Interval: without one it ends with the
    // connection, as a clean one does.
    const uint32_t expiry = opts_.clean_session ? 0 : std::max<uint32_t>(opts_.session_expiry_s, 1);
    if (!send_locked(wire::encode_connect(opts_.client_id, opts_.clean_session, keepalive_s,
                                          opts_.protocol, expiry))) {
      why = "cannot send CONNECT";
      return false;
    }
  }
  const auto deadline = clock_type::now() + std::chrono::milliseconds(opts_.connect_timeout_ms);
  while (!connack_) {
    if (clock_type::now() >= deadline) {
      why = "no CONNACK within " + std::to_string(opts_.connect_timeout_ms) + " ms";
      close(false);
      return false;
    }
    if (!serve(deadline, -1, why)) {
      close(false);
      return false;
    }
  }
  {
    // Replies the broker has not acknowledged yet: again, as duplicates (MQTT 3.1.1 and 5,
    // section 4.4), within the broker's Receive Maximum. MQTT 5 asks for this on a resumed
    // session; on a new one they are sent as well, because the replies are still owed
    // (at-least-once).
    std::lock_guard<std::mutex> guard{mtx_};
    in_flight_out_ = 0;
    for (auto& [id, o] : outgoing_)
      if (o.sent) {
        o.bytes[0] = static_cast<char>(o.bytes[0] | 0x08);
        o.sent = false;
      }
    send_window_locked();
    suback_wait_ = next_packet_id_locked();
    if (!subscriptions.empty() &&
        !send_locked(wire::encode_subscribe(static_cast<uint16_t>(suback_wait_), subscriptions,
                                            opts_.protocol))) {
      why = "cannot send SUBSCRIBE";
      suback_wait_ = 0;
    }
  }
  if (subscriptions.empty())
    suback_wait_ = 0;
  while (suback_wait_ != 0) {
    if (clock_type::now() >= deadline) {
      why = "no SUBACK within " + std::to_string(opts_.connect_timeout_ms) + " ms";
      close(false);
      return false;
    }
    if (!serve(deadline, -1, why)) {
      close(false);
      return false;
    }
  }
  if (!suback_error_.empty()) {
    why = suback_error_;
    close(true);
    return false;
  }
  return true;
}

void mqtt_client::close(bool graceful) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (fd_ < 0)
    return;
  if (graceful)
    send_locked(wire::encode_disconnect());
  ::close(fd_);
  fd_ = -1;
  unacked_.clear();
}

bool mqtt_client::send_locked(std::string_view bytes) {
  if (fd_ < 0)
    return false;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      // The reader sees the connection end and the owner reconnects; the fd stays ours until
      // close() so that no other file can take its number meanwhile.
      ::shutdown(fd_, SHUT_RDWR);
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  last_sent_ = clock_type::now();
  return true;
}

void mqtt_client::send_window_locked() {
  for (const uint16_t id : out_order_) {
    if (in_flight_out_ >= send_quota_)
      return;
    auto& o = outgoing_[id];
    if (o.sent)
      continue;
    if (!send_locked(o.bytes))
      return; // the next open() sends it
    o.sent = true;
    ++in_flight_out_;
  }
}

uint16_t mqtt_client::next_packet_id_locked() {
  for (int tries = 0; tries < 65536; ++tries) {
    last_packet_id_ = static_cast<uint16_t>(last_packet_id_ + 1);
    if (last_packet_id_ != 0 && outgoing_.count(last_packet_id_) == 0)
      return last_packet_id_;
  }
  return 0; // cannot happen: outgoing_ is capped far below 65535
}

// -- reading -------------------------------------------------------------------------------------

bool mqtt_client::serve(clock_type::time_point until, int wake_fd, std::string& why) {
  int fd;
  clock_type::time_point last_sent;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    fd = fd_;
    last_sent = last_sent_;
  }
  if (fd < 0) {
    why = "not connected";
    return false;
  }
  // Keepalive: a PINGREQ when we have been quiet for half the interval; no PINGRESP within the
  // interval means the broker (or the path to it) is gone.
  const auto now = clock_type::now();
  const auto keepalive = std::chrono::milliseconds(std::max<uint32_t>(keepalive_ms_, 1000));
  if (ping_outstanding_ && now - ping_sent_ > keepalive) {
    why = "no PINGRESP within the keepalive interval";
    return false;
  }
  if (!ping_outstanding_ && now - last_sent >= keepalive / 2) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!send_locked(wire::encode_pingreq())) {
      why = "cannot send PINGREQ";
      return false;
    }
    ping_outstanding_ = true;
    ping_sent_ = now;
    last_sent = now;
  }
  const auto next_ping = ping_outstanding_ ? ping_sent_ + keepalive : last_sent + keepalive / 2;
  const auto wake = std::min(until, next_ping);
  const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
  pollfd p[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int rc = poll(p, wake_fd >= 0 ? 2 : 1,
                      static_cast<int>(std::clamp<int64_t>(wait_ms + 1, 0, 60000)));
  if (rc < 0 && errno != EINTR) {
    why = std::string("poll: ") + std::strerror(errno);
    return false;
  }
  if (rc <= 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
    return true;
  if (!read_into_buffer(why))
    return false;
  return handle_buffer(why);
}

bool mqtt_client::read_into_buffer(std::string& why) {
  if (rx_off_ > 0 && rx_off_ * 2 >= rx_.size()) {
    rx_.erase(0, rx_off_);
    rx_off_ = 0;
  }
  const size_t old = rx_.size();
  rx_.resize(old + 65536);
  ssize_t n;
  do
    n = ::recv(fd_, rx_.data() + old, 65536, 0);
  while (n < 0 && errno == EINTR);
  rx_.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n == 0) {
    why = "the broker closed the connection";
    return false;
  }
  if (n < 0) {
    why = std::string("recv: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool mqtt_client::handle_buffer(std::string& why) {
  for (;;) {
    std::string_view in(rx_.data() + rx_off_, rx_.size() - rx_off_);
    if (skip_ > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, in.size()));
      rx_off_ += n;
      skip_ -= n;
      if (skip_ > 0)
        return true;
      continue;
    }
    wire::fixed_header h;
    switch (wire::parse_fixed_header(in, h, why)) {
      case wire::parse_status::need_more: return true;
      case wire::parse_status::malformed: why = "malformed packet from the broker: " + why; return false;
      case wire::parse_status::ok: break;
    }
    if (h.type == wire::publish && h.remaining > opts_.max_message_size) {
      // Too large to hold: read its topic and packet id, let the handler count and acknowledge it,
      // and discard the rest as it streams in.
      wire::publish_header ph;
      switch (wire::parse_publish_header(h.flags, h.remaining, in.substr(h.header_size), ph, why,
                                         opts_.protocol)) {
        case wire::parse_status::need_more: return true;
        case wire::parse_status::malformed: why = "malformed PUBLISH from the broker: " + why; return false;
        case wire::parse_status::ok: break;
      }
      mqtt_inbound m;
      m.topic = ph.topic;
      m.qos = ph.qos;
      m.dup = ph.dup;
      m.retain = ph.retain;
      m.oversized = true;
      m.size = h.remaining - ph.size;
      if (ph.qos > 0) {
        std::lock_guard<std::mutex> guard{mtx_};
        unacked_.push_back({ph.packet_id, false});
        m.token = {connection_, ph.packet_id};
      }
      on_message_(m);
      rx_off_ += h.header_size + ph.size;
      skip_ = h.remaining - ph.size;
      continue;
    }
    if (h.type != wire::publish && h.remaining > 65536) {
      why = "packet of type " + std::to_string(h.type) + " with " + std::to_string(h.remaining) +
            " bytes from the broker";
      return false;
    }
    if (in.size() < h.header_size + h.remaining)
      return true;
    const auto body = in.substr(h.header_size, h.remaining);
    if (!handle_packet(h.type, h.flags, body, why))
      return false;
    rx_off_ += h.header_size + h.remaining;
  }
}

bool mqtt_client::handle_packet(uint8_t type, uint8_t flags, std::string_view body, std::string& why) {
  if (!connack_ && type != wire::connack) {
    why = "the broker sent packet type " + std::to_string(type) + " before CONNACK";
    return false;
  }
  const int version = opts_.protocol;
  switch (type) {
    case wire::connack: {
      wire::connack_info c;
      c.props = std::move(props_);
      const bool parsed = !connack_ && wire::parse_connack(body, version, c, why);
      props_ = std::move(c.props);
      if (!parsed) {
        why = connack_ ? "a second CONNACK" : "malformed CONNACK: " + why;
        return false;
      }
      if (version == wire::v5 && c.reason >= 0x80) {
        why = "the broker refused the connection: " +
              wire::describe_reason(c.reason, props_.text_or(wire::reason_string));
        return false;
      }
      if (version != wire::v5 && c.reason != 0) {
        why = std::string("the broker refused the connection: ") + connack_reason(c.reason);
        return false;
      }
      connack_ = true;
      session_present_ = c.session_present;
      if (version == wire::v5) {
        // The broker's limits for this connection (MQTT 5, 3.2.2.3).
        // The broker's Server Keep Alive replaces ours; 0 switches keepalive off, where we keep
        // pinging at our own interval (a PINGREQ is always allowed) to notice a dead path.
        if (const auto* ka = props_.find(wire::server_keep_alive); ka && ka->number > 0)
          keepalive_ms_ = ka->number * 1000;
        std::lock_guard<std::mutex> guard{mtx_};
        send_quota_ = props_.number_or(wire::receive_maximum, 65535);
        max_packet_size_ = props_.number_or(wire::maximum_packet_size, 0);
        max_qos_ = static_cast<int>(props_.number_or(wire::maximum_qos, 1));
      }
      return true;
    }
    case wire::publish: {
      wire::publish_header ph;
      ph.props = std::move(props_);
      const auto st = wire::parse_publish_header(flags, static_cast<uint32_t>(body.size()), body,
                                                 ph, why, version);
      props_ = std::move(ph.props);
      if (st != wire::parse_status::ok) {
        why = "malformed PUBLISH from the broker: " + why;
        return false;
      }
      mqtt_inbound m;
      m.topic = ph.topic;
      m.qos = ph.qos;
      m.dup = ph.dup;
      m.retain = ph.retain;
      m.payload = body.substr(ph.size);
      m.size = static_cast<uint32_t>(m.payload.size());
      if (!ph.property_error.empty()) {
        m.payload = {};
        m.malformed = ph.property_error;
      } else if (version == wire::v5) {
        user_props_.clear();
        for (const auto& p : props_.items)
          if (p.id == wire::user_property)
            user_props_.push_back({p.text, p.value});
        m.content_type = props_.text_or(wire::content_type);
        m.user_properties = user_props_.data();
        m.user_property_count = user_props_.size();
      }
      if (ph.qos > 0) {
        std::lock_guard<std::mutex> guard{mtx_};
        unacked_.push_back({ph.packet_id, false});
        m.token = {connection_, ph.packet_id};
      }
      on_message_(m);
      return true;
    }
    case wire::puback: {
      wire::puback_info a;
      a.props = std::move(props_);
      const bool parsed = wire::parse_puback(body, version, a, why);
      props_ = std::move(a.props);
      if (!parsed) {
        why = "malformed PUBACK: " + why;
        return false;
      }
      std::lock_guard<std::mutex> guard{mtx_};
      if (a.reason >= 0x80) {
        // The broker took the reply and will not deliver it (MQTT 5 only): not ours to resend.
        ++refused_;
        last_refusal_ = wire::describe_reason(a.reason, props_.text_or(wire::reason_string));
      }
      if (auto i = outgoing_.find(a.packet_id); i != outgoing_.end()) {
        if (i->second.sent && in_flight_out_ > 0)
          --in_flight_out_;
        outgoing_.erase(i);
        out_order_.erase(std::find(out_order_.begin(), out_order_.end(), a.packet_id));
      }
      send_window_locked();
      return true;
    }
    case wire::suback: {
      wire::suback_info a;
      a.props = std::move(props_);
      const bool parsed = wire::parse_suback(body, version, a, why);
      props_ = std::move(a.props);
      if (!parsed) {
        why = "malformed SUBACK: " + why;
        return false;
      }
      if (a.packet_id != suback_wait_)
        return true; // not ours to wait for
      for (size_t i = 0; i < a.codes.size(); ++i) {
        const auto code = static_cast<uint8_t>(a.codes[i]);
        if (code >= 0x80)
          suback_error_ =
            "the broker refused subscription " + std::to_string(i + 1) + " of mqtt.subscriptions" +
            (version == wire::v5
               ? ": " + wire::describe_reason(code, props_.text_or(wire::reason_string))
               : std::string(" (its ACL, or a filter it does not support)"));
      }
      suback_wait_ = 0;
      return true;
    }
    case wire::pingresp:
      ping_outstanding_ = false;
      return true;
    case wire::disconnect:
      if (version == wire::v5) {
        wire::disconnect_info d;
        d.props = std::move(props_);
        const bool parsed = wire::parse_disconnect(body, d, why);
        props_ = std::move(d.props);
        if (!parsed) {
          why = "malformed DISCONNECT: " + why;
          return false;
        }
        why = "the broker disconnected: " +
              wire::describe_reason(d.reason, props_.text_or(wire::reason_string));
        return false;
      }
      [[fallthrough]];
    default:
      // PUBREC/PUBREL/PUBCOMP belong to QoS 2, which we never ask for; anything else is for a
      // server to receive.
      why = "unexpected packet type " + std::to_string(type) + " from the broker";
      return false;
  }
}

// -- acknowledgements and publishing -------------------------------------------------------------

void mqtt_client::ack(const mqtt_ack_token& token) {
  if (token.connection == 0)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  if (token.connection != connection_ || fd_ < 0)
    return; // that connection is gone: the broker resends the message
  for (auto& r : unacked_)
    if (r.packet_id == token.packet_id && !r.done) {
      r.done = true;
      break;
    }
  std::string out;
  while (!unacked_.empty() && unacked_.front().done) {
    out += wire::encode_puback(unacked_.front().packet_id);
    unacked_.pop_front();
  }
  if (!out.empty())
    send_locked(out);
}

bool mqtt_client::publish(std::string_view topic, std::string_view payload, int qos,
                          const mqtt_publish_properties* props, std::string* why) {
  auto fail = [&](std::string reason) {
    if (why)
      *why = std::move(reason);
    return false;
  };
  std::string properties;
  if (opts_.protocol == wire::v5 && props) {
    if (!wire::fits_property_string(props->content_type))
      return fail("the content type is longer than 65535 bytes");
    if (!props->content_type.empty())
      wire::put_property_string(properties, wire::content_type, props->content_type);
    for (const auto& [name, value] : props->user_properties) {
      if (!wire::fits_property_string(name) || !wire::fits_property_string(value))
        return fail("user property '" + name.substr(0, 64) + "' is longer than 65535 bytes");
      wire::put_user_property(properties, name, value);
    }
  }
  std::lock_guard<std::mutex> guard{mtx_};
  if (qos > max_qos_)
    qos = max_qos_; // the broker takes no more (MQTT 5 Maximum QoS)
  if (qos == 0) {
    const auto bytes = wire::encode_publish(topic, payload, 0, 0, false, false, opts_.protocol,
                                            properties);
    if (max_packet_size_ != 0 && bytes.size() > max_packet_size_)
      return fail("the reply is " + std::to_string(bytes.size()) +
                  " bytes, more than the broker's Maximum Packet Size (" +
                  std::to_string(max_packet_size_) + ")");
    return send_locked(bytes) || fail("not connected");
  }
  if (outgoing_.size() >= opts_.max_pending_publishes)
    return fail("too many replies wait for the broker");
  const uint16_t id = next_packet_id_locked();
  auto bytes = wire::encode_publish(topic, payload, 1, id, false, false, opts_.protocol, properties);
  if (max_packet_size_ != 0 && bytes.size() > max_packet_size_)
    return fail("the reply is " + std::to_string(bytes.size()) +
                " bytes, more than the broker's Maximum Packet Size (" +
                std::to_string(max_packet_size_) + ")");
  outgoing_[id] = outgoing{std::move(bytes), false};
  out_order_.push_back(id);
  send_window_locked(); // if it cannot go now, the next PUBACK or open() sends it
  return true;
}

uint32_t mqtt_client::broker_receive_maximum() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return send_quota_;
}

uint32_t mqtt_client::broker_maximum_packet_size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return max_packet_size_;
}

uint64_t mqtt_client::publishes_refused() const noexcept {
  std::lock_guard<std::mutex> guard{mtx_};
  return refused_;
}

std::string mqtt_client::last_refusal() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return last_refusal_;
}

} // namespace spry::gateway
