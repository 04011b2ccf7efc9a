#include "policies/lab/claims.hpp"

#include <cmath>
#include <limits>
#include <map>

namespace spry::policies::lab {

std::vector<double> per_seed(const std::vector<run_record>& runs, const std::string& policy,
                             const std::string& workload, const std::string& metric) {
  std::vector<double> v;
  for (const auto& r : runs)
    if (r.policy == policy && r.workload == workload)
      v.push_back(metric_value(r.result, metric));
  return v;
}

namespace {

/// seed -> run of `policy` on `workload`.
std::map<uint64_t, const run_result*> by_seed(const std::vector<run_record>& runs,
                                              const std::string& policy,
                                              const std::string& workload) {
  std::map<uint64_t, const run_result*> m;
  for (const auto& r : runs)
    if (r.policy == policy && r.workload == workload)
      m[r.seed] = &r.result;
  return m;
}

std::string size_against(double published, double lo, double hi) {
  if (std::isnan(lo) || std::isnan(hi))
    return "n/a";
  if (published < lo)
    return published < 0 ? "larger than measured" : "smaller than measured";
  if (published > hi)
    return published < 0 ? "smaller than measured" : "larger than measured";
  return "within the interval";
}

} // namespace

std::vector<claim_outcome> evaluate_claims(const experiment& e, const std::vector<run_record>& runs) {
  std::vector<claim_outcome> out;
  for (const auto& c : e.claims) {
    for (const auto& w : e.workloads) {
      if (!c.workload.empty() && c.workload != w.name)
        continue;
      const auto p = by_seed(runs, c.policy, w.name);
      const auto b = by_seed(runs, c.baseline, w.name);
      // Pairs: the seeds both ran (the same arrivals and service-time draws for both).
      std::vector<double> pv, bv, dv, pslo, bslo;
      for (const auto& [seed, pr] : p) {
        const auto it = b.find(seed);
        if (it == b.end())
          continue;
        const double x = metric_value(*pr, c.metric), y = metric_value(*it->second, c.metric);
        pv.push_back(x);
        bv.push_back(y);
        dv.push_back(x - y);
        pslo.push_back(1 - pr->slo_violation_rate);
        bslo.push_back(1 - it->second->slo_violation_rate);
      }
      if (dv.empty())
        continue;
      claim_outcome o;
      o.claim = &c;
      o.workload = w.name;
      o.policy = t_interval(pv);
      o.baseline = t_interval(bv);
      o.difference = t_interval(dv);
      o.policy_slo_attainment = t_interval(pslo);
      o.baseline_slo_attainment = t_interval(bslo);
      o.under_sampled = dv.size() < min_claim_seeds;
      o.verdict = direction_verdict(o.difference, c.published_change);
      if (o.baseline.mean != 0) {
        const double scale = std::fabs(o.baseline.mean);
        o.measured_change = o.difference.mean / scale;
        o.change_lo = o.difference.lo() / scale;
        o.change_hi = o.difference.hi() / scale;
      } else {
        o.measured_change = o.change_lo = o.change_hi = std::numeric_limits<double>::quiet_NaN();
      }
      o.published_size = !c.has_published_size
                           ? "no figure published"
                           : size_against(c.published_change, o.change_lo, o.change_hi);
      out.push_back(std::move(o));
    }
  }
  return out;
}

} // namespace spry::policies::lab
