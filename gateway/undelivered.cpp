// Requests that came back from the transport instead of reaching an instance. Two kinds:
//
// - Undelivered (buffer_status::undelivered): the transport could not hand the buffer to the
//   instance it was sent to (no socket registered under its endpoint on shm-skmsg, its ring
//   unbound or drained after it died on shm-dpdk, a refused connection or a request never
//   written whole on tcp). No function started on it, so it is not failed: it comes back with
//   its payload intact and goes to another (or the restarted) instance of the same function, or
//   is held until one is ready, within the chain's timeout (504) and the crash-loop policy. With
//   direct routing this is the common way a request meets a dead instance: the instance before
//   it routes from a directory the gateway pushed to it, which lags behind the gateway's own.
//
// - Failed on the way (buffer_status::no_route from a transport: a broken connection after the
//   request was written, "read: end of stream" on tcp): it may have reached the instance, which
//   then died, and the function may have side effects, so it is never sent again; it is answered
//   with how that instance ended. When an instance process dies, its peers learn it two ways at
//   about the same time: the transport sees the connection close, and the supervisor reaps the
//   process and knows how it ended ("was killed by signal 6 (Aborted)"). Which comes first is a
//   race; the client should get the supervisor's reason whichever does, so a transport failure
//   waits here for it (bounded).
#include "gateway/gateway.hpp"

#include "core/clock.hpp"
#include "core/message.hpp"
#include "core/route_table.hpp"
#include "core/route_next.hpp"
#include "core/transport.hpp"
#include "gateway/metrics.hpp"

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

// Undelivered bounces of one request sent on at once; from the next one on, each waits for the
// endpoint's end to be reported (or the grace). Sending at once is right when the gateway's
// directory no longer lists the dead endpoint (the supervisor publishes that before it reports
// the end); the cap bounds what a directory that still lists it could cost.
constexpr uint32_t quick_resends = 3;

} // namespace

void gateway::settle(core::chain_id chain, core::buffer_header* b, slot& s, chain_result r) {
  uint32_t state = waiting;
  if (s.state.compare_exchange_strong(state, completing, std::memory_order_acq_rel))
    complete(chain, b, s, std::move(r));
  else if (state == abandoned && s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel))
    rt_.pools()[chain].release(b); // its client got a 504 meanwhile
}

std::optional<core::function_id> gateway::addressed_to(core::chain_id chain,
                                                       const core::buffer_header& b) {
  core::hop_router& r = head_router();
  const auto& routes = r.routes.get();
  const auto next = b.function == core::no_function
                      ? routes.head(chain)
                      : routes.next(chain, b.function, core::fixed_field(b.topic, core::topic_capacity));
  if (next && *next != core::end_of_chain && *next < rt_.app().functions.size())
    return next;
  // No route from where it is now (the routes changed meanwhile): the function that runs the
  // endpoint it was sent to.
  const auto& dir = r.directory.get();
  if (b.failed_at < dir.function_of.size() &&
      dir.function_of[b.failed_at] < rt_.app().functions.size())
    return dir.function_of[b.failed_at];
  return std::nullopt;
}

bool gateway::take_undelivered(const core::descriptor& d, core::buffer_header* b, slot& s) {
  metrics_->request_undelivered();
  const auto f = addressed_to(d.pool, *b);
  if (!f)
    return false;
  const core::endpoint_id e = b->failed_at;
  ++s.bounces;
  // In-process instances have no transport that bounces and no supervisor to wait for: one
  // that comes back undelivered again and again was marked so by a function (the status is
  // the instance's to write, like any header field), and is answered rather than looped.
  if (rt_.in_process_instances() && s.bounces > quick_resends)
    return false;
  // It is not at that endpoint (and never was): an instance-down scan by holder (copying
  // transports) must not answer it for that endpoint's end.
  s.holder.store(core::no_endpoint, std::memory_order_release);
  std::string ended;
  bool parked = false;
  if (!rt_.in_process_instances() && e != core::gateway_endpoint && e != core::no_endpoint &&
      e < remote_holder_base) {
    const auto& listed = head_router().directory.get().of(*f);
    const bool still_listed = std::find(listed.begin(), listed.end(), e) != listed.end();
    std::lock_guard<std::mutex> guard{undelivered_mtx_};
    const auto i = ended_.find(e);
    const bool reported = i != ended_.end() && i->second.first >= s.started_ns;
    if (reported)
      ended = i->second.second;
    // Listed and not reported gone: the supervisor has not reaped it yet, and a send now could
    // pick it again. Or this request keeps bouncing: slow down to one resend per report/grace.
    if ((still_listed && !reported) || s.bounces > quick_resends) {
      undelivered_.push_back(
        {d, &s, s.request_id, e, core::now_ns() + undelivered_grace_ms * 1000000, *f});
      parked = true;
    }
  }
  if (parked) {
    caf::delayed_anon_send(receiver_, std::chrono::milliseconds(undelivered_grace_ms + 1),
                           sweep_atom::value);
    return true;
  }
  resend(d, b, s, *f, ended);
  return true;
}

void gateway::resend(const core::descriptor& d, core::buffer_header* b, slot& s,
                     core::function_id f, const std::string& ended) {
  auto& p = rt_.pools()[d.pool];
  // On its way again as it came: the status says nothing went wrong (yet).
  b->status = static_cast<uint16_t>(core::buffer_status::ok);
  core::send_status st = core::send_status::unknown_endpoint;
  std::optional<core::send_status> remote;
  {
    core::hop_router& r = head_router();
    // Cluster mode: no instance here, but another node runs it: the request goes there.
    remote = try_remote(f, b, d.pool, p.index_of(b), s, r.directory.get());
    if (!remote) {
      b->t_sent_ns = core::now_ns();
      st = r.send_to_function(f, d, &s.holder);
    }
  }
  if (remote ? *remote == core::send_status::ok
             : (st == core::send_status::ok ||
                (st == core::send_status::unknown_endpoint && hold(f, d, s))))
    return;
  // Nowhere to go: answered now, with the reason written only here.
  const std::string& name = rt_.app().functions[f].name;
  const std::string first =
    ended.empty() ? "the instance it was sent to could not be reached"
                  : ended + " before the request reached it";
  const std::string then =
    remote ? "the other nodes that run it could not be reached"
    : st == core::send_status::unknown_endpoint
      ? "no other instance of it is running or starting (crash-looping? see the gateway's log)"
      : std::string("no other instance took it (") + core::to_string(st) + ")";
  auto r = make_result(remote ? uint16_t{502} : core::http_status_of(st),
                       "function '" + name + "' did not get the request: " + first + ", and " +
                         then,
                       s.request_id);
  if (r.http_status == 503)
    r.retry_after_s = 1;
  settle(d.pool, b, s, std::move(r));
}

bool gateway::park_transport_failed(const core::descriptor& d, core::buffer_header* b, slot& s) {
  if (b->status != static_cast<uint16_t>(core::buffer_status::transport_failed) ||
      rt_.in_process_instances())
    return false;
  // The transport says where it lost it, at any hop (with direct routing the gateway's own
  // record, s.holder, names only the head instance it sent it to).
  const core::endpoint_id e = b->failed_at;
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
    settle(d.pool, b, s, make_result(502, ended + " while handling this request", s.request_id));
    return true;
  }
  caf::delayed_anon_send(receiver_, std::chrono::milliseconds(undelivered_grace_ms + 1),
                         sweep_atom::value);
  return true;
}

void gateway::fail_undelivered(core::endpoint_id endpoint, const std::string& why) {
  std::vector<undelivered> mine;
  bool resends_due = false;
  {
    std::lock_guard<std::mutex> guard{undelivered_mtx_};
    ended_[endpoint] = {core::now_ns(), why};
    // Those that never reached it are sent on by the sweep, on the receiver actor: this is the
    // supervisor's thread, under its lock, and a send may hold or activate.
    for (auto& u : undelivered_)
      if (u.endpoint == endpoint && u.resend != core::no_function) {
        u.deadline_ns = 0;
        resends_due = true;
      }
    auto split = std::stable_partition(undelivered_.begin(), undelivered_.end(), [&](const undelivered& u) {
      return u.endpoint != endpoint || u.resend != core::no_function;
    });
    mine.assign(split, undelivered_.end());
    undelivered_.erase(split, undelivered_.end());
  }
  if (resends_due)
    caf::anon_send(receiver_, sweep_atom::value);
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
  std::vector<std::string> ended; // per due entry: how its endpoint ended, if reported since
  {
    const uint64_t now = core::now_ns();
    std::lock_guard<std::mutex> guard{undelivered_mtx_};
    auto split = std::stable_partition(undelivered_.begin(), undelivered_.end(),
                                       [&](const undelivered& u) { return u.deadline_ns > now; });
    due.assign(split, undelivered_.end());
    undelivered_.erase(split, undelivered_.end());
    for (const auto& u : due) {
      const auto i = ended_.find(u.endpoint);
      ended.push_back(i != ended_.end() && u.s->request_id == u.request_id &&
                          i->second.first >= u.s->started_ns
                        ? i->second.second
                        : std::string());
    }
  }
  for (size_t k = 0; k < due.size(); ++k) {
    const auto& u = due[k];
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
    if (state != waiting)
      continue;
    if (u.resend != core::no_function) {
      // Never reached it: on to another instance (or the same, if it is alive after all). The
      // request stays waiting: a 504 meanwhile is settled where the buffer turns up next.
      resend(u.d, b, *u.s, u.resend, ended[k]);
      continue;
    }
    if (!u.s->state.compare_exchange_strong(state, completing, std::memory_order_acq_rel))
      continue;
    // The instance is alive after all (or its end was not reported): the transport's reason.
    complete(u.d.pool, b, *u.s, answer_of(u.d.pool, b, *u.s));
  }
}

} // namespace spry::gateway
