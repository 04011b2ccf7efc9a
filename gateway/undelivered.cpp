// Requests the transport could not deliver to an instance, answered with how that instance
// ended. When an instance process dies, its peers learn it two ways at about the same time: the
// transport sees the connection close or the descriptor bounce ("read: end of stream" on tcp,
// "no socket registered" on shm-skmsg), and the supervisor reaps the process and knows how it
// ended ("was killed by signal 6 (Aborted)"). Which comes first is a race; the client should get
// the supervisor's reason whichever does, so a transport failure waits here for it (bounded).
#include "gateway/gateway.hpp"

#include "core/clock.hpp"

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace spry::gateway {

namespace {

// How long a transport failure waits for its instance to be reported dead. The supervisor
// reports a dead instance milliseconds after its sockets close; the grace only bounds the wait
// when the instance turns out to be alive (a connection lost some other way), and the chain's
// own timeout (504) still applies meanwhile.
constexpr uint64_t undelivered_grace_ms = 2000;

} // namespace

bool gateway::park_undelivered(const core::descriptor& d, core::buffer_header* b, slot& s) {
  if (b->status != static_cast<uint16_t>(core::buffer_status::no_route) || rt_.in_process_instances())
    return false;
  // A transport failure, not a routing decision: with broker routing instances never route (the
  // gateway does, and answers its own no-route at once); with direct routing only a request no
  // function ran yet is the gateway's own hop to the head.
  if (rt_.routing() != core::routing_mode::broker && b->hop_count != 0)
    return false;
  const core::endpoint_id e = s.holder.load(std::memory_order_acquire);
  if (e == core::no_endpoint || e == core::gateway_endpoint || e >= remote_holder_base)
    return false;
  std::string ended;
  {
    std::lock_guard<std::mutex> guard{undelivered_mtx_};
    if (auto i = ended_.find(e); i != ended_.end() && i->second.first >= s.started_ns) {
      ended = i->second.second; // reported gone while this request was out: say how
    } else {
      undelivered_.push_back(
        {d, &s, s.request_id, e, core::now_ns() + undelivered_grace_ms * 1000000});
    }
  }
  if (!ended.empty()) {
    uint32_t state = waiting;
    if (s.state.compare_exchange_strong(state, completing, std::memory_order_acq_rel))
      complete(d.pool, b, s, make_result(502, ended + " while handling this request", s.request_id));
    else if (state == abandoned && s.state.compare_exchange_strong(state, idle))
      rt_.pools()[d.pool].release(b); // its client got a 504 just now
    return true;
  }
  caf::delayed_anon_send(receiver_, std::chrono::milliseconds(undelivered_grace_ms + 1),
                         sweep_atom::value);
  return true;
}

void gateway::fail_undelivered(core::endpoint_id endpoint, const std::string& why) {
  std::vector<undelivered> mine;
  {
    std::lock_guard<std::mutex> guard{undelivered_mtx_};
    ended_[endpoint] = {core::now_ns(), why};
    auto split = std::stable_partition(undelivered_.begin(), undelivered_.end(),
                                       [&](const undelivered& u) { return u.endpoint != endpoint; });
    mine.assign(split, undelivered_.end());
    undelivered_.erase(split, undelivered_.end());
  }
  for (const auto& u : mine) {
    auto& p = rt_.pools()[u.d.pool];
    core::buffer_header* b = p.resolve(u.d.offset);
    uint32_t state = u.s->state.load(std::memory_order_acquire);
    if (u.s->request_id != u.request_id || !b)
      continue;
    if (state == abandoned) { // its client got a 504 meanwhile; the buffer is back here
      if (u.s->state.compare_exchange_strong(state, idle, std::memory_order_acq_rel))
        p.release(b);
      continue;
    }
    if (state != waiting ||
        !u.s->state.compare_exchange_strong(state, completing, std::memory_order_acq_rel))
      continue;
    complete(u.d.pool, b, *u.s, make_result(502, why + " while handling this request", u.request_id));
  }
}

void gateway::sweep_undelivered() {
  std::vector<undelivered> due;
  {
    const uint64_t now = core::now_ns();
    std::lock_guard<std::mutex> guard{undelivered_mtx_};
    auto split = std::stable_partition(undelivered_.begin(), undelivered_.end(),
                                       [&](const undelivered& u) { return u.deadline_ns > now; });
    due.assign(split, undelivered_.end());
    undelivered_.erase(split, undelivered_.end());
  }
  for (const auto& u : due) {
    auto& p = rt_.pools()[u.d.pool];
    core::buffer_header* b = p.resolve(u.d.offset);
    uint32_t state = u.s->state.load(std::memory_order_acquire);
    if (u.s->request_id != u.request_id || !b)
      continue;
    if (state == abandoned) {
      if (u.s->state.compare_exchange_strong(state, idle, std::memory_order_acq_rel))
        p.release(b);
      continue;
    }
    if (state != waiting ||
        !u.s->state.compare_exchange_strong(state, completing, std::memory_order_acq_rel))
      continue;
    // The instance is alive after all (or its end was not reported): the transport's reason.
    complete(u.d.pool, b, *u.s, answer_of(u.d.pool, b, *u.s));
  }
}

} // namespace spry::gateway
