#include "policies/prediction/rate_predictor.hpp"

#include "policies/prediction/bandit.hpp"
#include "policies/prediction/last_value.hpp"
#include "policies/prediction/linear_regression.hpp"

#include <algorithm>
#include <cstdlib>

namespace spry::policies::prediction {

namespace {

// "1,2,4" -> {1, 2, 4}
core::expected<std::vector<size_t>> parse_windows(const std::string& text) {
  std::vector<size_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 100000)
      return core::make_error("parameter 'windows': expected comma-separated window lengths >= 1, "
                              "got '" + text + "'");
    out.push_back(static_cast<size_t>(v));
    pos = comma + 1;
  }
  return out;
}

} // namespace

void register_all(rate_predictor_registry& registry) {
  using result = core::expected<std::unique_ptr<rate_predictor>>;
  registry.add("last_value", [](const parameters&) -> result {
    return make_policy<rate_predictor, last_value>();
  });
  registry.add("linear_regression", [](const parameters& p) -> result {
    // Eight observations (16 s at a 2 s tick) by default: long enough to see a trend.
    auto w = p.number_in("window", 8, 1, 100000);
    if (!w)
      return w.err();
    return make_policy<rate_predictor, linear_regression>(static_cast<size_t>(*w));
  });
  registry.add("mu", [](const parameters& p) -> result {
    bandit_options o;
    auto eps = p.number_in("epsilon", o.epsilon, 0, 1);
    auto decay = p.number_in("reward_decay", o.reward_decay, 0.001, 1);
    auto horizon = p.number_in("horizon_s", o.horizon_s, 0, 1e6);
    auto seed = p.number("seed", static_cast<double>(o.seed));
    const auto windows = p.text("windows", "");
    for (const auto* e : {&eps, &decay, &horizon, &seed})
      if (!*e)
        return e->err();
    o.epsilon = *eps;
    o.reward_decay = *decay;
    o.horizon_s = *horizon;
    o.seed = static_cast<uint64_t>(*seed);
    if (!windows.empty()) {
      auto w = parse_windows(windows);
      if (!w)
        return w.err();
      o.windows = *w;
    }
    return make_policy<rate_predictor, bandit>(o);
  });
}

} // namespace spry::policies::prediction
