#pragma once
// The two ends of the transports' hop benchmarks (local/, shm-skmsg/ and shm-dpdk/hop_bench.cpp):
// a pinger that bounces a buffer to a peer endpoint and records half of each round trip (read
// from the buffer header's send time), and an echo that sends every descriptor straight back.
//
// Each end is bound through one of the two sinks the runtime uses (core/descriptor_sink.hpp):
// - `hop_sink::mailbox`: a plain actor; the transport's receive thread enqueues the descriptor
//   and a CAF worker runs it (what a gateway-side actor or a function with concurrency > 1 pays);
// - `hop_sink::inline_run`: an inline_sink, as every instance of concurrency 1 and the gateway's
//   endpoint are bound: the receive thread runs the handler and sends the next descriptor itself
//   (run to completion). This is the hop a chain pays.

#include "core/buffer_header.hpp"
#include "core/clock.hpp"
#include "core/descriptor.hpp"
#include "core/descriptor_sink.hpp"
#include "core/pool.hpp"
#include "core/transport.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <vector>

namespace spry::transports {

enum class hop_sink { mailbox, inline_run };

/// An endpoint whose descriptors run `handler`, bound the `kind` way. Exit it with
/// `caf::anon_send_exit(sink->actor(), ...)` after the transport stopped.
inline std::shared_ptr<core::descriptor_sink>
make_hop_endpoint(caf::actor_system& sys, hop_sink kind,
                  std::function<void(const core::descriptor&)> handler) {
  if (kind == hop_sink::mailbox)
    return std::make_shared<core::mailbox_sink>(
      sys.spawn([handler](caf::event_based_actor*) -> caf::behavior {
        return {[handler](core::descriptor d) { handler(d); }};
      }));
  auto sink = std::make_shared<core::inline_sink>(std::move(handler));
  // Weak: the sink holds the actor; the actor must not keep the sink (and itself) alive.
  std::weak_ptr<core::inline_sink> weak = sink;
  sink->attach(sys.spawn([weak](caf::event_based_actor*) -> caf::behavior {
    return {[weak](core::descriptor d) {
      if (auto s = weak.lock())
        s->run_queued(d);
    }};
  }));
  return sink;
}

struct pinger_state {
  unsigned left = 0;     // round trips still to go, warm-up included
  unsigned measured = 0; // the last `measured` of them are recorded
  std::vector<uint64_t> samples;
  std::promise<void> done;
};

/// The pinger, endpoint `self`: `warmup + round_trips` round trips with `peer`, the last
/// `round_trips` recorded in `st`. The first ping is the caller's (a buffer with t_sent_ns set).
inline std::shared_ptr<core::descriptor_sink>
make_pinger(caf::actor_system& sys, hop_sink kind, const std::shared_ptr<pinger_state>& st,
            core::transport* tp, core::pool* pool, core::endpoint_id self, core::endpoint_id peer,
            unsigned warmup, unsigned round_trips) {
  st->left = warmup + round_trips;
  st->measured = round_trips;
  st->samples.reserve(round_trips);
  return make_hop_endpoint(sys, kind, [st, tp, pool, self, peer](const core::descriptor& in) {
    tp->consumed(self);
    core::buffer_header* b = pool->resolve(in.offset);
    const uint64_t now = core::now_ns();
    if (st->left-- <= st->measured)
      st->samples.push_back((now - b->t_sent_ns) / 2);
    if (st->left == 0) {
      st->done.set_value();
      return;
    }
    b->t_sent_ns = core::now_ns();
    core::descriptor d = in;
    d.dst = peer;
    tp->send(d);
  });
}

/// Starts `st`'s ping-pong (a pinger bound already) with a fresh buffer sent to `peer`, and
/// waits for its last round trip (a minute at most). false: it did not start or did not end.
inline bool run_ping_pong(core::transport& tp, core::pool& pool, pinger_state& st,
                          core::endpoint_id peer) {
  auto fut = st.done.get_future();
  core::buffer_header* b = pool.alloc();
  if (!b)
    return false;
  b->request_id = 1;
  b->t_sent_ns = core::now_ns();
  return tp.send(core::descriptor{peer, 0, core::tag_of(1), pool.offset_of(b)}) ==
           core::send_status::ok &&
         fut.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
}

/// The echo, endpoint `self`: sends every descriptor back to `peer`.
inline std::shared_ptr<core::descriptor_sink> make_echo(caf::actor_system& sys, hop_sink kind,
                                                        core::transport* tp,
                                                        core::endpoint_id self,
                                                        core::endpoint_id peer) {
  return make_hop_endpoint(sys, kind, [tp, self, peer](const core::descriptor& in) {
    tp->consumed(self);
    core::descriptor d = in;
    d.dst = peer;
    tp->send(d);
  });
}

} // namespace spry::transports
