#pragma once
// The simulator's pending events, earliest first; events at the same time in the order they were
// scheduled (a sequence number breaks ties), so a run is reproducible whatever the heap does.
//
// A 4-ary implicit heap: half the depth of a binary heap, and a node's children share one or two
// cache lines, which is what counts once the queue outgrows the cache (one pending arrival per
// source and one completion per running request: tens of thousands at 10,000 functions). Pops
// take the usual bottom-up shortcut: the hole left by the minimum sinks to a leaf along the
// smallest children, and the last element is sifted up from there (it nearly always belongs near
// the bottom).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spry::policies::lab {

enum class event_type : uint8_t { arrival, completion, ready, tick };

struct event {
  double t;
  uint64_t seq; ///< scheduling order: ties at equal t go first-scheduled first
  uint32_t a;
  uint32_t b;
  event_type type;
};

class event_queue {
public:
  bool empty() const noexcept { return heap_.empty(); }
  size_t size() const noexcept { return heap_.size(); }
  const event& top() const noexcept { return heap_.front(); }

  void push(double t, event_type type, uint32_t a, uint32_t b) {
    heap_.push_back(event{t, seq_++, a, b, type});
    sift_up(heap_.size() - 1);
  }

  void pop() noexcept {
    const size_t n = heap_.size() - 1;
    if (n == 0) {
      heap_.pop_back();
      return;
    }
    // Sink the hole at the root to a leaf along the smallest children...
    size_t hole = 0;
    for (;;) {
      const size_t first = arity * hole + 1;
      if (first >= n)
        break;
      size_t best = first;
      const size_t last = first + arity < n ? first + arity : n;
      for (size_t c = first + 1; c < last; ++c)
        if (before(heap_[c], heap_[best]))
          best = c;
      heap_[hole] = heap_[best];
      hole = best;
    }
    // ...then put the last element there and let it rise to its place.
    heap_[hole] = heap_[n];
    heap_.pop_back();
    if (hole < n)
      sift_up(hole);
  }

private:
  static constexpr size_t arity = 4;

  static bool before(const event& x, const event& y) noexcept {
    return x.t < y.t || (x.t == y.t && x.seq < y.seq);
  }
  void sift_up(size_t i) noexcept {
    const event e = heap_[i];
    while (i > 0) {
      const size_t parent = (i - 1) / arity;
      if (!before(e, heap_[parent]))
        break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }

  std::vector<event> heap_;
  uint64_t seq_ = 0;
};

} // namespace spry::policies::lab
