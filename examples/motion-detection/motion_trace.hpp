#pragma once
// A synthetic motion-sensor trace and its replay through an MQTT broker.
//
// The MERL motion detector dataset SPRIGHT replays is not available offline; this trace has its
// character instead: each room alternates between active periods, in which a burst of events
// (motion on/off from the room's sensor) arrives every few seconds, and idle gaps of minutes.
// Everything is drawn from one seed, and every interval can be divided by a speed-up factor so a
// test or a quick measurement replays hours in seconds.

#include <cstdint>
#include <string>
#include <vector>

namespace spry::examples::motion {

struct trace_options {
  uint64_t seed = 1;
  unsigned rooms = 4;
  double duration_s = 3600;       ///< trace time covered (before speed-up)
  double burst_gap_min_s = 2, burst_gap_max_s = 6;   ///< between bursts of an active room
  unsigned bursts_min = 3, bursts_max = 8;           ///< bursts per active period
  unsigned events_min = 1, events_max = 4;           ///< events per burst ...
  double event_gap_min_s = 0.05, event_gap_max_s = 0.3; ///< ... this far apart
  double idle_min_s = 60, idle_max_s = 300;          ///< idle gap between active periods
};

struct trace_event {
  double t_s;       ///< trace time
  std::string room; ///< "room0", "room1", ...
  unsigned sensor;  ///< one sensor per room
  bool on;
};

/// The trace, sorted by time.
std::vector<trace_event> make_trace(const trace_options& o);

struct replay_options {
  std::string broker = "tcp://127.0.0.1:1883";
  double speedup = 1;          ///< trace seconds per wall second
  int qos = 1;
  double reply_wait_s = 5;     ///< after the last event, wait this long for missing replies
  size_t max_events = 0;       ///< 0 = the whole trace
  std::string client_id = "spry-motion-replay";
  /// Pre-warming (> 0): this many trace seconds before every burst that follows a quiet gap of
  /// at least prewarm_gap_s (all rooms together), one warm-up event is published on
  /// sensors/warmup/motion. It runs the whole chain like any event, so a deployment that scaled
  /// to zero starts its instances before the burst instead of on its first event; its answer is
  /// not measured. The stand-in for pre-warmed Knative (SPRIGHT's baseline), whose pods are
  /// started ahead of the traffic: spry's control plane has no schedule of its own.
  double prewarm_lead_s = 0;
  double prewarm_gap_s = 30;
};

/// One event's outcome, in the order the events were sent.
struct replay_sample {
  double t_s;        ///< trace time of the event
  std::string room;
  double latency_ms; ///< publish -> reply; -1 when no reply came
};

struct replay_result {
  std::string error; ///< non-empty: the replay could not run
  size_t sent = 0;
  size_t answered = 0;
  std::vector<double> latency_ms; ///< publish -> reply on lights/<room>, sorted
  std::vector<replay_sample> samples; ///< every event sent, in order
  size_t warmups = 0;                 ///< warm-up events published (prewarm_lead_s)
  double wall_s = 0;
  /// The mean of latency_ms, or -1 without samples.
  double mean() const;
  /// The q-quantile (0..1) of latency_ms (nearest rank), or -1 without samples.
  double quantile(double q) const;
};

/// When warm-up events go out (trace seconds, ascending) for `trace` under `o`: see
/// replay_options::prewarm_lead_s. Never before 0 or before the previous event.
std::vector<double> warmup_times(const std::vector<trace_event>& trace, const replay_options& o);

/// Publishes `trace` on sensors/<room>/motion at its (sped-up) times and measures when each
/// event's answer arrives on lights/<room>.
replay_result replay(const std::vector<trace_event>& trace, const replay_options& o);

} // namespace spry::examples::motion
