#pragma once
// Identifiers shared by every part of spry. Plain integers so they fit in wire structs.

#include <cstdint>

namespace spry::core {

/// A transport address: the gateway or one instance.
using endpoint_id = uint32_t;
/// Index of a function in the app (order of declaration).
using function_id = uint16_t;
/// Index of a chain in the app (order of declaration); also names the chain's pool.
using chain_id = uint16_t;

/// The gateway is always endpoint 0; instances are numbered from 1.
inline constexpr endpoint_id gateway_endpoint = 0;
inline constexpr endpoint_id no_endpoint = UINT32_MAX;
inline constexpr function_id no_function = UINT16_MAX;

} // namespace spry::core
