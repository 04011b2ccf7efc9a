// Requests held at the gateway while their function has no instance to take them: scale from
// zero (min_instances 0 under an autoscaler: the activation hook asks the control plane for one),
// or the function's only instances crashed and are restarting (failing what arrives meanwhile
// would turn one crash into many errors). At most autoscaling.hold_limit wait per function;
// release_held() sends them on once an instance is listed, fails them once none is coming, and
// frees the buffers of those whose clients already got a 504. With KPA's activator in a
// function's path (target burst capacity), requests also wait here for a free slot of its
// instances and go on as slots free. The rest of a request's life is in gateway.cpp.
#include "gateway/gateway.hpp"

#include "core/clock.hpp"
#include "core/route_next.hpp"
#include "core/transport.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <mutex>

namespace spry::gateway {

bool gateway::can_hold(core::function_id f) const {
  if (f >= rt_.app().functions.size())
    return false;
  // The activator holds requests for a free slot of the instances the function has.
  if (activator_in_path(f) && !rt_.directory().snapshot()->of(f).empty())
    return true;
  // Scale from zero: the control plane starts one for it.
  if (rt_.app().functions[f].min_instances == 0 && rt_.app().autoscaling.policy.name != "fixed")
    return true;
  // Its only instances crashed and are restarting: failing the requests that arrive meanwhile
  // would turn one crash into many errors. A crash-looping function is not waited for. In a
  // cluster the same holds for an instance starting on another node.
  return instance_coming(f);
}

bool gateway::instance_coming(core::function_id f) const {
  return rt_.instances_coming(f) > 0 || (remote_ && remote_->coming(f));
}

bool gateway::hold(core::function_id f, const core::descriptor& d, slot& s) {
  if (!can_hold(f))
    return false;
  {
    std::lock_guard<std::mutex> guard{held_mtx_};
    if (held_[f].size() >= rt_.app().autoscaling.hold_limit)
      return false;
    s.holder.store(core::no_endpoint, std::memory_order_relaxed);
    // Instances listed, and still held: the activator's wait for a slot, not a cold start.
    const bool for_slot = activator_in_path(f) && !rt_.directory().snapshot()->of(f).empty();
    held_[f].push_back({d, &s, core::now_ns(), for_slot});
    if (for_slot) {
      activator_holds_[f].fetch_add(1, std::memory_order_relaxed);
      return true; // nothing to activate: the control plane releases it as slots free
    }
  }
  // Activation asks the control plane for f's instances (and its chain's): not again while one
  // is starting, as when a request of a chain warming up comes back from the hop before f.
  if (activate_ && !instance_coming(f))
    activate_(f, d.pool);
  return true;
}

size_t gateway::free_slots(core::function_id f) const {
  size_t n = 0;
  const auto& board = rt_.board();
  for (auto e : rt_.directory().snapshot()->of(f))
    if (const auto* s = board.slot(e)) {
      const uint32_t c = std::max<uint32_t>(1, s->concurrency.load(std::memory_order_relaxed));
      const uint32_t busy = board.in_flight(e);
      n += busy < c ? c - busy : 0;
    }
  return n;
}

void gateway::set_activator(core::function_id f, bool in_path) {
  if (f >= activator_.size())
    return;
  if (activator_[f].exchange(in_path, std::memory_order_relaxed) != in_path)
    activators_on_.fetch_add(in_path ? 1 : static_cast<uint32_t>(-1), std::memory_order_relaxed);
}

size_t gateway::held(core::function_id f) const {
  std::lock_guard<std::mutex> guard{held_mtx_};
  return f < held_.size() ? held_[f].size() : 0;
}

void gateway::release_held() {
  for (core::function_id f = 0; f < held_.size(); ++f) {
    std::deque<held_request> ready;
    {
      std::lock_guard<std::mutex> guard{held_mtx_};
      if (held_[f].empty())
        continue;
      const bool has_instance = !rt_.directory().snapshot()->of(f).empty() ||
                                (remote_ && remote_->runs_elsewhere(f));
      // With an instance every held request goes (and when none is coming any more, they go
      // to fail with the reason); otherwise only the abandoned are swept.
      const bool go = has_instance || !can_hold(f);
      // The activator sends on only as many as there are free slots (the rest would come
      // straight back); at least one, so that a stale count cannot stall the queue.
      size_t take = go && activator_in_path(f) && has_instance ? std::max<size_t>(1, free_slots(f))
                                                                : SIZE_MAX;
      for (auto i = held_[f].begin(); i != held_[f].end();) {
        const bool gone = i->s->state.load(std::memory_order_acquire) == abandoned;
        if (gone || (go && take > 0)) {
          if (!gone && take != SIZE_MAX)
            --take;
          ready.push_back(*i);
          i = held_[f].erase(i);
        } else {
          ++i;
        }
      }
    }
    for (size_t k = 0; k < ready.size(); ++k) {
      auto& h = ready[k];
      auto& p = rt_.pools()[h.d.pool];
      core::buffer_header* b = p.resolve(h.d.offset);
      slot& s = *h.s;
      uint32_t state = s.state.load(std::memory_order_acquire);
      if (state == abandoned) { // its client got a 504 while it waited
        if (s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel))
          p.release(b);
        continue;
      }
      // The wait ends here, whether the send below succeeds or not: the request paid it (a cold
      // start; the activator's wait for a slot is queueing, not a cold start). Added before the
      // send: the request may complete on another thread before send() returns.
      const uint64_t released_ns = core::now_ns();
      const uint64_t paid = h.for_slot ? 0 : released_ns - h.since_ns;
      s.held_ns.fetch_add(paid, std::memory_order_release);
      core::send_status st;
      {
        core::hop_router& r = head_router();
        b->t_sent_ns = released_ns;
        auto remote = try_remote(f, b, h.d.pool, p.index_of(b), s, r.directory.get());
        st = remote ? *remote : r.send_to_function(f, h.d, &s.holder);
      }
      if (st == core::send_status::unknown_endpoint && activator_in_path(f) &&
          !rt_.directory().snapshot()->of(f).empty()) {
        // Every instance is at its concurrency (the activator): this one and the ones after it
        // wait on, in their order, ahead of any held since (not sent: nobody else saw `paid`).
        s.held_ns.fetch_sub(paid, std::memory_order_relaxed);
        std::lock_guard<std::mutex> guard{held_mtx_};
        held_[f].insert(held_[f].begin(), ready.begin() + static_cast<std::ptrdiff_t>(k),
                        ready.end());
        break;
      }
      if (st == core::send_status::ok)
        continue;
      if (!s.state.compare_exchange_strong(state, completing, std::memory_order_acq_rel)) {
        if (state == abandoned && s.state.compare_exchange_strong(state, idle))
          p.release(b);
        continue;
      }
      auto r = make_result(core::http_status_of(st),
                           st == core::send_status::unknown_endpoint
                             ? "function '" + rt_.app().functions[f].name +
                                 "' has no instance and none is starting (crash-looping? see "
                                 "the gateway's log)"
                             : "function '" + rt_.app().functions[f].name +
                                 "' started, but the request could not be sent to it (" +
                                 core::to_string(st) + ")",
                           s.request_id);
      if (r.http_status == 503)
        r.retry_after_s = 1;
      complete(h.d.pool, b, s, std::move(r));
    }
  }
}

} // namespace spry::gateway
