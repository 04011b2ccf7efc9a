#pragma once
// Process-wide counters of what the data path does to a request's payload: copies,
// serializations, deserializations and protocol messages. They exist for the overhead audit
// (`spry audit`), which reports them per request next to the published SPRIGHT/Knative audit;
// they are counted where the code really does the work, never derived from a model.
//
// Where an event happens matters: at the edge (the gateway taking the client's HTTP request and
// answering it, which every transport pays once) or inside the chain (a transport moving the
// request between functions, sidecars included). The published claim is about the latter:
// "inside the chain, 0 copies, 0 protocol processing, 0 serializations".
//
// What counts as one event:
//   copy             payload bytes moved from one memory area to another, including the
//                    user <-> kernel copy of a socket read or write that carries the payload
//   serialization    a message encoded into a wire format (the tcp envelope)
//   deserialization  a wire format decoded back into a message
//   protocol_message one HTTP message through the loopback TCP stack (counted once, by the
//                    sender; the client's request by the gateway that parses it)
//
// Storage: by default each process counts into its own static slots (so a lone process costs
// nothing but a relaxed atomic add per event). When SPRY_COUNTERS_FILE names a file made by
// create_counters_file(), every process that inherits the variable (gateway, instances,
// sidecars) adds into that one shared mapping instead, so a reader sees the whole process tree.
// Thread-safe, lock-free, any thread, never allocates after the first call.

#include "core/error.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace spry::core::data_path {

enum class site : unsigned { edge = 0, chain = 1 };
enum class event : unsigned { copy = 0, serialization = 1, deserialization = 2, protocol_message = 3 };

inline constexpr unsigned site_count = 2;
inline constexpr unsigned event_count = 4;
inline constexpr const char* counters_variable = "SPRY_COUNTERS_FILE";

/// Adds n events of kind `e` at site `s`.
void count(site s, event e, uint64_t n = 1) noexcept;

/// A snapshot of every counter.
struct counts {
  std::array<std::array<uint64_t, event_count>, site_count> v{};
  uint64_t at(site s, event e) const noexcept {
    return v[static_cast<unsigned>(s)][static_cast<unsigned>(e)];
  }
  counts operator-(const counts& earlier) const noexcept;
};

/// This process's counters (the shared ones when SPRY_COUNTERS_FILE is in effect).
counts snapshot() noexcept;

/// Creates (or truncates) a zeroed counters file for SPRY_COUNTERS_FILE.
status_or_error create_counters_file(const std::string& path);
/// Reads a counters file that processes are adding into.
expected<counts> read_counters_file(const std::string& path);

const char* name_of(site s) noexcept;
const char* name_of(event e) noexcept;

} // namespace spry::core::data_path
