#pragma once
// Per-minute invocation counts in the format of the public Azure Functions trace (Shahrad et al.,
// "Serverless in the Wild", ATC 2020: invocations_per_function_md.anon.dNN.csv): a header, then
// one row per function: HashOwner, HashApp, HashFunction, Trigger, and 1440 counts, one per
// minute of the day.
//
// The real trace is not shipped with spry (download it from the AzurePublicDataset repository);
// synthesize_azure_trace() makes a trace of the same shape whose character follows the paper's
// findings, for tests, benchmarks and experiments that must run offline.

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace spry::policies::lab {

struct azure_function_trace {
  std::string owner, app, function, trigger;
  std::vector<uint32_t> counts; ///< invocations per minute, 1440 of them
};

struct azure_trace {
  static constexpr size_t minutes = 1440;
  std::vector<azure_function_trace> functions;
};

/// Reads a trace file; `max_functions` > 0 keeps only the first rows. Errors carry file:line.
core::expected<azure_trace> read_azure_trace(const std::string& file, size_t max_functions = 0);

/// Writes `trace` in the same format.
core::status_or_error write_azure_trace(const azure_trace& trace, const std::string& file);

/// A synthetic day for `functions` functions, reproducible from `seed`:
/// - mean rates spread log-normally over five orders of magnitude (most functions are invoked
///   rarely, a few carry most invocations), as the paper reports;
/// - about a third timer-triggered (a fixed count every k minutes);
/// - the rest Poisson counts under a diurnal cycle with a per-function peak hour, and occasional
///   bursts (a few minutes at several times the rate).
azure_trace synthesize_azure_trace(size_t functions, uint64_t seed);

} // namespace spry::policies::lab
