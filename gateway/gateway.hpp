#pragma once
// The gateway's request side, independent of the wire protocol: match a request to a chain,
// reserve a pool buffer, start the chain at its head instance, and complete the request when the
// last function's descriptor comes back to endpoint 0 (or the deadline passes).
//
// Per-request state lives in a table indexed by the buffer's index in its pool: a buffer belongs
// to exactly one request at a time, so the index is a free, collision-less key, and a returning
// descriptor finds its request in O(1) without a lock. Each slot's state machine
// (idle -> waiting -> idle, or waiting -> abandoned -> idle) guarantees that a request is answered
// exactly once and that its buffer is released exactly once, whichever of response and timeout
// comes first.

#include "core/buffer_lease.hpp"
#include "gateway/adapter_set.hpp"
#include "gateway/chain_result.hpp"
#include "gateway/http_request.hpp"
#include "gateway/remote_hops.hpp"
#include "core/ids.hpp"
#include "core/instance.hpp"
#include "core/runtime.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace spry::gateway {

class gateway_metrics;


/// Called exactly once with the chain's result, from a gateway worker thread; never called for
/// a request that was abandoned (timed out) first.
using completion = std::function<void(chain_result)>;

struct ticket {
  core::chain_id chain;
  uint32_t slot;
  uint64_t request_id;
};

/// The receiver actor's own timer message: answer parked requests whose grace is over.
using sweep_atom = caf::atom_constant<caf::atom("gwsweep")>;

class gateway {
public:
  explicit gateway(core::runtime& rt);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Which chain serves (method, path); `path` excludes the query string.
  route_match match(std::string_view method, std::string_view path) const;

  /// A buffer from the chain's pool, or a 503 result when the pool is exhausted.
  std::variant<core::buffer_lease, chain_result> reserve(core::chain_id chain);

  /// Starts the chain on a buffer whose payload (length bytes) is filled in. Returns a ticket
  /// (the result will go to `done`) or an immediate result (the buffer is already released).
  /// `answer_in_buffer`: a successful answer comes with its body left in the pool buffer
  /// (chain_result::in_buffer) for a caller that writes it out from there.
  std::variant<ticket, chain_result> submit(core::chain_id chain, core::buffer_lease lease,
                                            uint32_t length, std::string_view topic,
                                            std::string_view content_type, completion done,
                                            bool answer_in_buffer = false);

  /// Cluster mode: a request that another node sent here to continue at function `start`. The
  /// payload (from.payload_length bytes, checked by the caller against the pool's buffer size) is
  /// already in the lease's buffer; the topic, content type, hop count and status come from
  /// `from`. It runs here (or waits for an instance starting here); it is not sent on to a third
  /// node at `start`, so two nodes with different directories cannot bounce it between them.
  std::variant<ticket, chain_result> submit_at(core::chain_id chain, core::buffer_lease lease,
                                               const core::buffer_header& from,
                                               core::function_id start, completion done);

  // -- cluster mode ----------------------------------------------------------------------------
  /// Where requests for functions without a local instance go (null: nowhere, as on one machine).
  /// Set once, before traffic; `r` outlives the gateway's traffic.
  void set_remote(remote_hops* r) noexcept { remote_ = r; }
  /// The answer to a request this gateway forwarded to another node came back. false (and
  /// nothing done) if `ref` names no request waiting on a node: stale, duplicate or forged.
  bool complete_remote(const remote_ref& ref, chain_result r);
  /// Node `holder` (remote_holder_base + peer) is unreachable: every request waiting on it is
  /// answered 502 with `why`; the buffers of those already answered 504 are released.
  size_t fail_remote(core::endpoint_id holder, const std::string& why);

  /// Gives up on a request (deadline passed). true if the caller must answer it (504) itself;
  /// false if the result is already on its way to `done`.
  bool abandon(const ticket& t);

  /// Requests started and not yet answered or abandoned.
  uint64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  /// An instance process is gone: every request it held is answered 502 with `why` at once.
  /// Thread-safe (called from the instance supervisor).
  void on_instance_down(core::endpoint_id endpoint, const std::string& why);

  // -- activation (scale from zero) -----------------------------------------------------------
  /// Called (outside any gateway lock) when a request of `chain` is held for a function without
  /// instances: the control plane starts one (and warms the rest of the chain). Set once, before
  /// traffic.
  void set_activation_hook(std::function<void(core::function_id, core::chain_id)> hook) {
    activate_ = std::move(hook);
  }
  /// Sends every held request whose function has an instance now; frees the buffers of held
  /// requests whose clients gave up (504). The control plane calls it after each scaling step.
  void release_held();
  /// Requests held for `f` (waiting for its first instance, or for a free slot while the
  /// activator is in its path).
  size_t held(core::function_id f) const;

  // -- the activator (KPA's target burst capacity) --------------------------------------------
  /// The control plane says whether Knative's activator is in `f`'s request path (its excess
  /// burst capacity is below zero) and marks `f`'s instances on the endpoint board. While it
  /// is, a request that finds every instance of `f` at its concurrency is held here and sent on
  /// when a slot frees (release_held) instead of queueing at an instance. Any thread.
  void set_activator(core::function_id f, bool in_path);
  bool activator_in_path(core::function_id f) const noexcept {
    return f < activator_.size() && activator_[f].load(std::memory_order_relaxed);
  }
  /// Requests of `f` held for a free slot so far (not for a cold start).
  uint64_t activator_holds(core::function_id f) const noexcept {
    return f < activator_holds_.size() ? activator_holds_[f].load(std::memory_order_relaxed) : 0;
  }

  /// More Prometheus text appended to /metrics (the control plane's), and the /status body.
  void set_extra_metrics(std::function<std::string()> f) { extra_metrics_ = std::move(f); }
  void set_status(std::function<std::string()> f) { status_ = std::move(f); }
  /// JSON for GET /status, or empty when nothing provides it.
  std::string status_text() const { return status_ ? status_() : std::string(); }

  /// Hot reload of a function library (POST /admin/libraries): the control plane's
  /// reload_library, set by the server. Admin path only; blocks for the dlopen.
  using library_reload = std::function<core::expected<std::string>(const std::string& path)>;
  void set_library_reload(library_reload f) { reload_library_ = std::move(f); }
  core::expected<std::string> reload_library(const std::string& path) const {
    if (!reload_library_)
      return core::make_error("this gateway has no control plane to restart instances with");
    return reload_library_(path);
  }

  /// The protocol adapters loaded into this gateway (HTTP and MQTT ingress take snapshots).
  adapter_set& adapters() noexcept { return adapters_; }

  // -- answers read on the caller's thread (run to completion) --------------------------------
  /// The HTTP server's I/O thread takes over reading the gateway's endpoint (see
  /// core::transport::take_delivery): a readiness fd, or -1 when the transport keeps it.
  int take_answers() { return rt_.tp().take_delivery(core::gateway_endpoint); }
  /// On the thread that took them: completes every answer waiting.
  void drain_answers() noexcept { rt_.tp().drain_owned(core::gateway_endpoint); }
  /// On that thread: the transport's receive thread reads the endpoint again.
  void return_answers() noexcept { rt_.tp().return_delivery(core::gateway_endpoint); }

  /// The calling event loop's head-hop sends go out together (core::transport::hold_sends).
  bool hold_sends() noexcept { return rt_.tp().hold_sends(); }
  void flush_sends() noexcept { rt_.tp().flush_sends(); }

  uint32_t chain_timeout_ms(core::chain_id chain) const;
  core::runtime& runtime() noexcept { return rt_; }
  gateway_metrics& stats() noexcept { return *metrics_; }
  /// Prometheus text exposition of every metric of this gateway.
  std::string metrics_text();

private:
  enum slot_state : uint32_t { idle = 0, waiting = 1, completing = 2, abandoned = 3 };
  struct slot {
    std::atomic<uint32_t> state{idle};
    std::atomic<core::endpoint_id> holder{core::no_endpoint}; // where the gateway last sent it
    uint64_t request_id = 0;
    uint64_t started_ns = 0;
    bool answer_in_buffer = false; // see submit()
    // Time held waiting for an instance (hold() to release_held()), summed over holds: the
    // cold start the request paid. Written by the releasing thread before the send, read at
    // completion on whichever thread completes; atomic because the hop between them may be a
    // shared-memory transport that no sanitizer sees as synchronisation.
    std::atomic<uint64_t> held_ns{0};
    // Times the request came back undelivered (gateway/undelivered.cpp): after a few quick
    // resends, each further one waits for the endpoint's end to be reported. Touched only by
    // on_descriptor (one at a time) and start().
    uint32_t bounces = 0;
    completion done;
  };
  struct chain_slots {
    std::unique_ptr<slot[]> slots;
    uint32_t count = 0;
  };

  void on_descriptor(const core::descriptor& d);
  /// After abandon(): takes a copying transport's home buffer back at once (core/home_buffer.hpp).
  void take_home_back(const ticket& t, slot& s);
  /// Broker routing: sends a finished hop on to the next function. true if it went out.
  bool forward(const core::descriptor& d, core::buffer_header* b, slot& s);
  /// Answers a waiting request (state already `completing`) and releases its buffer.
  void complete(core::chain_id chain, core::buffer_header* b, slot& s, chain_result r);
  void reject(const core::descriptor& d, const char* why);
  /// Holds a waiting request for function `f` until it has an instance. false: cannot (the
  /// function cannot scale from zero, or the hold limit is reached); the caller answers.
  bool hold(core::function_id f, const core::descriptor& d, slot& s);
  bool can_hold(core::function_id f) const;
  /// An instance of `f` is starting or restarting, here or (a cluster) on another node.
  bool instance_coming(core::function_id f) const;
  /// Slots of `f`'s listed instances not in use (concurrency - in flight, from the board).
  size_t free_slots(core::function_id f) const;

  // -- requests the transport could not deliver to an instance (gateway/undelivered.cpp) ------

  /// A waiting request came back with buffer_status::transport_failed: lost on its way to
  /// instance b->failed_at after that instance may have got it (a connection broken after the
  /// request was written): most likely that instance just died. It is parked until the
  /// supervisor says so (fail_undelivered, with how it ended: the same reason on every
  /// transport) or, if it does not within undelivered_grace_ms, answered with the transport's
  /// own reason; never sent again. false: not such a request (the caller completes it).
  bool park_transport_failed(const core::descriptor& d, core::buffer_header* b, slot& s);
  /// Instance `endpoint` is gone: the requests parked on it are answered with `why`; those
  /// that never reached it (take_undelivered) are made due for the sweep, which sends them on.
  /// Runs on the supervisor's thread (under its lock): sends nothing itself.
  void fail_undelivered(core::endpoint_id endpoint, const std::string& why);
  /// Answers the parked requests whose grace is over, and sends on the undelivered ones that
  /// are due (the receiver actor, on a delayed or an immediate message).
  void sweep_undelivered();
  /// A waiting request came back with buffer_status::undelivered: its transport could not hand
  /// it to instance b->failed_at, so no function started on it. It goes to another (or
  /// the restarted) instance of the function it was addressed to, or is held until one is
  /// ready (resend). While that endpoint is still listed and not reported gone, or after the
  /// request bounced a few times already, it is parked until the endpoint's end is reported
  /// (or undelivered_grace_ms passes) instead: never a tight loop against a dead endpoint.
  /// false: the function it was addressed to is unknown; the caller answers it.
  bool take_undelivered(const core::descriptor& d, core::buffer_header* b, slot& s);
  /// Sends waiting request `s` (buffer `b`, owned here) to an instance of `f` or holds it;
  /// answers it (502, or 503 on backpressure, saying why with `ended`: how the instance it
  /// was first sent to ended, if known) when neither is possible. Never on the supervisor's
  /// thread.
  void resend(const core::descriptor& d, core::buffer_header* b, slot& s, core::function_id f,
              const std::string& ended);
  /// The function an undelivered request was addressed to: the route from the function that
  /// wrote it last (the chain's head if none did), else the directory's owner of the endpoint.
  std::optional<core::function_id> addressed_to(core::chain_id chain, const core::buffer_header& b);
  /// Answers waiting request `s` with `r`, or frees its buffer if its client got a 504 meanwhile.
  void settle(core::chain_id chain, core::buffer_header* b, slot& s, chain_result r);
  /// Cluster mode: sends the request on to another node when `f` has no local instance and
  /// another node runs it. nullopt: not applicable (go local); otherwise the send's outcome.
  /// `local`: the caller's directory snapshot (a router's reader: no lock on the hot path).
  std::optional<core::send_status> try_remote(core::function_id f, core::buffer_header* b,
                                              core::chain_id chain, uint32_t index, slot& s,
                                              const core::endpoint_directory& local);
  std::variant<ticket, chain_result> start(core::chain_id chain, core::buffer_lease lease,
                                           std::optional<core::function_id> first,
                                           bool may_leave, completion done,
                                           bool answer_in_buffer = false);
  /// The answer in returned buffer `b` for waiting request `s` (in the buffer if it asked).
  chain_result answer_of(core::chain_id chain, core::buffer_header* b, const slot& s);

  core::runtime& rt_;
  adapter_set adapters_;
  std::unique_ptr<gateway_metrics> metrics_;
  std::vector<chain_slots> pending_;
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<uint64_t> in_flight_{0};
  /// The calling thread's router for head hops (and held requests): one per thread that sends
  /// them (HTTP I/O threads, MQTT, the receive thread), each with its own balancer, because
  /// balancers are single-threaded by contract and a lock around one shared router serialised
  /// every ingress thread. Made on a thread's first send; lives as long as the gateway.
  core::hop_router& head_router();
  struct head_route {
    std::unique_ptr<core::load_balancer> balancer;
    std::unique_ptr<core::hop_router> router;
  };
  const uint64_t id_; // tells this gateway's routers apart in a thread's cache (never reused)
  std::mutex head_routers_mtx_; // guards head_routers_ (taken once per thread and gateway)
  std::vector<std::unique_ptr<head_route>> head_routers_;
  // Used only by on_descriptor (broker forwarding), which sink_ runs one at a time: no lock.
  std::unique_ptr<core::load_balancer> broker_balancer_;
  std::unique_ptr<core::hop_router> broker_router_;
  std::shared_ptr<core::inline_sink> sink_; // endpoint 0: runs on_descriptor
  caf::actor receiver_;
  struct held_request {
    core::descriptor d;
    slot* s;
    uint64_t since_ns; // when hold() took it
    bool for_slot;     // held by the activator for a free slot (not a cold start)
  };
  struct undelivered {
    core::descriptor d;
    slot* s;
    uint64_t request_id;
    core::endpoint_id endpoint;
    uint64_t deadline_ns;
    // no_function: it may have reached the instance, and is answered with how that ended.
    // Otherwise it never did (take_undelivered) and is sent on to this function when due.
    core::function_id resend = core::no_function;
  };
  std::mutex undelivered_mtx_;
  std::vector<undelivered> undelivered_;
  // The last end of each instance endpoint (when, how): a failure that arrives after its
  // instance was reported gone is answered with that at once.
  std::unordered_map<core::endpoint_id, std::pair<uint64_t, std::string>> ended_;
  mutable std::mutex held_mtx_;
  std::vector<std::deque<held_request>> held_; // per function
  std::vector<std::atomic<bool>> activator_;           // per function, sized once
  std::vector<std::atomic<uint64_t>> activator_holds_; // per function, sized once
  std::atomic<uint32_t> activators_on_{0}; // functions with the activator in their path
  std::function<void(core::function_id, core::chain_id)> activate_;
  std::function<std::string()> extra_metrics_;
  std::function<std::string()> status_;
  library_reload reload_library_;
  remote_hops* remote_ = nullptr;
};

} // namespace spry::gateway
