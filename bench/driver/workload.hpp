#pragma once
// A benchmark workload file: which app to run, what to send it and how, and on which setups
// (transports). `spry bench FILE` and `spry audit FILE` read it; command-line options override
// its load settings. Example (examples/online-boutique/online-boutique.bench.yaml):
//
//   app: online-boutique.yaml          # the app file, relative to this file
//   env: { SPRY_SERVICE_TIME_SCALE: "0.02" }   # set for the app's processes
//   requests:                          # a weighted mix; one latency series per name
//     - { name: browseProduct, method: GET, path: /product/OLJCESPC7Z, weight: 10 }
//     - { name: checkout, method: POST, path: /cart/checkout, body: "...", weight: 1 }
//     - { name: snapshot, path: /parking, body_size: 3000 }    # varied 3000-byte bodies
//   load:
//     mode: closed                     # closed | open | bursts
//     users: 64                        # closed: virtual users (open, bursts: connections)
//     spawn_rate: 64                   # closed: users started per second (0: all at once)
//     think_time: 0ms                  # closed: or [min, max], uniform
//     rate: 500                        # open: requests per second
//     period: 240s                     # bursts: one burst per period ...
//     burst: 164                       # ... of this many requests
//     duration: 20s                    # measured
//     warmup: 3s                       # sent, not measured
//     requests: 0                      # stop after this many (0: no bound)
//   idle: 2s                           # quiet period after the load: idle CPU
//   setups: [local, shm-skmsg, shm-dpdk, tcp]   # see setups.hpp
//   baseline: tcp                      # ratios in the report are against this one
//
// Read with the app file's reader (core/yaml_walker.hpp): errors name file:line:column and the
// key in the same words as the app file's, and unknown keys are refused the same way.

#include "bench/load/http_load.hpp"
#include "core/error.hpp"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace spry::bench {

struct workload {
  std::string file;     ///< the workload file itself
  std::string app_file; ///< absolute or relative to the working directory (resolved)
  std::map<std::string, std::string> env;
  std::vector<request_spec> requests;
  load_options load; ///< shape, users, duration, warm-up, bound (host/port set at run time)
  std::chrono::milliseconds idle{2000};
  std::vector<std::string> setups{"local", "shm-skmsg", "shm-dpdk", "tcp"};
  std::string baseline = "tcp";
};

/// Reads and checks a workload file (the app file is only located, not parsed).
core::expected<workload> load_workload_file(const std::string& path);

} // namespace spry::bench
