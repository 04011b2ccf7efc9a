#pragma once
// Routing: (chain, topic, current function) -> next function, as in SPRIGHT's direct function
// routing. Instances look up their own next hop, so the gateway is on the first and last hop only.
//
// A route table is immutable once built; the routing controller publishes a new one through
// versioned<route_table> and hot-path readers pick it up without locks (versioned.hpp).
//
// Lookup order for (chain, from, topic): a route for exactly that topic, then the default route
// of `from` (topic "*"), else no route. `end_of_chain` sends the result back to the gateway.

#include "core/error.hpp"
#include "core/ids.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spry::core {

inline constexpr function_id end_of_chain = UINT16_MAX - 1;
inline constexpr std::string_view any_topic = "*";

class route_table {
public:
  /// One rule; `topic` "*" is the default of `from`. `to` may be end_of_chain.
  struct rule {
    chain_id chain;
    function_id from;
    std::string topic;
    function_id to;
  };

  route_table() = default;

  /// Builds a table from rules and each chain's head function. Errors on a duplicate rule.
  static expected<route_table> build(const std::vector<function_id>& heads,
                                     const std::vector<rule>& rules);

  /// Convenience: a linear chain f0 -> f1 -> ... -> end, as default routes.
  static std::vector<rule> linear(chain_id chain, const std::vector<function_id>& sequence);

  /// Head function of a chain, or nullopt if the chain is unknown.
  std::optional<function_id> head(chain_id chain) const noexcept;
  /// Next function after `from` for `topic`, end_of_chain, or nullopt if there is no route.
  std::optional<function_id> next(chain_id chain, function_id from,
                                  std::string_view topic) const noexcept;

  size_t chain_count() const noexcept { return chains_.size(); }

private:
  struct hops {
    function_id from = no_function;
    std::vector<std::pair<std::string, function_id>> by_topic;
    function_id fallback = no_function;
  };
  struct chain_routes {
    function_id head = no_function;
    std::vector<hops> from; // small: one entry per function in the chain, scanned linearly
  };
  std::vector<chain_routes> chains_;
};

} // namespace spry::core
