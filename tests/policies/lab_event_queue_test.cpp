// The lab's event queue (policies/lab/event_queue.hpp) against a sorted reference (earliest
// first, ties in scheduling order, through interleaved pushes and pops), and the instances'
// request FIFO (request_fifo.hpp).
#include "policies/lab/event_queue.hpp"
#include "policies/lab/request_fifo.hpp"
#include "policies/random.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

using namespace spry::policies;
using namespace spry::policies::lab;

TEST_CASE("event queue: earliest first, ties in the order scheduled", "[lab]") {
  event_queue q;
  q.push(2.0, event_type::tick, 0, 0);
  q.push(1.0, event_type::arrival, 1, 0);
  q.push(2.0, event_type::arrival, 2, 0);
  q.push(1.0, event_type::completion, 3, 0);
  std::vector<uint32_t> order;
  while (!q.empty()) {
    order.push_back(q.top().a);
    q.pop();
  }
  CHECK(order == std::vector<uint32_t>{1, 3, 0, 2});
}

TEST_CASE("event queue: interleaved pushes and pops match a sorted reference", "[lab]") {
  random_stream rng(7);
  event_queue q;
  // Reference: (t, scheduling order) pairs still pending; pops take the smallest.
  std::vector<std::pair<double, uint32_t>> ref;
  uint32_t scheduled = 0;
  double now = 0;
  size_t popped = 0, max_size = 0;
  for (int step = 0; step < 20000; ++step) {
    // Push more than pop early on, so the heap grows to a few thousand and shrinks again; times
    // on a coarse grid, so that many are equal and the tie order is tested.
    const bool push = ref.empty() || rng.uniform() < (step < 10000 ? 0.7 : 0.3);
    if (push) {
      const double t = now + std::floor(rng.uniform() * 50) / 10;
      q.push(t, event_type::arrival, scheduled, 0);
      ref.emplace_back(t, scheduled++);
      max_size = std::max(max_size, ref.size());
    } else {
      const auto it = std::min_element(ref.begin(), ref.end());
      REQUIRE(q.size() == ref.size());
      REQUIRE(q.top().t == it->first);
      REQUIRE(q.top().a == it->second);
      now = q.top().t;
      q.pop();
      ref.erase(it);
      ++popped;
    }
  }
  CHECK(popped > 5000);
  CHECK(max_size > 1000);
}

TEST_CASE("request fifo: first in first out across drains, release empties it", "[lab]") {
  request_fifo q;
  CHECK(q.empty());
  uint32_t next_in = 0, next_out = 0;
  random_stream rng(3);
  for (int step = 0; step < 5000; ++step) {
    if (q.empty() || rng.uniform() < 0.5) {
      q.push_back(next_in++);
    } else {
      REQUIRE(q.front() == next_out);
      q.pop_front();
      ++next_out;
    }
    REQUIRE(q.size() == next_in - next_out);
  }
  q.release();
  CHECK(q.empty());
  q.push_back(7);
  CHECK(q.front() == 7);
}
