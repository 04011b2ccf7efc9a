#include "gateway/gateway.hpp"

#include "core/buffer_owner.hpp"
#include "core/clock.hpp"
#include "core/data_path_counters.hpp"
#include "core/descriptor_check.hpp"
#include "core/home_buffer.hpp"
#include "core/message.hpp"
#include "core/route_next.hpp"
#include "gateway/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace spry::gateway {

using core::buffer_status;

namespace {

std::atomic<uint64_t> next_gateway_id{1};

// Per thread: the head routers it has used, by gateway id. A thread serves one gateway in a
// process that runs one; tests start several in turn, so this is a short list, never pruned
// (an id is never reused, so a destroyed gateway's entry is never matched again).
thread_local std::vector<std::pair<uint64_t, core::hop_router*>> tl_head_routers;

} // namespace

gateway::gateway(core::runtime& rt)
  : rt_(rt), metrics_(std::make_unique<gateway_metrics>(rt)), id_(next_gateway_id.fetch_add(1)) {
  for (auto& p : rt_.pools()) {
    chain_slots cs;
    cs.count = p.capacity();
    cs.slots.reset(new slot[cs.count]);
    pending_.push_back(std::move(cs));
  }
  held_.resize(rt_.app().functions.size());
  activator_ = std::vector<std::atomic<bool>>(rt_.app().functions.size());
  activator_holds_ = std::vector<std::atomic<uint64_t>>(rt_.app().functions.size());
  broker_balancer_ = rt_.make_balancer();
  broker_router_.reset(new core::hop_router{
    core::versioned<core::route_table>::reader(rt_.routes()),
    core::versioned<core::endpoint_directory>::reader(rt_.directory()), &rt_.tp(),
    broker_balancer_.get(), {}});
  broker_router_->board = &rt_.board();
  // Run to completion: the transport's receive thread completes the request itself (the answer
  // is then posted to the connection's I/O thread); the actor runs only what reaches its
  // mailbox, through the same sink, so the two never run on_descriptor at once. The sweep of
  // undelivered requests needs no sink: it works under its own mutex and the slots' states.
  sink_ = std::make_shared<core::inline_sink>([this](const core::descriptor& d) { on_descriptor(d); });
  receiver_ = rt_.system().spawn([this, sink = sink_](caf::event_based_actor*) -> caf::behavior {
    return {[sink](const core::descriptor& d) { sink->run_queued(d); },
            [this](sweep_atom) { sweep_undelivered(); }};
  });
  sink_->attach(receiver_);
  if (auto ok = rt_.tp().bind(core::gateway_endpoint, sink_); !ok)
    spdlog::critical("gateway: cannot bind endpoint 0: {}", ok.err().message);
}

gateway::~gateway() {
  rt_.tp().unbind(core::gateway_endpoint);
  // A receive thread may be completing a request right now, on this object: wait for it, and
  // make sure it is the last.
  sink_->close();
  // The receiver runs on a CAF worker and touches our members: wait until it has terminated.
  caf::scoped_actor self{rt_.system()};
  self->send_exit(receiver_, caf::exit_reason::user_shutdown);
  self->wait_for(receiver_);
}

route_match gateway::match(std::string_view method, std::string_view path) const {
  return match_route(rt_.app().chains, method, path);
}

uint32_t gateway::chain_timeout_ms(core::chain_id chain) const {
  return rt_.app().chains.at(chain).timeout_ms;
}

std::variant<core::buffer_lease, chain_result> gateway::reserve(core::chain_id chain) {
  auto& p = rt_.pools()[chain];
  if (auto* b = p.alloc())
    return core::buffer_lease(&p, b);
  auto r = make_result(503, "chain '" + rt_.app().chains[chain].name +
                              "' is at capacity: all " + std::to_string(p.capacity()) +
                              " buffers of its pool are in use; retry later");
  r.retry_after_s = 1;
  metrics_->request_done(chain, 503, 0);
  return r;
}

std::variant<ticket, chain_result> gateway::submit(core::chain_id chain, core::buffer_lease lease,
                                                   uint32_t length, std::string_view topic,
                                                   std::string_view content_type,
                                                   completion done, bool answer_in_buffer) {
  core::buffer_header* b = lease.get();
  const uint64_t id = next_request_id_.fetch_add(1, std::memory_order_relaxed);
  b->request_id = id;
  b->t_ingress_ns = core::now_ns();
  b->chain = chain;
  b->payload_length = length;
  b->function = core::no_function;
  b->home_offset = rt_.pools()[chain].offset_of(b);
  if (!core::set_fixed_field(b->topic, core::topic_capacity, topic)) {
    metrics_->request_done(chain, 414, 0);
    return make_result(414, "topic (the path below the chain's route) is longer than " +
                              std::to_string(core::topic_capacity) + " bytes", id);
  }
  core::set_fixed_field(b->content_type, core::content_type_capacity,
                        content_type.substr(0, core::content_type_capacity));

  return start(chain, std::move(lease), std::nullopt, true, std::move(done), answer_in_buffer);
}

std::variant<ticket, chain_result> gateway::submit_at(core::chain_id chain,
                                                      core::buffer_lease lease,
                                                      const core::buffer_header& from,
                                                      core::function_id first, completion done) {
  core::buffer_header* b = lease.get();
  const uint64_t id = next_request_id_.fetch_add(1, std::memory_order_relaxed);
  b->request_id = id;
  b->t_ingress_ns = core::now_ns();
  b->chain = chain;
  b->payload_length = from.payload_length;
  b->hop_count = from.hop_count;
  b->status = static_cast<uint16_t>(buffer_status::ok);
  b->http_status = from.http_status;
  b->function = from.function;
  b->home_offset = rt_.pools()[chain].offset_of(b);
  std::memcpy(b->topic, from.topic, sizeof b->topic);
  std::memcpy(b->content_type, from.content_type, sizeof b->content_type);
  std::memcpy(b->reserved, from.reserved, sizeof b->reserved);
  return start(chain, std::move(lease), first, false, std::move(done));
}

core::hop_router& gateway::head_router() {
  for (const auto& [id, r] : tl_head_routers)
    if (id == id_)
      return *r;
  auto h = std::make_unique<head_route>();
  h->balancer = rt_.make_balancer();
  h->router.reset(new core::hop_router{
    core::versioned<core::route_table>::reader(rt_.routes()),
    core::versioned<core::endpoint_directory>::reader(rt_.directory()), &rt_.tp(),
    h->balancer.get(), {}});
  h->router->board = &rt_.board();
  core::hop_router* r = h->router.get();
  {
    std::lock_guard<std::mutex> guard{head_routers_mtx_};
    head_routers_.push_back(std::move(h));
  }
  tl_head_routers.emplace_back(id_, r);
  return *r;
}

std::optional<core::send_status> gateway::try_remote(core::function_id f, core::buffer_header* b,
                                                     core::chain_id chain, uint32_t index,
                                                     slot& s, const core::endpoint_directory& local) {
  if (!remote_ || !local.of(f).empty() || !remote_->runs_elsewhere(f))
    return std::nullopt;
  b->t_sent_ns = core::now_ns();
  const auto holder = remote_->forward(f, *b, remote_ref{chain, index, s.request_id}, s.holder);
  return holder == core::no_endpoint ? core::send_status::unknown_endpoint : core::send_status::ok;
}

std::variant<ticket, chain_result> gateway::start(core::chain_id chain, core::buffer_lease lease,
                                                  std::optional<core::function_id> first,
                                                  bool may_leave, completion done,
                                                  bool answer_in_buffer) {
  core::buffer_header* b = lease.get();
  const uint64_t id = b->request_id;
  auto& p = rt_.pools()[chain];
  const uint32_t index = p.index_of(b);
  slot& s = pending_[chain].slots[index];
  // The slot is idle: its buffer was free until reserve() took it.
  s.request_id = id;
  s.started_ns = b->t_ingress_ns;
  s.answer_in_buffer = answer_in_buffer;
  s.held_ns.store(0, std::memory_order_relaxed);
  s.bounces = 0;
  s.done = std::move(done);
  s.state.store(waiting, std::memory_order_release);
  in_flight_.fetch_add(1, std::memory_order_relaxed);

  core::descriptor d{core::gateway_endpoint, chain, core::tag_of(id), p.offset_of(b)};
  core::send_status st;
  std::optional<core::function_id> head = first;
  std::optional<core::send_status> remote;
  {
    core::hop_router& r = head_router();
    if (!head)
      head = r.routes.get().head(chain);
    if (head && may_leave)
      remote = try_remote(*head, b, chain, index, s, r.directory.get());
    b->t_sent_ns = core::now_ns();
    st = remote ? *remote
         : head ? r.send_to_function(*head, d, &s.holder)
                : core::send_status::unknown_endpoint;
  }
  if (st == core::send_status::ok ||
      (st == core::send_status::unknown_endpoint && head && !remote && hold(*head, d, s))) {
    lease.release_ownership();
    return ticket{chain, index, id};
  }
  // Not sent: take the slot back; the lease returns the buffer when it goes out of scope.
  s.done = nullptr;
  s.holder.store(core::no_endpoint, std::memory_order_relaxed);
  s.state.store(idle, std::memory_order_release);
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  chain_result r;
  if (st == core::send_status::backpressure) {
    r = make_result(core::http_status_of(st), "the head function of chain '" +
                                                rt_.app().chains[chain].name +
                                                "' is overloaded; retry later", id);
    r.retry_after_s = 1;
  } else if (remote) {
    r = make_result(core::http_status_of(st), "function '" + rt_.app().functions[*head].name +
                           "' runs on other nodes only, and none of them could be reached", id);
  } else {
    r = make_result(core::http_status_of(st), "no instance of " +
                           (first ? "function '" + rt_.app().functions[*head].name + "'"
                                  : "the head function") +
                           " of chain '" + rt_.app().chains[chain].name + "' is reachable (" +
                           core::to_string(st) + ")", id);
  }
  metrics_->request_done(chain, r.http_status, 0);
  return r;
}

bool gateway::complete_remote(const remote_ref& ref, chain_result r) {
  if (ref.chain >= pending_.size() || ref.slot >= pending_[ref.chain].count)
    return false;
  slot& s = pending_[ref.chain].slots[ref.slot];
  auto& p = rt_.pools()[ref.chain];
  // Only a request this gateway handed to a node: never one an instance here is working on.
  if (s.request_id != ref.request_id ||
      s.holder.load(std::memory_order_acquire) < remote_holder_base)
    return false;
  uint32_t state = s.state.load(std::memory_order_acquire);
  if (state == abandoned) {
    if (s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel)) {
      s.holder.store(core::no_endpoint, std::memory_order_relaxed);
      p.release(p.at(ref.slot));
      return true;
    }
    return false;
  }
  if (state != waiting ||
      !s.state.compare_exchange_strong(state, completing, std::memory_order_acq_rel))
    return false;
  r.request_id = s.request_id;
  complete(ref.chain, p.at(ref.slot), s, std::move(r));
  return true;
}

size_t gateway::fail_remote(core::endpoint_id holder, const std::string& why) {
  size_t failed = 0;
  for (size_t c = 0; c < pending_.size(); ++c) {
    auto& p = rt_.pools()[c];
    for (uint32_t i = 0; i < pending_[c].count; ++i) {
      slot& s = pending_[c].slots[i];
      if (s.holder.load(std::memory_order_acquire) != holder)
        continue;
      uint32_t state = s.state.load(std::memory_order_acquire);
      if (state == abandoned) {
        if (s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel)) {
          s.holder.store(core::no_endpoint, std::memory_order_relaxed);
          p.release(p.at(i)); // its client already got a 504
        }
        continue;
      }
      if (state != waiting ||
          !s.state.compare_exchange_strong(state, completing, std::memory_order_acq_rel))
        continue;
      failed++;
      complete(static_cast<core::chain_id>(c), p.at(i), s,
               make_result(502, why + " while handling this request", s.request_id));
    }
  }
  if (failed)
    spdlog::warn("gateway: failed {} in-flight request(s) held by another node: {}", failed, why);
  return failed;
}

bool gateway::abandon(const ticket& t) {
  if (t.chain >= pending_.size() || t.slot >= pending_[t.chain].count)
    return false;
  slot& s = pending_[t.chain].slots[t.slot];
  if (s.request_id != t.request_id)
    return false;
  uint32_t expected = waiting;
  if (!s.state.compare_exchange_strong(expected, abandoned, std::memory_order_acq_rel))
    return false;
  // We own the slot's completion now; the buffer stays with the chain until it comes back.
  s.done = nullptr;
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  metrics_->request_done(t.chain, 504, (core::now_ns() - s.started_ns) / 1e9);
  take_home_back(t, s);
  return true;
}

void gateway::take_home_back(const ticket& t, slot& s) {
  // Only where no other process maps the buffer (a copying transport: tcp) and it was sent to
  // an instance of this node: a held or parked request is released by its sweep, a shared or
  // in-process buffer may still be read by the instance that holds it, a remote node's answer
  // comes through complete_remote().
  if (rt_.shared_pools() || rt_.in_process_instances())
    return;
  const core::endpoint_id holder = s.holder.load(std::memory_order_acquire);
  if (holder == core::no_endpoint || holder == core::gateway_endpoint || holder >= remote_holder_base)
    return;
  // The request may never come back (a mid-chain instance killed after it took it: no process
  // that is left knows of it), and the buffer would stay in use until the head instance ends.
  // Taken back now, a late answer is refused (410) by the transport instead.
  auto& p = rt_.pools()[t.chain];
  core::buffer_header* b = p.at(t.slot);
  if (!core::take_home_back(*b, t.request_id))
    return; // an answer is being written into it: on_descriptor releases it
  uint32_t state = abandoned;
  if (s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel)) {
    s.holder.store(core::no_endpoint, std::memory_order_relaxed);
    p.release(b);
  }
}

void gateway::reject(const core::descriptor& d, const char* why) {
  metrics_->rejected_descriptor();
  spdlog::warn("gateway: rejected descriptor (pool {}, offset {}): {}", d.pool, d.offset, why);
}

void gateway::on_descriptor(const core::descriptor& d) {
  rt_.tp().consumed(core::gateway_endpoint);
  if (d.pool >= pending_.size())
    return reject(d, "unknown pool");
  // Shared pools: every sender hands the buffer over (ownership word = destination) before it
  // sends, so a descriptor for a buffer an instance still holds is forged or replayed; taking
  // it would answer the client early and free a buffer that process is still writing.
  const auto checked = core::check_descriptor(
    rt_.pools(), d,
    rt_.shared_pools() ? std::optional<uint32_t>(core::gateway_endpoint) : std::nullopt);
  if (!checked.buffer)
    return reject(d, checked.why);
  auto& p = rt_.pools()[d.pool];
  core::buffer_header* b = checked.buffer;
  slot& s = pending_[d.pool].slots[p.index_of(b)];
  uint32_t state = s.state.load(std::memory_order_acquire);
  if (state == abandoned) {
    // The client already got its 504; the chain has now let go of the buffer. A CAS: abandon()
    // may be taking a copying transport's buffer back right now (take_home_back).
    if (s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel))
      p.release(b);
    return;
  }
  if (state == waiting && b->request_id == s.request_id &&
      b->status == static_cast<uint16_t>(buffer_status::undelivered) &&
      take_undelivered(d, b, s))
    return; // never reached an instance: sent on, held or parked, but not failed for that
  if (state == waiting && b->request_id == s.request_id && park_transport_failed(d, b, s))
    return; // may have reached its instance: answered when that instance's fate is known
  if (state == waiting && rt_.routing() == core::routing_mode::broker &&
      b->status == static_cast<uint16_t>(buffer_status::ok) && b->request_id == s.request_id &&
      forward(d, b, s))
    return; // on to the next function; the request stays waiting
  if (state == waiting && b->status == static_cast<uint16_t>(buffer_status::no_instance) &&
      b->request_id == s.request_id) {
    // An instance found no instance of the next function (scaled to zero): hold it here.
    const auto next = broker_router_->routes.get().next(
      d.pool, b->function, core::fixed_field(b->topic, core::topic_capacity));
    if (next && *next != core::end_of_chain) {
      b->status = static_cast<uint16_t>(buffer_status::ok);
      core::hop_router& r = head_router();
      // Cluster mode: no instance here, but another node runs it: the request goes there.
      const auto remote = try_remote(*next, b, d.pool, p.index_of(b), s, r.directory.get());
      if (remote ? *remote == core::send_status::ok
                 : (r.send_to_function(*next, d, &s.holder) == core::send_status::ok ||
                    hold(*next, d, s)))
        return;
      b->status = static_cast<uint16_t>(buffer_status::no_instance);
    }
  }
  if (state != waiting || !s.state.compare_exchange_strong(state, completing,
                                                            std::memory_order_acq_rel)) {
    if (state == abandoned) { // lost the race against abandon() between the load and the CAS
      if (s.state.compare_exchange_strong(state, idle, std::memory_order_acq_rel))
        p.release(b);
      return;
    }
    return reject(d, "no request is waiting on this buffer (duplicate descriptor?)");
  }
  complete(d.pool, b, s, answer_of(d.pool, b, s));
  // A request left the chain, so a slot may have freed: the activator sends on what it holds
  // now, not at the control plane's next poll.
  if (activators_on_.load(std::memory_order_relaxed))
    release_held();
}

chain_result gateway::answer_of(core::chain_id chain, core::buffer_header* b, const slot& s) {
  return result_of(b, rt_.pools()[chain], s.request_id, s.answer_in_buffer);
}

bool gateway::forward(const core::descriptor& d, core::buffer_header* b, slot& s) {
  core::message m(b, rt_.pools()[d.pool].buffer_size());
  const std::string_view from =
    b->function < rt_.app().functions.size() ? std::string_view(rt_.app().functions[b->function].name)
                                             : std::string_view("?");
  core::next_hop h = core::next_function(broker_router_->routes.get(), d.pool, b->function,
                                         m.topic(), b->hop_count);
  if (h.outcome == core::hop_outcome::sent) {
    b->t_sent_ns = core::now_ns();
    if (auto remote = try_remote(h.next, b, d.pool, rt_.pools()[d.pool].index_of(b), s,
                                 broker_router_->directory.get())) {
      if (*remote == core::send_status::ok)
        return true;
      m.fail("function '" + rt_.app().functions[h.next].name +
               "' runs on other nodes only, and none of them could be reached",
             core::failure_of(core::hop_outcome::unreachable).http_status);
      b->status = static_cast<uint16_t>(core::failure_of(core::hop_outcome::unreachable).status);
      return false;
    }
    h.st = broker_router_->send_to_function(h.next, d, &s.holder);
    h.outcome = core::outcome_of(h.st);
    if (h.outcome == core::hop_outcome::sent ||
        (h.st == core::send_status::unknown_endpoint && hold(h.next, d, s)))
      return true;
    if (h.outcome == core::hop_outcome::no_instance) // cannot be held: fail it as unreachable
      h.outcome = core::hop_outcome::unreachable;
  }
  core::fail_hop(m, h, from);
  return false;
}

void gateway::complete(core::chain_id chain, core::buffer_header* b, slot& s, chain_result r) {
  completion done = std::move(s.done);
  s.done = nullptr;
  const double seconds = (core::now_ns() - s.started_ns) / 1e9;
  r.cold_start_ns = s.held_ns.exchange(0, std::memory_order_acquire);
  s.holder.store(core::no_endpoint, std::memory_order_relaxed);
  s.state.store(idle, std::memory_order_release);
  if (r.in_buffer.get() != b) // else the answer holds it until it is written out
    rt_.pools()[chain].release(b);
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  metrics_->request_done(chain, r.http_status, seconds);
  if (r.cold_start_ns)
    metrics_->cold_start_paid(chain, r.cold_start_ns / 1e9);
  if (done)
    done(std::move(r));
}

void gateway::on_instance_down(core::endpoint_id endpoint, const std::string& why) {
  fail_undelivered(endpoint, why);
  size_t failed = 0;
  const bool shared = rt_.shared_pools();
  for (size_t c = 0; c < pending_.size(); ++c) {
    auto& p = rt_.pools()[c];
    for (uint32_t i = 0; i < pending_[c].count; ++i) {
      slot& s = pending_[c].slots[i];
      if (shared) {
        // The buffer itself says who holds it (or is about to): take it back from the dead
        // instance atomically, so a racing sender or receiver sees reclaimed_owner and backs off.
        core::buffer_header* b = p.at(i);
        if (!core::reclaim(*b, endpoint))
          continue;
        uint32_t st = abandoned;
        if (s.state.compare_exchange_strong(st, idle, std::memory_order_acq_rel)) {
          p.release(b); // its client already got a 504
          continue;
        }
      } else if (s.holder.load(std::memory_order_relaxed) != endpoint) {
        continue;
      }
      uint32_t expected = waiting;
      if (!s.state.compare_exchange_strong(expected, completing, std::memory_order_acq_rel))
        continue;
      // The process that held a copy (or the buffer itself) is gone: nobody else touches it.
      failed++;
      complete(static_cast<core::chain_id>(c), p.at(i), s,
               make_result(502, why + " while handling this request", s.request_id));
    }
  }
  if (failed)
    spdlog::warn("gateway: failed {} in-flight request(s) held by endpoint {}", failed, endpoint);
}

std::string gateway::metrics_text() {
  std::string text = metrics_->render(in_flight()) + adapters_.metrics_text();
  if (extra_metrics_)
    text += extra_metrics_();
  return text;
}

} // namespace spry::gateway
