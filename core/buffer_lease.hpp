#pragma once
// Ownership of one pool buffer by the code that allocated it, until it hands the buffer on
// (release_ownership) to a transport. If the holder gives up on any path (a read error, a bad
// request, an exception), the destructor returns the buffer: no path leaks a buffer.

#include "core/pool.hpp"

#include <utility>

namespace spry::core {

class buffer_lease {
public:
  buffer_lease() = default;
  buffer_lease(pool* p, buffer_header* b) noexcept : pool_(p), buffer_(b) {}
  buffer_lease(buffer_lease&& other) noexcept
    : pool_(other.pool_), buffer_(std::exchange(other.buffer_, nullptr)) {}
  buffer_lease& operator=(buffer_lease&& other) noexcept {
    if (this != &other) {
      reset();
      pool_ = other.pool_;
      buffer_ = std::exchange(other.buffer_, nullptr);
    }
    return *this;
  }
  buffer_lease(const buffer_lease&) = delete;
  buffer_lease& operator=(const buffer_lease&) = delete;
  ~buffer_lease() { reset(); }

  explicit operator bool() const noexcept { return buffer_ != nullptr; }
  buffer_header* get() const noexcept { return buffer_; }
  char* payload() const noexcept { return pool::payload(buffer_); }
  uint32_t capacity() const noexcept { return pool_->buffer_size(); }
  pool* owner() const noexcept { return pool_; }

  /// The caller now owns the buffer (typically: it was sent in a descriptor).
  buffer_header* release_ownership() noexcept { return std::exchange(buffer_, nullptr); }

  void reset() noexcept {
    if (buffer_)
      pool_->release(std::exchange(buffer_, nullptr));
  }

private:
  pool* pool_ = nullptr;
  buffer_header* buffer_ = nullptr;
};

} // namespace spry::core
