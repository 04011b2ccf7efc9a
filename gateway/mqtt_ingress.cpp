#include "gateway/mqtt_ingress.hpp"

#include "core/runtime.hpp"
#include "gateway/adapter_call.hpp"
#include "gateway/gateway.hpp"
#include "gateway/mqtt_topic.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace spry::gateway {

namespace {

const char* outcome_names[] = {"ok", "rejected", "dropped", "failed", "timeout"};

// MQTT 3.1.1 carries no content type; a subscription with `content_mode: structured` says that
// its payloads are structured CloudEvents, which the adapter sees as this content type. MQTT 5
// messages carry their own (the Content Type property), which wins when present.
std::string_view content_type_of(const core::mqtt_subscription& s, std::string_view sent = {}) {
  if (!sent.empty())
    return sent;
  return s.content_mode == "structured" ? std::string_view("application/cloudevents+json")
                                        : std::string_view();
}

uint64_t unix_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

} // namespace

mqtt_ingress::mqtt_ingress(gateway& gw, const core::mqtt_spec& spec) : gw_(gw), spec_(spec) {
  mqtt_client_options o;
  o.broker = spec_.broker;
  o.client_id = spec_.client_id;
  o.protocol = spec_.protocol;
  o.clean_session = !spec_.persistent_session;
  o.session_expiry_s = spec_.session_expiry_s;
  o.keepalive_ms = spec_.keepalive_ms;
  o.max_message_size = spec_.max_message_size;
  client_ = std::make_unique<mqtt_client>(std::move(o), [this](const mqtt_inbound& m) { on_message(m); });
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

mqtt_ingress::~mqtt_ingress() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void mqtt_ingress::wake() {
  const uint64_t one = 1;
  if (wake_fd_ >= 0 && ::write(wake_fd_, &one, sizeof one) < 0)
    spdlog::debug("mqtt: cannot wake the client thread: {}", std::strerror(errno));
}

void mqtt_ingress::start() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (thread_.joinable() || stopping_)
    return;
  thread_ = std::thread([this] { run(); });
}

void mqtt_ingress::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ && !thread_.joinable())
      return;
    stopping_ = true;
  }
  wake();
  if (thread_.joinable())
    thread_.join();
  connected_ = false;
  // Requests still in flight: give them up so no completion calls into us after this; one that
  // is completing right now removes its entry itself, so wait for those. The connection stays
  // open meanwhile: a completion that has published its reply also sends its PUBACK, so that a
  // gateway stopped right after answering does not get that message again on its next start.
  std::vector<pending> left;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [k, p] : in_flight_)
      if (p.submitted)
        left.push_back(p);
  }
  for (auto& p : left)
    if (gw_.abandon(ticket{static_cast<core::chain_id>(p.chain), p.slot, p.request_id})) {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto i = in_flight_.begin(); i != in_flight_.end(); ++i)
        if (i->second.request_id == p.request_id) {
          in_flight_.erase(i);
          break;
        }
    }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (in_flight_.empty() || std::chrono::steady_clock::now() > deadline)
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // A clean DISCONNECT: what is not acknowledged yet stays with the broker (a persistent session
  // gets it again on the next start).
  client_->close(true);
}

// -- connection ----------------------------------------------------------------------------------

bool mqtt_ingress::try_connect() {
  // Messages are matched against s.filter either way: a shared subscription's PUBLISH carries
  // the real topic. Subscribing again after every connect is harmless with a persistent session
  // (the broker replaces the subscription) and needed without one (or after a broker restart
  // that lost its sessions).
  std::vector<std::pair<std::string, int>> subs;
  for (const auto& s : spec_.subscriptions)
    subs.emplace_back(spec_.share_group.empty() ? s.filter
                                                : "$share/" + spec_.share_group + "/" + s.filter,
                      s.qos);
  std::string why;
  if (!client_->open(subs, why)) {
    spdlog::debug("mqtt: cannot connect to {}: {}", spec_.broker, why);
    return false;
  }
  connected_ = true;
  connects_++;
  if (client_->session_present())
    sessions_resumed_++;
  spdlog::info("mqtt: connected to {} as '{}' (MQTT {}, {} session{}); subscribed to {} filter(s)",
               spec_.broker, spec_.client_id, spec_.protocol == 5 ? "5" : "3.1.1",
               spec_.persistent_session ? "persistent" : "clean",
               client_->session_present() ? ", resumed" : "", spec_.subscriptions.size());
  if (spec_.protocol == 5)
    spdlog::info("mqtt: the broker's limits: receive maximum {}, maximum packet size {}",
                 client_->broker_receive_maximum(),
                 client_->broker_maximum_packet_size() == 0
                   ? std::string("none")
                   : std::to_string(client_->broker_maximum_packet_size()) + " bytes");
  return true;
}

void mqtt_ingress::run() {
  using clock = std::chrono::steady_clock;
  uint32_t backoff_ms = spec_.reconnect_min_ms;
  clock::time_point next_attempt = clock::now();
  bool warned = false;
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stopping_) {
    const auto now = clock::now();
    if (!client_->is_open() && now >= next_attempt) {
      lock.unlock();
      const bool ok = try_connect();
      lock.lock();
      if (ok) {
        backoff_ms = spec_.reconnect_min_ms;
        warned = false;
      } else {
        if (!warned)
          spdlog::warn("mqtt: broker {} not reachable; retrying with backoff up to {} ms",
                       spec_.broker, spec_.reconnect_max_ms);
        warned = true;
        next_attempt = clock::now() + std::chrono::milliseconds(backoff_ms);
        backoff_ms = std::min(backoff_ms * 2, spec_.reconnect_max_ms);
      }
      continue;
    }
    // Requests past their chain's deadline: given up (counted, acknowledged); the buffer returns
    // to the pool when the chain lets go of it.
    std::vector<pending> expired;
    auto wake_at = clock::time_point::max();
    for (auto i = in_flight_.begin(); i != in_flight_.end();) {
      if (i->second.submitted && i->second.deadline <= now) {
        expired.push_back(i->second);
        i = in_flight_.erase(i);
        continue;
      }
      wake_at = std::min(wake_at, i->second.deadline);
      ++i;
    }
    if (!expired.empty()) {
      lock.unlock();
      for (auto& p : expired)
        if (gw_.abandon(ticket{static_cast<core::chain_id>(p.chain), p.slot, p.request_id})) {
          count(timed_out, "", "chain did not answer within " +
                                 std::to_string(gw_.chain_timeout_ms(p.chain)) + " ms");
          client_->ack(p.token);
        }
      lock.lock();
      continue;
    }
    lock.unlock();
    if (client_->is_open()) {
      std::string why;
      if (!client_->serve(std::min(wake_at, now + std::chrono::seconds(60)), wake_fd_, why)) {
        client_->close(false);
        connected_ = false;
        losses_++;
        spdlog::warn("mqtt: connection to {} lost: {}; reconnecting", spec_.broker, why);
        next_attempt = clock::now();
      }
    } else {
      pollfd p{wake_fd_, POLLIN, 0};
      const auto until = std::min(wake_at, next_attempt);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now()).count();
      poll(&p, 1, static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 60000)));
    }
    uint64_t drained;
    while (::read(wake_fd_, &drained, sizeof drained) > 0) {
    }
    lock.lock();
  }
}

// -- messages ------------------------------------------------------------------------------------

void mqtt_ingress::count(outcome o, std::string_view topic, const std::string& why) {
  outcomes_[o]++;
  if (o == ok)
    return;
  // At most one line per second: a misbehaving device must not flood the log.
  const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  int64_t last = last_log_s_.load();
  if (s == last || !last_log_s_.compare_exchange_strong(last, s)) {
    suppressed_++;
    return;
  }
  const uint64_t more = suppressed_.exchange(0);
  spdlog::warn("mqtt: message {} on '{}': {}{}", outcome_names[o], topic, why,
               more ? " (" + std::to_string(more) + " similar line(s) suppressed)" : std::string());
}

void mqtt_ingress::on_message(const mqtt_inbound& msg) {
  received_++;
  if (msg.dup)
    redelivered_++;
  // Every path below that does not start the chain is final for this message: count it and
  // acknowledge it, so that the broker does not send it again forever.
  auto refuse = [&](outcome o, const std::string& why) {
    count(o, msg.topic, why);
    client_->ack(msg.token);
  };
  if (msg.oversized) {
    oversized_++;
    return refuse(rejected, "message of " + std::to_string(msg.size) +
                              " bytes is larger than mqtt.max_message_size (" +
                              std::to_string(spec_.max_message_size) + " bytes); skipped unread");
  }
  if (!msg.malformed.empty())
    return refuse(rejected, "MQTT 5 properties refused: " + std::string(msg.malformed));
  const std::string topic(msg.topic);
  const core::mqtt_subscription* sub = nullptr;
  for (const auto& s : spec_.subscriptions)
    if (mqtt_topic_matches(s.filter, topic)) {
      sub = &s;
      break;
    }
  if (!sub)
    return refuse(dropped, "no subscription matches this topic");
  const auto& chains = gw_.runtime().app().chains;
  const auto it = std::find_if(chains.begin(), chains.end(),
                               [&](const core::chain_spec& c) { return c.name == sub->chain; });
  const auto chain = static_cast<core::chain_id>(it - chains.begin());
  adapter_ref adapter;
  if (!sub->adapter.empty()) {
    adapter = gw_.adapters().get(sub->adapter);
    if (!adapter)
      return refuse(dropped, "adapter '" + sub->adapter + "' is not loaded");
  }

  // A buffer, waiting for one (backpressure) while the pool is exhausted.
  core::buffer_lease lease;
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(spec_.backpressure_wait_ms);
  for (;;) {
    auto r = gw_.reserve(chain);
    if (auto* l = std::get_if<core::buffer_lease>(&r)) {
      lease = std::move(*l);
      break;
    }
    if (std::chrono::steady_clock::now() >= give_up)
      return refuse(dropped, "chain '" + sub->chain + "' has no free buffer (pool exhausted for " +
                               std::to_string(spec_.backpressure_wait_ms) + " ms)");
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }

  const std::string_view payload = msg.payload;
  const uint64_t now_ms = unix_ms();
  uint64_t key;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    key = next_key_++;
  }
  core::adapter_ingress out;
  out.topic = topic;
  uint32_t length = 0;
  if (adapter) {
    // MQTT 5 User Properties as the adapter's headers (views into the packet, valid during
    // this call: ingress runs here, on the client thread).
    headers_.clear();
    for (size_t i = 0; i < msg.user_property_count; ++i)
      headers_.push_back({msg.user_properties[i].name, msg.user_properties[i].value});
    core::adapter_request ar;
    ar.protocol = "mqtt";
    ar.protocol_version = static_cast<uint8_t>(spec_.protocol);
    ar.topic = topic;
    ar.origin = spec_.broker;
    ar.content_type = content_type_of(*sub, msg.content_type);
    ar.content_mode = sub->content_mode;
    ar.headers = headers_.data();
    ar.header_count = headers_.size();
    ar.payload = payload;
    ar.request_id = key;
    ar.now_unix_ms = now_ms;
    ar.redelivered = msg.dup;
    out.data = lease.payload();
    out.capacity = static_cast<uint32_t>(lease.capacity());
    call_ingress(*adapter->impl, ar, out);
    if (!out.error.empty()) {
      gw_.adapters().count_rejected(adapter->name);
      return refuse(rejected, out.error); // the lease returns the buffer
    }
    length = out.length;
  } else {
    if (payload.size() > lease.capacity())
      return refuse(rejected, "payload of " + std::to_string(payload.size()) +
                                " bytes exceeds the chain's buffers (" +
                                std::to_string(lease.capacity()) + " bytes)");
    std::memcpy(lease.payload(), payload.data(), payload.size());
    length = static_cast<uint32_t>(payload.size());
    out.content_type = msg.content_type.empty() ? std::string("application/octet-stream")
                                                : std::string(msg.content_type);
  }

  {
    std::lock_guard<std::mutex> guard{mtx_};
    pending p;
    p.chain = chain;
    p.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(gw_.chain_timeout_ms(chain));
    p.token = msg.token;
    in_flight_[key] = p;
  }
  const mqtt_ack_token token = msg.token;
  const bool redelivered = msg.dup;
  const uint32_t reply_mode = out.reply_mode; // e.g. answer a structured CloudEvent with one
  const std::string in_content_type(content_type_of(*sub, msg.content_type));
  auto done = [this, key, adapter, sub, topic, now_ms, token, redelivered, reply_mode,
               in_content_type](chain_result r) {
    bool answered = r.http_status >= 200 && r.http_status < 300;
    std::string failure; // why a message whose chain answered is not ok after all
    if (answered && !sub->reply_topic.empty()) {
      core::adapter_reply reply;
      reply.status = r.http_status;
      reply.content_type = std::move(r.content_type);
      reply.body = std::move(r.body);
      reply.topic = std::move(r.topic);
      if (adapter) {
        core::adapter_request ar;
        ar.protocol = "mqtt";
        ar.protocol_version = static_cast<uint8_t>(spec_.protocol);
        ar.topic = topic;
        ar.origin = spec_.broker;
        ar.content_type = in_content_type;
        ar.content_mode = sub->content_mode;
        ar.request_id = r.request_id;
        ar.now_unix_ms = now_ms;
        ar.redelivered = redelivered;
        adapter->impl->egress(ar, reply_mode, reply);
      }
      if (adapter && reply.status >= 400) {
        // The adapter could not make a reply of the result (e.g. the chain answered a
        // structured CloudEvent that is not valid): nothing is published, the message failed.
        answered = false;
        failure = "adapter '" + adapter->name + "' refused the reply: " + reply.body;
      } else {
        count(ok, topic, {});
        // The reply before the acknowledgement: a gateway that dies in between sends the
        // reply twice (at-least-once), never the acknowledgement without the reply.
        mqtt_publish_properties props;
        props.content_type = std::move(reply.content_type);
        props.user_properties = std::move(reply.headers);
        publish_reply(mqtt_reply_topic(sub->reply_topic, topic, reply.topic),
                      std::move(reply.body), sub->reply_qos, props);
      }
    } else if (answered) {
      count(ok, topic, {});
    }
    if (!answered) {
      std::string why = failure.empty() ? "chain '" + sub->chain + "' answered " +
                                            std::to_string(r.http_status) + ": " + r.body
                                        : failure;
      while (!why.empty() && why.back() == '\n')
        why.pop_back();
      count(failed, topic, why);
    }
    client_->ack(token);
    // Last: once the entry is gone, stop() may finish and destroy us.
    std::lock_guard<std::mutex> guard{mtx_};
    in_flight_.erase(key);
  };
  auto result = gw_.submit(chain, std::move(lease), length, out.topic, out.content_type, std::move(done));
  bool started = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto* t = std::get_if<ticket>(&result)) {
      started = true;
      auto i = in_flight_.find(key);
      if (i != in_flight_.end()) { // else: answered already
        i->second.request_id = t->request_id;
        i->second.slot = t->slot;
        i->second.submitted = true;
      }
    } else {
      in_flight_.erase(key);
    }
  }
  if (started)
    return;
  auto& r = std::get<chain_result>(result);
  std::string why = r.body;
  while (!why.empty() && why.back() == '\n')
    why.pop_back();
  refuse(r.http_status == 503 ? dropped : failed,
         "not started (" + std::to_string(r.http_status) + "): " + why);
}

void mqtt_ingress::publish_reply(const std::string& topic, std::string body, int qos,
                                 const mqtt_publish_properties& props) {
  std::string why;
  if (client_->publish(topic, body, qos, &props, &why)) {
    replies_++;
    return;
  }
  reply_failures_++;
  spdlog::warn("mqtt: cannot publish the reply to '{}' ({})", topic, why);
}

std::string mqtt_ingress::metrics_text() const {
  std::string t =
    "# HELP spry_mqtt_messages_total MQTT messages received, by outcome (ok: the chain answered "
    "2xx; rejected: the adapter refused the payload; dropped: no buffer, route or adapter; failed: "
    "the chain answered an error; timeout)\n# TYPE spry_mqtt_messages_total counter\n";
  for (int o = 0; o < outcome_count; ++o)
    t += std::string("spry_mqtt_messages_total{result=\"") + outcome_names[o] + "\"} " +
         std::to_string(outcomes_[o].load()) + "\n";
  t += "# HELP spry_mqtt_received_total PUBLISH messages received from the broker\n"
       "# TYPE spry_mqtt_received_total counter\nspry_mqtt_received_total " +
       std::to_string(received_.load()) + "\n";
  t += "# HELP spry_mqtt_replies_total Results published to reply topics\n"
       "# TYPE spry_mqtt_replies_total counter\nspry_mqtt_replies_total " +
       std::to_string(replies_.load()) + "\n";
  t += "# HELP spry_mqtt_reply_failures_total Replies that could not be published\n"
       "# TYPE spry_mqtt_reply_failures_total counter\nspry_mqtt_reply_failures_total " +
       std::to_string(reply_failures_.load()) + "\n";
  t += "# HELP spry_mqtt_replies_refused_total QoS 1 replies the broker refused in its PUBACK "
       "(MQTT 5 reason code >= 0x80)\n"
       "# TYPE spry_mqtt_replies_refused_total counter\nspry_mqtt_replies_refused_total " +
       std::to_string(client_->publishes_refused()) + "\n";
  t += "# HELP spry_mqtt_redelivered_total PUBLISH messages the broker marked as possibly sent "
       "before (DUP: a persistent session's unacknowledged messages after a reconnect)\n"
       "# TYPE spry_mqtt_redelivered_total counter\nspry_mqtt_redelivered_total " +
       std::to_string(redelivered_.load()) + "\n";
  t += "# HELP spry_mqtt_oversized_total Messages larger than mqtt.max_message_size (skipped, "
       "counted as rejected, acknowledged)\n"
       "# TYPE spry_mqtt_oversized_total counter\nspry_mqtt_oversized_total " +
       std::to_string(oversized_.load()) + "\n";
  t += "# HELP spry_mqtt_sessions_resumed_total Connects on which the broker still had this "
       "client's persistent session\n"
       "# TYPE spry_mqtt_sessions_resumed_total counter\nspry_mqtt_sessions_resumed_total " +
       std::to_string(sessions_resumed_.load()) + "\n";
  t += "# HELP spry_mqtt_connected 1 while connected to the broker\n"
       "# TYPE spry_mqtt_connected gauge\nspry_mqtt_connected " +
       std::string(connected_ ? "1" : "0") + "\n";
  t += "# HELP spry_mqtt_connects_total Successful connections (the first and every reconnect)\n"
       "# TYPE spry_mqtt_connects_total counter\nspry_mqtt_connects_total " +
       std::to_string(connects_.load()) + "\n";
  t += "# HELP spry_mqtt_connection_losses_total Connections to the broker lost\n"
       "# TYPE spry_mqtt_connection_losses_total counter\nspry_mqtt_connection_losses_total " +
       std::to_string(losses_.load()) + "\n";
  return t;
}

} // namespace spry::gateway
