#include "gateway/mqtt_ingress.hpp"
#include "gateway/mqtt_socket.hpp"

#include "core/runtime.hpp"
#include "gateway/adapter_call.hpp"
#include "gateway/gateway.hpp"
#include "gateway/mqtt_topic.hpp"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace spry::gateway {

namespace {

const char* outcome_names[] = {"ok", "rejected", "dropped", "failed", "timeout"};

uint64_t unix_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

} // namespace

mqtt_ingress::mqtt_ingress(gateway& gw, const core::mqtt_spec& spec) : gw_(gw), spec_(spec) {
  // No persistence: the gateway keeps no state across restarts; QoS 1 in-flight state lives in
  // memory (and with a clean session, in the broker only while we are connected).
  std::string uri = spec_.broker;
  if (uri.rfind("mqtt://", 0) == 0)
    uri = "tcp://" + uri.substr(7);
  client_ = std::make_unique<mqtt::async_client>(uri, spec_.client_id,
                                                 static_cast<mqtt::iclient_persistence*>(nullptr));
  client_->set_message_callback([this](mqtt::const_message_ptr m) { on_message(std::move(m)); });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    connected_ = false;
    losses_++;
    spdlog::warn("mqtt: connection to {} lost{}{}; reconnecting", spec_.broker,
                 cause.empty() ? "" : ": ", cause);
    std::lock_guard<std::mutex> guard{mtx_};
    lost_ = true;
    cv_.notify_all();
  });
}

mqtt_ingress::~mqtt_ingress() { stop(); }

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
    cv_.notify_all();
  }
  if (thread_.joinable())
    thread_.join();
  try {
    if (client_->is_connected())
      client_->disconnect(0)->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception& e) {
    spdlog::debug("mqtt: disconnect: {}", e.what());
  }
  client_->disable_callbacks();
  connected_ = false;
  // Requests still in flight: give them up so no completion calls into us after this; one that
  // is completing right now removes its entry itself, so wait for those.
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
}

// -- connection ----------------------------------------------------------------------------------

bool mqtt_ingress::try_connect() {
  try {
    auto opts = mqtt::connect_options_builder()
                  .clean_session(true)
                  .keep_alive_interval(std::chrono::milliseconds(std::max<uint32_t>(spec_.keepalive_ms, 1000)))
                  .connect_timeout(std::chrono::seconds(2))
                  .automatic_reconnect(false) // ours has ms backoff and resubscribes (run())
                  .finalize();
    auto tok = client_->connect(opts);
    if (!tok->wait_for(std::chrono::seconds(3)) || !client_->is_connected())
      return false;
    // A clean session forgets subscriptions: subscribe again after every connect.
    // Messages are matched against s.filter either way: a shared subscription's PUBLISH carries
    // the real topic.
    for (const auto& s : spec_.subscriptions)
      client_->subscribe(spec_.share_group.empty() ? s.filter
                                                   : "$share/" + spec_.share_group + "/" + s.filter,
                         s.qos)
        ->wait_for(std::chrono::seconds(3));
  } catch (const mqtt::exception& e) {
    spdlog::debug("mqtt: cannot connect to {}: {}", spec_.broker, e.what());
    return false;
  }
  if (disable_nagle_towards(spec_.broker) == 0)
    spdlog::debug("mqtt: found no socket to {} to set TCP_NODELAY on", spec_.broker);
  connected_ = true;
  connects_++;
  spdlog::info("mqtt: connected to {}; subscribed to {} filter(s)", spec_.broker,
               spec_.subscriptions.size());
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
    if (lost_ && now >= next_attempt) {
      lost_ = false;
      lock.unlock();
      const bool ok = try_connect();
      lock.lock();
      if (ok) {
        backoff_ms = spec_.reconnect_min_ms;
        warned = false;
      } else {
        lost_ = true;
        if (!warned)
          spdlog::warn("mqtt: broker {} not reachable; retrying with backoff up to {} ms",
                       spec_.broker, spec_.reconnect_max_ms);
        warned = true;
        next_attempt = clock::now() + std::chrono::milliseconds(backoff_ms);
        backoff_ms = std::min(backoff_ms * 2, spec_.reconnect_max_ms);
      }
      continue;
    }
    // Requests past their chain's deadline: given up (counted); the buffer returns to the pool
    // when the chain lets go of it.
    std::vector<pending> expired;
    auto wake = clock::time_point::max();
    for (auto i = in_flight_.begin(); i != in_flight_.end();) {
      if (i->second.submitted && i->second.deadline <= now) {
        expired.push_back(i->second);
        i = in_flight_.erase(i);
        continue;
      }
      wake = std::min(wake, i->second.deadline);
      ++i;
    }
    if (!expired.empty()) {
      lock.unlock();
      for (auto& p : expired)
        if (gw_.abandon(ticket{static_cast<core::chain_id>(p.chain), p.slot, p.request_id}))
          count(timed_out, "", "chain did not answer within " +
                                 std::to_string(gw_.chain_timeout_ms(p.chain)) + " ms");
      lock.lock();
      continue;
    }
    if (lost_)
      wake = std::min(wake, next_attempt);
    if (wake == clock::time_point::max())
      cv_.wait(lock);
    else
      cv_.wait_until(lock, wake);
  }
}

// -- messages ------------------------------------------------------------------------------------

void mqtt_ingress::count(outcome o, const std::string& topic, const std::string& why) {
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

void mqtt_ingress::on_message(mqtt::const_message_ptr msg) {
  received_++;
  const std::string& topic = msg->get_topic();
  const core::mqtt_subscription* sub = nullptr;
  for (const auto& s : spec_.subscriptions)
    if (mqtt_topic_matches(s.filter, topic)) {
      sub = &s;
      break;
    }
  if (!sub)
    return count(dropped, topic, "no subscription matches this topic");
  const auto& chains = gw_.runtime().app().chains;
  const auto it = std::find_if(chains.begin(), chains.end(),
                               [&](const core::chain_spec& c) { return c.name == sub->chain; });
  const auto chain = static_cast<core::chain_id>(it - chains.begin());
  adapter_ref adapter;
  if (!sub->adapter.empty()) {
    adapter = gw_.adapters().get(sub->adapter);
    if (!adapter)
      return count(dropped, topic, "adapter '" + sub->adapter + "' is not loaded");
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
      return count(dropped, topic, "chain '" + sub->chain + "' has no free buffer (pool exhausted for " +
                                     std::to_string(spec_.backpressure_wait_ms) + " ms)");
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }

  const auto& payload_ref = msg->get_payload_ref();
  const std::string_view payload(payload_ref.data(), payload_ref.size());
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
    core::adapter_request ar;
    ar.protocol = "mqtt";
    ar.topic = topic;
    ar.origin = spec_.broker;
    ar.payload = payload;
    ar.request_id = key;
    ar.now_unix_ms = now_ms;
    out.data = lease.payload();
    out.capacity = static_cast<uint32_t>(lease.capacity());
    call_ingress(*adapter->impl, ar, out);
    if (!out.error.empty()) {
      gw_.adapters().count_rejected(adapter->name);
      return count(rejected, topic, out.error); // the lease returns the buffer
    }
    length = out.length;
  } else {
    if (payload.size() > lease.capacity())
      return count(rejected, topic, "payload of " + std::to_string(payload.size()) +
                                      " bytes exceeds the chain's buffers (" +
                                      std::to_string(lease.capacity()) + " bytes)");
    std::memcpy(lease.payload(), payload.data(), payload.size());
    length = static_cast<uint32_t>(payload.size());
    out.content_type = "application/octet-stream";
  }

  {
    std::lock_guard<std::mutex> guard{mtx_};
    pending p;
    p.chain = chain;
    p.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(gw_.chain_timeout_ms(chain));
    in_flight_[key] = p;
  }
  auto done = [this, key, adapter, sub, topic, now_ms](chain_result r) {
    if (r.http_status >= 200 && r.http_status < 300) {
      count(ok, topic, {});
      if (!sub->reply_topic.empty()) {
        core::adapter_reply reply;
        reply.status = r.http_status;
        reply.content_type = std::move(r.content_type);
        reply.body = std::move(r.body);
        reply.topic = std::move(r.topic);
        if (adapter) {
          core::adapter_request ar;
          ar.protocol = "mqtt";
          ar.topic = topic;
          ar.origin = spec_.broker;
          ar.request_id = r.request_id;
          ar.now_unix_ms = now_ms;
          adapter->impl->egress(ar, 0, reply);
        }
        publish_reply(mqtt_reply_topic(sub->reply_topic, topic, reply.topic), std::move(reply.body),
                      sub->reply_qos);
      }
    } else {
      std::string why = r.body;
      while (!why.empty() && why.back() == '\n')
        why.pop_back();
      count(failed, topic, "chain '" + sub->chain + "' answered " + std::to_string(r.http_status) +
                             ": " + why);
    }
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
        cv_.notify_all(); // run() may need to wake earlier for this deadline
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
  count(r.http_status == 503 ? dropped : failed, topic,
        "not started (" + std::to_string(r.http_status) + "): " + why);
}

void mqtt_ingress::publish_reply(const std::string& topic, std::string body, int qos) {
  try {
    auto msg = mqtt::make_message(topic, std::move(body), qos, false);
    client_->publish(msg);
    replies_++;
  } catch (const mqtt::exception& e) {
    reply_failures_++;
    spdlog::warn("mqtt: cannot publish the reply to '{}': {}", topic, e.what());
  }
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
