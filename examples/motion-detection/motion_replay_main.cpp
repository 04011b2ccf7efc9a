// motion_replay: replays a synthetic intermittent motion trace through an MQTT broker into a
// running motion-detection app and reports end-to-end latency percentiles (publish on
// sensors/<room>/motion -> answer on lights/<room>). Percentiles, not means: Paho has rare
// publish stalls of about a second that a mean would hide or exaggerate.
#include "examples/motion-detection/motion_trace.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  using namespace spry::examples::motion;
  CLI::App cli{"Replay a synthetic intermittent motion-sensor trace over MQTT and report latency"};
  trace_options t;
  replay_options r;
  cli.add_option("--broker", r.broker, "MQTT broker tcp://HOST:PORT");
  cli.add_option("--seed", t.seed, "Trace seed");
  cli.add_option("--rooms", t.rooms, "Rooms (one sensor each)");
  cli.add_option("--duration", t.duration_s, "Trace seconds to generate");
  cli.add_option("--speedup", r.speedup, "Trace seconds per wall second (60: minutes become seconds)");
  cli.add_option("--idle-min", t.idle_min_s, "Shortest idle gap of a room, trace seconds");
  cli.add_option("--idle-max", t.idle_max_s, "Longest idle gap of a room, trace seconds");
  cli.add_option("--max-events", r.max_events, "Stop after this many events (0 = all)");
  cli.add_option("--qos", r.qos, "QoS of the events and the reply subscription")->check(CLI::Range(0, 1));
  cli.add_option("--prewarm-lead", r.prewarm_lead_s,
                 "Publish a warm-up event this many trace seconds before every burst that follows "
                 "a quiet gap of --prewarm-gap (0: no pre-warming)");
  cli.add_option("--prewarm-gap", r.prewarm_gap_s,
                 "Quiet trace seconds (all rooms) after which a burst is pre-warmed")
    ->capture_default_str();
  std::string samples;
  cli.add_option("--samples", samples,
                 "Write every event as 'TRACE_SECONDS LATENCY_MS ROOM' to this file (latency -1: "
                 "no answer)");
  CLI11_PARSE(cli, argc, argv);
  const auto trace = make_trace(t);
  std::printf("trace: %zu events in %.0f s of trace time (%u rooms, seed %llu), replayed %.0fx\n",
              trace.size(), t.duration_s, t.rooms, static_cast<unsigned long long>(t.seed), r.speedup);
  std::fflush(stdout);
  const auto res = replay(trace, r);
  if (!res.error.empty()) {
    std::fprintf(stderr, "motion_replay: %s\n", res.error.c_str());
    return 1;
  }
  std::printf("sent %zu, answered %zu in %.1f s\n", res.sent, res.answered, res.wall_s);
  if (r.prewarm_lead_s > 0)
    std::printf("warm-up events: %zu (%.1f trace s before bursts after %.1f s quiet)\n",
                res.warmups, r.prewarm_lead_s, r.prewarm_gap_s);
  if (res.answered)
    std::printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  mean %.2f\n",
                res.quantile(0.5), res.quantile(0.9), res.quantile(0.99), res.latency_ms.back(),
                res.mean());
  if (!samples.empty()) {
    std::ofstream f(samples);
    for (const auto& s : res.samples)
      f << s.t_s << ' ' << s.latency_ms << ' ' << s.room << '\n';
    if (!f) {
      std::fprintf(stderr, "motion_replay: cannot write %s\n", samples.c_str());
      return 1;
    }
  }
  return res.answered == res.sent ? 0 : 3;
}
