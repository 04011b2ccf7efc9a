#pragma once
// A published claim checked against the lab's runs: the paired per-seed difference between the
// claimed policy and its baseline, its 95 % interval, and a verdict that says "holds" only when
// the interval excludes no change in the claimed direction (confidence.hpp).

#include "policies/lab/confidence.hpp"
#include "policies/lab/experiment.hpp"

#include <string>
#include <vector>

namespace spry::policies::lab {

/// One run of an experiment: a policy set on a workload with a seed.
struct run_record {
  std::string policy;
  std::string workload;
  uint64_t seed = 0;
  run_result result;
  double wall_s = 0;
};

/// A claim evaluated on one workload, over the seeds both policies ran.
struct claim_outcome {
  const claim_spec* claim = nullptr;
  std::string workload;
  interval policy;     ///< the policy's metric over the paired seeds
  interval baseline;   ///< the baseline's
  interval difference; ///< paired per seed: policy - baseline
  /// Relative change: the difference over |baseline mean| (and its interval, the difference's
  /// interval scaled the same way). NaN when the baseline's mean is 0.
  double measured_change = 0, change_lo = 0, change_hi = 0;
  /// "holds", "inconclusive" or "does not hold" (direction_verdict of the difference).
  std::string verdict;
  /// How the published size compares with the interval of the relative change: "within the
  /// interval", "larger than measured", "smaller than measured", or "n/a".
  std::string published_size;
  /// SLO attainment (1 - SLO violation rate) of both sides, so that a fairness or resource
  /// claim is never read without the service it came with.
  interval policy_slo_attainment, baseline_slo_attainment;
  /// Fewer seeds than min_claim_seeds: the interval is honest but wide; reports flag it.
  bool under_sampled = false;
};

std::vector<claim_outcome> evaluate_claims(const experiment& e, const std::vector<run_record>& runs);

/// The values of `metric` for `policy` on `workload`, one per seed, in the order of the runs.
std::vector<double> per_seed(const std::vector<run_record>& runs, const std::string& policy,
                             const std::string& workload, const std::string& metric);

} // namespace spry::policies::lab
