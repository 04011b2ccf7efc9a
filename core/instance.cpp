#include "core/instance.hpp"

#include "core/clock.hpp"
#include "core/descriptor_check.hpp"
#include "core/descriptor_sink.hpp"
#include "core/message.hpp"
#include "core/route_next.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

namespace spry::core {

send_status hop_router::send_to_function(function_id f, descriptor d,
                                         std::atomic<endpoint_id>* holder) {
  const auto& instances = directory.get().of(f);
  if (instances.empty())
    return send_status::unknown_endpoint;
  scratch.clear();
  bool activator = false;
  for (auto e : instances) {
    instance_load l{e, tp->queue_depth(e)};
    if (board) {
      // The board sees every process's queues; the transport only this process's.
      l.queue_length = std::max(l.queue_length, board->in_flight(e));
      l.service_time_s = board->service_time_s(e);
      if (const auto* s = board->slot(e)) {
        l.concurrency = s->concurrency.load(std::memory_order_relaxed);
        if (l.service_time_s > 0)
          l.departure_rate = l.concurrency / l.service_time_s;
        activator = activator || s->activator.load(std::memory_order_relaxed) != 0;
      }
    }
    scratch.push_back(l);
  }
  if (activator) {
    // The activator is in the path (endpoint_board.hpp): only instances with a free slot take
    // the request, the balancer choosing among them; with none, the request waits at the
    // gateway (unknown_endpoint: `no_instance`, held and sent on when a slot frees).
    scratch.erase(std::remove_if(scratch.begin(), scratch.end(),
                                 [](const instance_load& l) {
                                   return l.queue_length >= std::max<uint32_t>(1, l.concurrency);
                                 }),
                  scratch.end());
    if (scratch.empty())
      return send_status::unknown_endpoint;
  }
  const size_t first = balancer->pick(scratch.data(), scratch.size()) % scratch.size();
  send_status last = send_status::unknown_endpoint;
  for (size_t k = 0; k < scratch.size(); ++k) {
    d.dst = scratch[(first + k) % scratch.size()].endpoint;
    if (holder)
      holder->store(d.dst, std::memory_order_relaxed);
    // Counted before the send: the receiver may finish (and count its completion) before send()
    // returns, and the queue length must never look negative.
    if (board)
      board->arrival(d.dst);
    last = tp->send(d);
    if (last == send_status::ok || last == send_status::closed)
      return last;
    if (board)
      if (auto* s = board->slot(d.dst))
        s->arrivals.fetch_sub(1, std::memory_order_relaxed);
  }
  return last;
}

namespace {

// The data path of one instance: everything a descriptor needs, run by whichever thread its
// inline_sink lets run it (the transport's receive thread, or the actor's worker for one that
// came through the mailbox), one descriptor at a time.
class instance_runner {
public:
  explicit instance_runner(instance_context ctx)
    : ctx_(std::move(ctx)),
      router_{versioned<route_table>::reader(*ctx_.routes),
              versioned<endpoint_directory>::reader(*ctx_.directory), ctx_.tp,
              ctx_.balancer.get(),
              {}, ctx_.board} {
  }

  void on_descriptor(const descriptor& d) {
    const uint32_t queued = ctx_.tp->queue_depth(ctx_.self);
    ctx_.tp->consumed(ctx_.self);
    // Validate before touching anything: the descriptor may come from another process.
    const auto checked =
      check_descriptor(*ctx_.pools, d,
                       ctx_.shared_pools ? std::optional<uint32_t>(ctx_.self) : std::nullopt);
    if (!checked.buffer) {
      reject(d, checked.why);
      return;
    }
    pool& p = (*ctx_.pools)[d.pool];
    buffer_header* b = checked.buffer;
    message m(b, p.buffer_size(), d.offset);
    if (b->payload_length > p.buffer_size()) {
      m.fail("request arrived with a corrupt payload length", 502);
      b->exec_ns = 0;
      b->status = static_cast<uint16_t>(buffer_status::bad_buffer);
    } else {
      const uint64_t t0 = now_ns();
      try {
        ctx_.body(m);
      } catch (const std::exception& e) {
        m.fail(std::string("function '") + ctx_.function_name + "' threw: " + e.what());
      } catch (...) {
        m.fail(std::string("function '") + ctx_.function_name + "' threw a non-std exception");
      }
      b->exec_ns = now_ns() - t0;
    }
    b->hop_count++;
    b->function = ctx_.function;
    b->instance = ctx_.self;
    b->queue_length = static_cast<uint16_t>(std::min<uint32_t>(queued, UINT16_MAX));
    ctx_.counters->processed.fetch_add(1, std::memory_order_relaxed);
    if (m.failed())
      ctx_.counters->failed.fetch_add(1, std::memory_order_relaxed);
    const uint64_t exec = b->exec_ns;
    forward(d, m);
    // After the request left: a drained queue on the board means this instance holds nothing.
    if (ctx_.board)
      ctx_.board->completion(ctx_.self, exec, now_ns());
  }

private:
  void forward(descriptor d, message& m) {
    buffer_header& b = m.header();
    if (!m.failed() && ctx_.routing == routing_mode::direct) {
      const next_hop h = route_next(router_, d, b, ctx_.function, m.topic());
      if (h.outcome == hop_outcome::sent)
        return;
      fail_hop(m, h, ctx_.function_name); // and back to the gateway, which answers or holds it
    }
    d.dst = gateway_endpoint;
    b.t_sent_ns = now_ns();
    const auto st = ctx_.tp->send(d);
    if (st != send_status::ok) {
      // Nobody can answer this request any more (the gateway is gone or shutting down): the
      // buffer is ours, so it goes back to the pool rather than leaking.
      spdlog::warn("instance {}: cannot return request {} to the gateway ({}); buffer released",
                   ctx_.self, b.request_id, to_string(st));
      (*ctx_.pools)[d.pool].release(&b);
    }
  }

  void reject(const descriptor& d, const char* why) {
    ctx_.counters->rejected_descriptors.fetch_add(1, std::memory_order_relaxed);
    if (ctx_.board)
      ctx_.board->rejected(ctx_.self);
    spdlog::warn("instance {} ({}): rejected descriptor pool={} offset={}: {}", ctx_.self,
                 ctx_.function_name, d.pool, d.offset, why);
  }

  instance_context ctx_;
  hop_router router_;
};

// The instance as an actor: supervision and exit as any CAF actor; descriptors that reach its
// mailbox (a sink that was busy, a send from a non-receive thread) run through the same sink,
// so they serialise with the ones the receive thread runs inline.
class instance_actor : public caf::event_based_actor {
public:
  instance_actor(caf::actor_config& cfg, std::shared_ptr<inline_sink> sink)
    : caf::event_based_actor(cfg), sink_(std::move(sink)) {
  }

  const char* name() const override { return "spry.instance"; }

  caf::behavior make_behavior() override {
    return {[this](const descriptor& d) { sink_->run_queued(d); }};
  }

  // The sink holds this actor (its mailbox path) and this actor holds the sink: without letting
  // go here neither would ever be freed, one instance's worth of memory per instance ever started
  // (LeakSanitizer found it). Nothing runs on this actor after it exits.
  void on_exit() override { sink_.reset(); }

private:
  std::shared_ptr<inline_sink> sink_;
};

} // namespace

spawned_instance spawn_instance(caf::actor_system& sys, instance_context ctx) {
  auto runner = std::make_shared<instance_runner>(std::move(ctx));
  auto sink = std::make_shared<inline_sink>(
    [runner](const descriptor& d) { runner->on_descriptor(d); });
  auto actor = sys.spawn<instance_actor>(sink);
  sink->attach(actor);
  return {std::move(actor), std::move(sink)};
}

} // namespace spry::core
