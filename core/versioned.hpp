#pragma once
// A value that the control plane replaces at run time and the hot path reads without locks.
//
// Writers publish a new immutable snapshot (under a mutex; they are rare: a route change, an
// instance added). Each hot-path reader owns a `reader` that caches the snapshot it last saw and
// the version number; reading costs one acquire load of the version while nothing changed, and
// takes the mutex only once per published change. Old snapshots die when the last reader lets go.
//
// Thread safety: publish/snapshot from any thread. A reader object is used by one thread at a
// time (an actor, or one connection), which is how the hot path is structured anyway.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace spry::core {

template <class T>
class versioned {
public:
  explicit versioned(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}

  void publish(std::shared_ptr<const T> next) {
    std::lock_guard<std::mutex> guard{mtx_};
    current_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

  std::shared_ptr<const T> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return current_;
  }

  uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

  class reader {
  public:
    explicit reader(const versioned& source) : source_(&source) { refresh(); }

    const T& get() {
      if (source_->version_.load(std::memory_order_acquire) != seen_)
        refresh();
      return *cached_;
    }

  private:
    void refresh() {
      std::lock_guard<std::mutex> guard{source_->mtx_};
      seen_ = source_->version_.load(std::memory_order_relaxed);
      cached_ = source_->current_;
    }

    const versioned* source_;
    uint64_t seen_ = 0;
    std::shared_ptr<const T> cached_;
  };

private:
  mutable std::mutex mtx_;
  std::atomic<uint64_t> version_{1};
  std::shared_ptr<const T> current_;
};

} // namespace spry::core
