#include "examples/motion-detection/motion_trace.hpp"
#include "gateway/mqtt_socket.hpp"

#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace spry::examples::motion {

std::vector<trace_event> make_trace(const trace_options& o) {
  std::mt19937_64 rng(o.seed);
  auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto count = [&](unsigned lo, unsigned hi) { return std::uniform_int_distribution<unsigned>(lo, hi)(rng); };
  std::vector<trace_event> out;
  for (unsigned r = 0; r < o.rooms; ++r) {
    const std::string room = "room" + std::to_string(r);
    // Rooms start at staggered points of their first idle gap, so activity does not align.
    double t = uniform(0, o.idle_min_s);
    bool on = false;
    while (t < o.duration_s) {
      const unsigned bursts = count(o.bursts_min, o.bursts_max);
      for (unsigned b = 0; b < bursts && t < o.duration_s; ++b) {
        double te = t;
        const unsigned events = count(o.events_min, o.events_max);
        for (unsigned e = 0; e < events && te < o.duration_s; ++e) {
          on = !on;
          out.push_back({te, room, r + 1, on});
          te += uniform(o.event_gap_min_s, o.event_gap_max_s);
        }
        t += uniform(o.burst_gap_min_s, o.burst_gap_max_s);
      }
      t += uniform(o.idle_min_s, o.idle_max_s);
    }
  }
  std::sort(out.begin(), out.end(), [](const trace_event& a, const trace_event& b) { return a.t_s < b.t_s; });
  return out;
}

double replay_result::quantile(double q) const {
  if (latency_ms.empty())
    return -1;
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(latency_ms.size())));
  return latency_ms[std::min(latency_ms.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double replay_result::mean() const {
  if (latency_ms.empty())
    return -1;
  double sum = 0;
  for (double l : latency_ms)
    sum += l;
  return sum / static_cast<double>(latency_ms.size());
}

std::vector<double> warmup_times(const std::vector<trace_event>& trace, const replay_options& o) {
  std::vector<double> out;
  if (o.prewarm_lead_s <= 0)
    return out;
  const size_t n = o.max_events ? std::min(o.max_events, trace.size()) : trace.size();
  for (size_t i = 0; i < n; ++i) {
    const double prev = i ? trace[i - 1].t_s : 0;
    if (i && trace[i].t_s - prev < o.prewarm_gap_s)
      continue; // inside a busy stretch: the instances are warm already
    out.push_back(std::max(prev, trace[i].t_s - o.prewarm_lead_s));
  }
  return out;
}

replay_result replay(const std::vector<trace_event>& trace, const replay_options& o) {
  using clock = std::chrono::steady_clock;
  replay_result res;
  std::mutex mtx;
  std::map<std::string, std::pair<clock::time_point, size_t>> sent_at; // "sensor:ts" -> when, which
  try {
    mqtt::async_client cli(o.broker, o.client_id, static_cast<mqtt::iclient_persistence*>(nullptr));
    cli.set_message_callback([&](mqtt::const_message_ptr m) {
      const auto now = clock::now();
      try {
        const auto j = nlohmann::json::parse(m->get_payload_str());
        const auto key = j.at("sensor").dump() + ":" + j.at("ts").dump();
        std::lock_guard<std::mutex> guard{mtx};
        auto i = sent_at.find(key);
        if (i == sent_at.end())
          return;
        const double ms = std::chrono::duration<double, std::milli>(now - i->second.first).count();
        res.latency_ms.push_back(ms);
        res.samples[i->second.second].latency_ms = ms;
        sent_at.erase(i);
      } catch (const std::exception&) {
        // not one of ours
      }
    });
    auto opts = mqtt::connect_options_builder().clean_session(true).finalize();
    cli.connect(opts)->wait();
    spry::gateway::disable_nagle_towards(o.broker); // see gateway/mqtt_socket.hpp
    cli.subscribe("lights/#", o.qos)->wait();
    const auto start = clock::now();
    std::map<unsigned, uint64_t> last_ts;
    const size_t n = o.max_events ? std::min(o.max_events, trace.size()) : trace.size();
    const auto at = [&](double t_s) {
      return start + std::chrono::duration_cast<clock::duration>(
                       std::chrono::duration<double>(t_s / o.speedup));
    };
    const auto warmups = warmup_times(trace, o);
    size_t next_warmup = 0;
    {
      std::lock_guard<std::mutex> guard{mtx};
      res.samples.reserve(n);
    }
    for (size_t i = 0; i < n; ++i) {
      const auto& e = trace[i];
      // Warm-ups due before this event: sensor 0 in room "warmup", whose answer nobody waits for
      // (its key is never in sent_at).
      for (; next_warmup < warmups.size() && warmups[next_warmup] <= e.t_s; ++next_warmup) {
        std::this_thread::sleep_until(at(warmups[next_warmup]));
        const nlohmann::json w = {{"sensor", 0}, {"ts", res.warmups}, {"state", "on"}};
        cli.publish("sensors/warmup/motion", w.dump(), o.qos, false);
        res.warmups++;
      }
      std::this_thread::sleep_until(at(e.t_s));
      uint64_t ts = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
      ts = std::max(ts, last_ts[e.sensor] + 1); // (sensor, ts) identifies the event's reply
      last_ts[e.sensor] = ts;
      const nlohmann::json payload = {{"sensor", e.sensor}, {"ts", ts}, {"state", e.on ? "on" : "off"}};
      {
        std::lock_guard<std::mutex> guard{mtx};
        res.samples.push_back({e.t_s, e.room, -1});
        sent_at[std::to_string(e.sensor) + ":" + std::to_string(ts)] = {clock::now(),
                                                                         res.samples.size() - 1};
      }
      cli.publish("sensors/" + e.room + "/motion", payload.dump(), o.qos, false);
      res.sent++;
    }
    const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(o.reply_wait_s));
    while (clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (sent_at.empty())
          break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    res.wall_s = std::chrono::duration<double>(clock::now() - start).count();
    cli.disconnect()->wait();
  } catch (const mqtt::exception& e) {
    res.error = std::string("MQTT: ") + e.what();
  }
  std::lock_guard<std::mutex> guard{mtx};
  res.answered = res.latency_ms.size();
  std::sort(res.latency_ms.begin(), res.latency_ms.end());
  return res;
}

} // namespace spry::examples::motion
