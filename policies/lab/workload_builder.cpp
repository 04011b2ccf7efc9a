// build_workload() (experiment.hpp): a workload as written, turned into the functions, chains
// and arrival sources of one seed.
#include "policies/lab/experiment.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::lab {

namespace {

using kind_t = workload_spec::kind_t;

// FNV-1a: a stable hash (std::hash may differ between standard libraries, and seeds derived
// from names must reproduce everywhere).
uint64_t stable_hash(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void apply_shape(function_spec& f, const workload_spec& w, size_t i) {
  if (w.shapes.empty())
    return;
  const auto& s = w.shapes[i % w.shapes.size()];
  f.cpu = s.cpu;
  f.memory_mb = s.memory_mb;
  f.weight = s.weight;
}

} // namespace

core::expected<workload_model> build_workload(const workload_spec& w, uint64_t seed,
                                              double duration_s) {
  workload_model m;
  m.name = w.name;
  random_stream rng = random_stream::derive(seed, stable_hash(w.name));

  // One function per chain per source: the synthetic kinds and the traces.
  auto one_function_each = [&](size_t n, auto&& name_of, auto&& process_of) {
    for (size_t i = 0; i < n; ++i) {
      function_spec f = w.defaults;
      f.name = name_of(i);
      apply_shape(f, w, i);
      if (w.service_ms_hi > 0) {
        const double lo = std::log(w.service_ms_lo), hi = std::log(w.service_ms_hi);
        f.service.mean_s = std::exp(lo + (hi - lo) * rng.uniform()) / 1e3;
      }
      m.functions.push_back(std::move(f));
      m.chains.push_back({static_cast<uint32_t>(i)});
      arrival_source src;
      src.process = process_of(i);
      src.chains = {static_cast<uint32_t>(i)};
      m.sources.push_back(std::move(src));
    }
  };
  auto numbered = [&](size_t i) { return w.name + "-" + std::to_string(i); };

  switch (w.kind) {
    case kind_t::mix:
      // Each part built on its own, then side by side: indices shifted past the earlier parts.
      for (const auto& part : w.parts) {
        auto pm = build_workload(part, seed, duration_s);
        if (!pm)
          return pm.err();
        const auto f0 = static_cast<uint32_t>(m.functions.size());
        const auto c0 = static_cast<uint32_t>(m.chains.size());
        for (auto& f : pm->functions)
          m.functions.push_back(std::move(f));
        for (auto& c : pm->chains) {
          for (auto& f : c)
            f += f0;
          m.chains.push_back(std::move(c));
        }
        for (auto& src : pm->sources) {
          for (auto& c : src.chains)
            c += c0;
          m.sources.push_back(std::move(src));
        }
      }
      break;
    case kind_t::poisson: {
      std::vector<double> rates(w.functions, w.rate);
      if (w.total_rate > 0) {
        double h = 0;
        for (size_t i = 0; i < w.functions; ++i)
          h += 1.0 / std::pow(static_cast<double>(i + 1), w.zipf_s);
        for (size_t i = 0; i < w.functions; ++i)
          rates[i] = w.total_rate / std::pow(static_cast<double>(i + 1), w.zipf_s) / h;
      }
      one_function_each(w.functions, numbered,
                        [&](size_t i) { return std::make_unique<poisson_arrivals>(rates[i]); });
      break;
    }
    case kind_t::on_off:
    case kind_t::mmpp:
      one_function_each(w.functions, numbered, [&](size_t) {
        return std::make_unique<mmpp_arrivals>(w.rates, w.sojourn_s, rng);
      });
      break;
    case kind_t::diurnal:
      one_function_each(w.functions, numbered, [&](size_t) {
        const double phase = w.random_phase ? rng.uniform() * 6.283185307179586 : 0.0;
        return std::make_unique<diurnal_arrivals>(w.rate, w.amplitude, w.period_s, phase);
      });
      break;
    case kind_t::periodic_burst:
      one_function_each(w.functions, numbered, [&](size_t) {
        const size_t periods = static_cast<size_t>(std::ceil(duration_s / w.burst_period_s)) + 1;
        return std::make_unique<counted_arrivals>(std::vector<uint32_t>(periods, w.burst_requests),
                                                  w.burst_period_s, w.burst_spread_s);
      });
      break;
    case kind_t::azure:
    case kind_t::azure_synthetic: {
      const size_t minutes = std::min<size_t>(
        azure_trace::minutes - w.start_minute, static_cast<size_t>(std::ceil(duration_s / 60.0)));
      one_function_each(
        w.trace->functions.size(),
        [&](size_t i) {
          const auto& f = w.trace->functions[i];
          return f.app.substr(0, 8) + ":" + f.function.substr(0, 8);
        },
        [&](size_t i) {
          std::vector<uint32_t> counts(minutes);
          for (size_t k = 0; k < minutes; ++k) {
            // Scaled counts keep their expectation: the fraction is rounded up at random.
            const double c = w.trace->functions[i].counts[w.start_minute + k] * w.rate_scale;
            counts[k] = static_cast<uint32_t>(c) + (rng.uniform() < c - std::floor(c) ? 1 : 0);
          }
          return std::make_unique<counted_arrivals>(std::move(counts), 60.0, 60.0);
        });
      break;
    }
    case kind_t::published: {
      const auto& p = *w.published;
      for (size_t i = 0; i < p.functions.size(); ++i) {
        function_spec f = w.defaults;
        f.name = p.functions[i].name;
        f.service.mean_s = p.functions[i].service_time_ms / 1e3;
        apply_shape(f, w, i);
        m.functions.push_back(std::move(f));
      }
      arrival_source src;
      for (size_t c = 0; c < p.chains.size(); ++c) {
        m.chains.push_back(p.chains[c].second);
        src.chains.push_back(static_cast<uint32_t>(c));
        src.chain_cdf.push_back(static_cast<double>(c + 1)); // every chain equally likely
      }
      if (p.period_s > 0) {
        const size_t periods = static_cast<size_t>(std::ceil(duration_s / p.period_s)) + 1;
        src.process = std::make_unique<counted_arrivals>(
          std::vector<uint32_t>(periods, p.burst_requests), p.period_s, w.burst_spread_s);
      } else if (p.closed_loop || w.rate > 0) {
        src.process = std::make_unique<poisson_arrivals>(w.rate);
      } else {
        src.process = std::make_unique<mmpp_arrivals>(w.rates, w.sojourn_s, rng);
      }
      m.sources.push_back(std::move(src));
      break;
    }
  }
  if (m.functions.empty())
    return core::make_error("workload '" + w.name + "' has no functions");
  for (auto& f : m.functions)
    if (f.slo_service_multiple > 0)
      f.slo_s = f.slo_service_multiple * f.service.mean_s;
  return m;
}

} // namespace spry::policies::lab
