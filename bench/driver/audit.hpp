#pragma once
// The overhead audit (`spry audit`): what one request costs the data path on each setup, counted
// per request the way the SPRIGHT paper audits Knative (1 front end + 2 functions): payload
// copies, context switches, system calls, protocol messages, serializations.
//
// Every figure is measured during a run of real requests, none is typed in:
//   copies, serializations, deserializations, protocol messages
//                      counted by the code that does them (core/data_path_counters.hpp), summed
//                      over every process of the tree through a shared counters file, split into
//                      the edge (gateway <-> client) and inside the chain
//   context switches   voluntary + involuntary, every thread of every process (/proc)
//   system calls       perf (raw_syscalls:sys_enter on every process of the tree) when it is
//                      installed and allowed; otherwise /proc/PID/io's read/write family only
// The load is closed-loop with few users (1 by default), so per-request figures are not blurred
// by batching.

#include "bench/driver/setup_run.hpp"
#include "core/data_path_counters.hpp"

#include <string>
#include <vector>

namespace spry::bench {

struct audit_row {
  setup config;
  bool ran = false;
  std::string skipped;
  uint64_t requests = 0; ///< successful requests measured
  uint64_t errors = 0;
  core::data_path::counts counters;
  uint64_t voluntary_switches = 0, involuntary_switches = 0;
  uint64_t syscalls = 0;
  std::string syscall_source; ///< "perf" or "/proc io (read/write family only)"
  std::vector<process_sample> processes;
  double per_request(uint64_t total) const { return requests ? static_cast<double>(total) / requests : 0; }
};

struct audit_settings {
  run_settings run;
  std::chrono::milliseconds warmup{1000};
  std::chrono::milliseconds duration{3000};
  unsigned users = 1;
  bool use_perf = true;
};

/// Audits every setup in turn; setups that cannot run come back with `skipped`.
std::vector<audit_row> run_audit(const workload& w, const std::vector<setup>& setups,
                                 const audit_settings& settings);

/// The audit as a Markdown table, the published figures beside the measured ones.
std::string audit_markdown(const std::vector<audit_row>& rows, const workload& w);

/// The audit as JSON text.
std::string audit_json(const std::vector<audit_row>& rows);

} // namespace spry::bench
