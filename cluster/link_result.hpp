#pragma once
// A chain's result as it travels back over the data link to the node the request entered at
// (the body of a link_kind::result frame). The frame comes from another process: decoding
// checks every type and size and says what was wrong.

#include "core/error.hpp"
#include "gateway/chain_result.hpp"

#include <string>
#include <string_view>

namespace spry::cluster {

std::string encode_result(const gateway::chain_result& r);
core::expected<gateway::chain_result> decode_result(std::string_view bytes);

} // namespace spry::cluster
