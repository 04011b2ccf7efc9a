// Requests held at the gateway while their function has no instance to take them: scale from
// zero (min_instances 0 under an autoscaler: the activation hook asks the control plane for one),
// or the function's only instances crashed and are restarting (failing what arrives meanwhile
// would turn one crash into many errors). At most autoscaling.hold_limit wait per function;
// release_held() sends them on once an instance is listed, fails them once none is coming, and
// frees the buffers of those whose clients already got a 504. The rest of a request's life is
// in gateway.cpp.
#include "gateway/gateway.hpp"

#include "core/clock.hpp"
#include "core/route_next.hpp"
#include "core/transport.hpp"

#include <deque>
#include <mutex>

namespace spry::gateway {

bool gateway::can_hold(core::function_id f) const {
  if (f >= rt_.app().functions.size())
    return false;
  // Scale from zero: the control plane starts one for it.
  if (rt_.app().functions[f].min_instances == 0 && rt_.app().autoscaling.policy.name != "fixed")
    return true;
  // Its only instances crashed and are restarting: failing the requests that arrive meanwhile
  // would turn one crash into many errors. A crash-looping function is not waited for. In a
  // cluster the same holds for an instance starting on another node.
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
    held_[f].push_back({d, &s, core::now_ns()});
  }
  if (activate_)
    activate_(f, d.pool);
  return true;
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
      for (auto i = held_[f].begin(); i != held_[f].end();) {
        if (go || i->s->state.load(std::memory_order_acquire) == abandoned) {
          ready.push_back(*i);
          i = held_[f].erase(i);
        } else {
          ++i;
        }
      }
    }
    for (auto& h : ready) {
      auto& p = rt_.pools()[h.d.pool];
      core::buffer_header* b = p.resolve(h.d.offset);
      slot& s = *h.s;
      uint32_t state = s.state.load(std::memory_order_acquire);
      if (state == abandoned) { // its client got a 504 while it waited
        if (s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel))
          p.release(b);
        continue;
      }
      // The wait ends here, whether the send below succeeds or not: the request paid it.
      const uint64_t released_ns = core::now_ns();
      s.held_ns.fetch_add(released_ns - h.since_ns, std::memory_order_release);
      core::send_status st;
      {
        core::hop_router& r = head_router();
        b->t_sent_ns = released_ns;
        auto remote = try_remote(f, b, h.d.pool, p.index_of(b), s, r.directory.get());
        st = remote ? *remote : r.send_to_function(f, h.d, &s.holder);
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
