#include "core/route_table.hpp"

namespace spry::core {

expected<route_table> route_table::build(const std::vector<function_id>& heads,
                                         const std::vector<rule>& rules) {
  route_table t;
  t.chains_.resize(heads.size());
  for (size_t c = 0; c < heads.size(); ++c)
    t.chains_[c].head = heads[c];
  for (const auto& r : rules) {
    if (r.chain >= t.chains_.size())
      return make_error("route for unknown chain index " + std::to_string(r.chain));
    auto& ch = t.chains_[r.chain];
    hops* h = nullptr;
    for (auto& candidate : ch.from)
      if (candidate.from == r.from)
        h = &candidate;
    if (!h) {
      ch.from.push_back(hops{r.from, {}, no_function});
      h = &ch.from.back();
    }
    if (r.topic == any_topic) {
      if (h->fallback != no_function)
        return make_error("two default routes from the same function in one chain");
      h->fallback = r.to;
    } else {
      for (const auto& [topic, to] : h->by_topic)
        if (topic == r.topic)
          return make_error("two routes for topic '" + r.topic + "' from the same function");
      h->by_topic.emplace_back(r.topic, r.to);
    }
  }
  return t;
}

std::vector<route_table::rule> route_table::linear(chain_id chain,
                                                    const std::vector<function_id>& sequence) {
  std::vector<rule> out;
  for (size_t i = 0; i < sequence.size(); ++i)
    out.push_back(rule{chain, sequence[i], std::string(any_topic),
                       i + 1 < sequence.size() ? sequence[i + 1] : end_of_chain});
  return out;
}

std::optional<function_id> route_table::head(chain_id chain) const noexcept {
  if (chain >= chains_.size() || chains_[chain].head == no_function)
    return std::nullopt;
  return chains_[chain].head;
}

std::optional<function_id> route_table::next(chain_id chain, function_id from,
                                             std::string_view topic) const noexcept {
  if (chain >= chains_.size())
    return std::nullopt;
  for (const auto& h : chains_[chain].from) {
    if (h.from != from)
      continue;
    for (const auto& [t, to] : h.by_topic)
      if (t == topic)
        return to;
    if (h.fallback != no_function)
      return h.fallback;
    return std::nullopt;
  }
  return std::nullopt;
}

} // namespace spry::core
