#pragma once
// A per-chain region of fixed-size buffers in shared memory.
//
// The region is a memfd (MFD_HUGETLB when 2 MB hugepages can be reserved, plain memfd
// otherwise), so it can be mapped by other processes from the fd alone, at any address. The free
// list is a lock-free Treiber stack of buffer indices with an ABA tag, living inside the region,
// so alloc/release work from every process that maps the pool, and a process that dies halfway
// through an operation never leaves a lock held.
//
// Layout: [control block][slot array: next + state per buffer][buffers: 256 B header + payload].
//
// Thread safety: every member function may be called from any thread of any process mapping the
// pool. alloc() never blocks: an empty pool returns nullptr and counts a failure.

#include "core/buffer_header.hpp"
#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace spry::core {

struct pool_options {
  std::string name = "spry-pool";   ///< shows in /proc/PID/fd and the log
  uint32_t buffer_count = 1024;     ///< number of buffers
  uint32_t buffer_size = 64 * 1024; ///< payload capacity of each buffer, bytes
  bool try_hugepages = true;        ///< use MFD_HUGETLB when pages are available
};

struct pool_stats {
  uint32_t capacity;       ///< buffers in the pool
  uint32_t in_use;         ///< buffers allocated now
  uint32_t high_water;     ///< most buffers ever in use at once
  uint64_t allocs;         ///< successful allocations
  uint64_t alloc_failures; ///< allocations refused because the pool was empty
  uint32_t free() const noexcept { return capacity - in_use; }
};

struct pool_control; // shared control block, defined in pool.cpp

class pool {
public:
  /// Creates a new pool backed by a fresh memfd.
  static expected<pool> create(const pool_options& opts);
  /// Maps an existing pool from its fd (duplicated; the caller keeps its own fd).
  /// Validates the control block so that a wrong fd is an error, not a crash.
  static expected<pool> attach(int fd);

  pool(pool&& other) noexcept;
  pool& operator=(pool&& other) noexcept;
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  ~pool();

  // -- buffers ---------------------------------------------------------------------------------

  /// Takes a free buffer, header zeroed. nullptr when the pool is exhausted (never blocks).
  buffer_header* alloc() noexcept;
  /// Returns a buffer. false (and nothing changes) if `b` is not an allocated buffer of this
  /// pool, which catches double releases.
  bool release(buffer_header* b) noexcept;

  /// Offset of a buffer inside the mapping: what descriptors carry.
  uint64_t offset_of(const buffer_header* b) const noexcept;
  /// The allocated buffer at `offset`, or nullptr if the offset is outside the pool, not at a
  /// buffer boundary, or names a free buffer. This is the check applied to every descriptor.
  buffer_header* resolve(uint64_t offset) const noexcept;
  /// The buffer with index `i` (< capacity), allocated or not: for the owner of per-buffer state
  /// (the gateway) to reach a buffer whose holder died.
  buffer_header* at(uint32_t i) const noexcept;
  /// Index of a buffer (0..capacity-1); used to key per-request state.
  uint32_t index_of(const buffer_header* b) const noexcept;

  static char* payload(buffer_header* b) noexcept { return reinterpret_cast<char*>(b + 1); }
  static const char* payload(const buffer_header* b) noexcept {
    return reinterpret_cast<const char*>(b + 1);
  }

  // -- properties ------------------------------------------------------------------------------

  uint32_t capacity() const noexcept;
  uint32_t buffer_size() const noexcept;
  pool_stats stats() const noexcept;
  int fd() const noexcept { return fd_; }
  bool hugepages() const noexcept { return hugepages_; }
  size_t mapping_size() const noexcept { return size_; }

private:
  pool() = default;
  void reset() noexcept;

  int fd_ = -1;
  bool hugepages_ = false;
  size_t size_ = 0;
  char* base_ = nullptr;
  pool_control* ctl_ = nullptr;
};

} // namespace spry::core
