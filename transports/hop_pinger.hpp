#pragma once
// The pinging side of the shm transports' hop benchmarks (shm-skmsg/hop_bench.cpp,
// shm-dpdk/hop_bench.cpp): an actor bound to endpoint 1 that bounces a buffer to endpoint 2 and
// records half of each round trip, read from the buffer header's send time.

#include "core/buffer_header.hpp"
#include "core/clock.hpp"
#include "core/descriptor.hpp"
#include "core/pool.hpp"
#include "core/transport.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <future>
#include <memory>
#include <vector>

namespace spry::transports {

struct pinger_state {
  core::transport* tp = nullptr;
  core::pool* pool = nullptr;
  unsigned left = 0;     // round trips still to go, warm-up included
  unsigned measured = 0; // the last `measured` of them are recorded
  std::vector<uint64_t> samples;
  std::promise<void> done;
};

/// The pinger for `st`: `warmup + round_trips` round trips, the last `round_trips` recorded.
inline caf::actor spawn_pinger(caf::actor_system& sys, const std::shared_ptr<pinger_state>& st,
                               core::transport* tp, core::pool* pool, unsigned warmup,
                               unsigned round_trips) {
  st->tp = tp;
  st->pool = pool;
  st->left = warmup + round_trips;
  st->measured = round_trips;
  st->samples.reserve(round_trips);
  return sys.spawn([st](caf::event_based_actor*) -> caf::behavior {
    return {[st](core::descriptor d) {
      st->tp->consumed(1);
      core::buffer_header* b = st->pool->resolve(d.offset);
      const uint64_t now = core::now_ns();
      if (st->left-- <= st->measured)
        st->samples.push_back((now - b->t_sent_ns) / 2);
      if (st->left == 0) {
        st->done.set_value();
        return;
      }
      b->t_sent_ns = core::now_ns();
      d.dst = 2;
      st->tp->send(d);
    }};
  });
}

} // namespace spry::transports
