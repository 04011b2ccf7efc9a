#include "transports/local/hop_bench.hpp"

#include "core/clock.hpp"
#include "core/descriptor.hpp"
#include "core/transport.hpp"
#include "transports/hop_pinger.hpp"
#include "transports/local/local_transport.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <future>
#include <memory>

namespace spry::transports::local {

namespace {

constexpr unsigned warmup = 2000;

// One ping-pong: `send(d)` delivers d to the other side; the pinger times each round trip.
struct pingpong {
  unsigned left = 0;
  unsigned measured = 0;
  uint64_t t_sent = 0;
  std::vector<uint64_t> samples;
  std::promise<void> done;

  // Pinger side, on each answer: records it, and says whether to send the next ping.
  bool answered() {
    const uint64_t now = core::now_ns();
    if (left-- <= measured)
      samples.push_back((now - t_sent) / 2);
    if (left == 0) {
      done.set_value();
      return false;
    }
    t_sent = core::now_ns();
    return true;
  }
};

std::unique_ptr<caf::actor_system_config> actor_config() {
  // As the gateway process that hosts local instances runs on this 2-core machine.
  auto cfg = std::make_unique<caf::actor_system_config>();
  cfg->set("scheduler.max-threads", size_t{2});
  cfg->set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

} // namespace

core::expected<std::vector<core::hop_measurement>> measure_hops(unsigned round_trips) {
  auto cfg = actor_config();
  caf::actor_system sys{*cfg};
  std::vector<core::hop_measurement> out;

  // -- 1. bare CAF messages ----------------------------------------------------------------------
  {
    auto st = std::make_shared<pingpong>();
    st->left = warmup + round_trips;
    st->measured = round_trips;
    st->samples.reserve(round_trips);
    // The echo answers whoever is in `peer` (a plain descriptor each way, as on the transport).
    auto peer = std::make_shared<caf::actor>();
    auto echo = sys.spawn([peer](caf::event_based_actor*) -> caf::behavior {
      return {[peer](core::descriptor d) { caf::anon_send(*peer, d); }};
    });
    *peer = sys.spawn([st, echo](caf::event_based_actor*) -> caf::behavior {
      return {[st, echo](core::descriptor d) {
        if (st->answered())
          caf::anon_send(echo, d);
      }};
    });
    auto pinger = *peer;
    auto fut = st->done.get_future();
    st->t_sent = core::now_ns();
    caf::anon_send(echo, core::descriptor{2, 0, 0, 0});
    const bool ok = fut.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
    caf::anon_send_exit(pinger, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    *peer = caf::actor{}; // the echo's closure held it
    if (!ok)
      return core::make_error("hop benchmark: the bare CAF ping-pong did not complete");
    out.push_back(core::hop_measurement::of("bare CAF actor message, actor <-> actor (anon_send)",
                                            std::move(st->samples)));
  }

  // -- 2. the transport's hop: through mailboxes (1 <-> 2), then inline sinks (3 <-> 4) ---------
  core::transport_context ctx;
  ctx.system = &sys;
  ctx.max_endpoints = 8;
  ctx.queue_capacity = 1024;
  local_transport tp{ctx};
  core::transport* t = &tp;
  for (auto kind : {hop_sink::mailbox, hop_sink::inline_run}) {
    const core::endpoint_id ping_id = kind == hop_sink::mailbox ? 1 : 3, echo_id = ping_id + 1;
    auto st = std::make_shared<pingpong>();
    st->left = warmup + round_trips;
    st->measured = round_trips;
    st->samples.reserve(round_trips);
    auto echo = make_echo(sys, kind, t, echo_id, ping_id);
    auto pinger = make_hop_endpoint(sys, kind, [t, st, ping_id, echo_id](const core::descriptor& in) {
      t->consumed(ping_id);
      if (st->answered()) {
        core::descriptor d = in;
        d.dst = echo_id;
        t->send(d);
      }
    });
    auto fut = st->done.get_future();
    bool ok = tp.bind(ping_id, pinger) && tp.bind(echo_id, echo);
    st->t_sent = core::now_ns();
    ok = ok && tp.send(core::descriptor{echo_id, 0, 0, 0}) == core::send_status::ok &&
         fut.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
    tp.unbind(ping_id);
    tp.unbind(echo_id);
    for (auto& sink : {pinger, echo})
      caf::anon_send_exit(sink->actor(), caf::exit_reason::user_shutdown);
    if (!ok)
      return core::make_error("hop benchmark: the local transport ping-pong did not complete");
    out.push_back(core::hop_measurement::of(
      kind == hop_sink::mailbox
        ? "local hop, mailbox: transport::send -> actor mailbox"
        : "local hop, inline: transport::send from a handler -> trampoline on the same thread",
      std::move(st->samples)));
  }
  tp.stop();
  sys.await_all_actors_done();
  return out;
}

} // namespace spry::transports::local
