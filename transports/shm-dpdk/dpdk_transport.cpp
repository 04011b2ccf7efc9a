// The shm-dpdk transport object: endpoints, sending, polling, delivery on an owner's event loop,
// and the fault paths. How it is created (EAL, rings, the node's eventfd): dpdk_setup.cpp.

#include "transports/shm-dpdk/dpdk_transport.hpp"

#include "core/buffer_owner.hpp"
#include "core/clock.hpp"
#include "core/descriptor.hpp"
#include "core/pool.hpp"
#include "core/spare_thread.hpp"
#include "transports/shm-dpdk/doorbell.hpp"
#include "transports/shm-dpdk/dpdk_setup.hpp"
#include "transports/shm-dpdk/eal.hpp"
#include "transports/shm-dpdk/endpoint_rings.hpp"
#include "transports/shm-dpdk/held_wakes.hpp"
#include "transports/shm-dpdk/poller_idle.hpp"

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <ctime>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace spry::transports::dpdk {

using core::endpoint_id;
using core::send_status;

namespace {

constexpr unsigned burst_size = 32;
bool process_gone(pid_t pid) { return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH; }

/// CLOCK_MONOTONIC_COARSE in nanoseconds: the same clock as core::now_ns(), at the kernel
/// tick's resolution.
uint64_t coarse_now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// What this process knows about an endpoint bound in it.
struct alignas(64) local_slot {
  std::atomic<core::descriptor_sink*> receiver{nullptr};
  // Delivered by its owner's event loop (take_delivery), not by the poller: the poller skips it.
  std::atomic<bool> owned{false};
};

class dpdk_transport final : public core::transport {
public:
  dpdk_transport(const core::transport_context& ctx, const dpdk_settings& s, eal* e, uint64_t generation,
                 endpoint_rings rings, int bell_fd)
    : pools_(ctx.pools),
      capacity_(ctx.queue_capacity),
      eal_(e),
      primary_(e->primary()),
      idle_(idle_mode_of(s.spec.idle)),
      spin_ns_(uint64_t{s.spec.spin_us} * 1000),
      generation_(generation),
      rings_(std::move(rings)),
      entries_(rings_.entries()),
      endpoints_(rings_.size()),
      slots_(new local_slot[endpoints_]),
      local_(new endpoint_id[endpoints_]),
      bell_fd_(bell_fd) {
  }

  ~dpdk_transport() override {
    stop();
    if (primary_) {
      rings_.free(); // the node created them; instances are gone by now (the runtime stops them first)
      close(bell_fd_); // an instance's copy is the inherited fd, closed with its process
    }
  }

  std::string_view name() const noexcept override { return "shm-dpdk"; }

  int instance_fd() const override { return primary_ ? bell_fd_ : -1; }

  std::string instance_parameters() const override {
    return "prefix:" + eal_->file_prefix() + "/gen:" + std::to_string(generation_) +
           "/table:" + std::to_string(rings_.address());
  }

  // -- endpoints -------------------------------------------------------------------------------

  core::status_or_error bind(endpoint_id id, std::shared_ptr<core::descriptor_sink> receiver) override {
    std::lock_guard<std::mutex> guard{control_};
    if (stopped_.load())
      return core::make_error("shm-dpdk: stopped");
    if (id >= endpoints_)
      return core::make_error("shm-dpdk: endpoint " + std::to_string(id) + " is out of range (the "
                              "app has " + std::to_string(endpoints_) + " endpoint rings)");
    if (!receiver || !receiver->actor())
      return core::make_error("shm-dpdk: endpoint " + std::to_string(id) + " bound to an invalid actor");
    auto& s = slots_[id];
    auto& e = entries_[id];
    if (s.receiver.load())
      return core::make_error("shm-dpdk: endpoint " + std::to_string(id) + " is already bound");
    s.owned.store(false);
    // Another process's pid may still be recorded here: an instance that died before the node
    // cleared it. The node's supervisor runs one process per endpoint at a time, so that pid is
    // stale (and may even belong to an unrelated process by now): take the endpoint over.
    e.depth.reset();
    e.seen.store(1);
    // The poller's home: the first endpoint this transport binds, kept for its life (see
    // endpoint_table.hpp). Published before pid, so a sender that finds the endpoint bound
    // finds where to ring.
    if (!poller_.joinable())
      home_ = id; // its first endpoint, or the first after an owner took the last one over
    e.poller.store(home_, std::memory_order_release);
    s.receiver.store(receiver.get(), std::memory_order_release);
    keep_alive_.push_back(std::move(receiver));
    const uint32_t n = local_count_.load(std::memory_order_relaxed);
    if (std::find(local_.get(), local_.get() + n, id) == local_.get() + n) {
      local_[n] = id;
      local_count_.store(n + 1, std::memory_order_release);
    }
    // Senders may use the endpoint from here on: its ring is polled (or will be, below).
    e.pid.store(getpid(), std::memory_order_release);
    if (!poller_.joinable())
      start_poller();
    else
      // An asleep poller does not know of this endpoint until something wakes it, and its ring
      // may hold descriptors already (queued for an earlier binder, or by a sender that found
      // a stale pid and rang that binder's poller): one round now looks at them.
      kick_poller();
    return {};
  }

  void unbind(endpoint_id id) noexcept override {
    std::lock_guard<std::mutex> guard{control_};
    if (id >= endpoints_ || !slots_[id].receiver.load())
      return;
    entries_[id].pid.store(0, std::memory_order_release); // new sends: unknown_endpoint
    slots_[id].receiver.store(nullptr, std::memory_order_seq_cst);
    // The ring has one consumer. Once the poller has finished the round that may still have
    // seen the receiver, this thread is it, and returns what senders queued meanwhile.
    wait_for_poller_round();
    drain(id, "it was unbound");
  }

  // -- peers -----------------------------------------------------------------------------------

  void remove_peer(endpoint_id id) noexcept override {
    // Node side, after the supervisor reaped an instance process (or stopped one on purpose).
    if (!primary_ || id >= endpoints_ || slots_[id].receiver.load())
      return;
    std::lock_guard<std::mutex> guard{control_};
    auto& e = entries_[id];
    const int32_t pid = e.pid.load();
    if (pid != 0 && !process_gone(pid))
      return; // still alive: the ring is its own
    e.pid.store(0, std::memory_order_release);
    rings_.release_dead_claims([this](endpoint_id r) { wake_poller_of(entries_[r]); });
    // A sender killed between its enqueue and its ring left a descriptor no wake-up announces.
    // A poller finds it at its sleep's safety timeout; an event loop that owns its endpoint has
    // none, so it is rung here.
    ring_owners();
    drain(id, "its instance is gone");
    e.depth.reset();
    eal_->forget_secondary(pid);
  }

  // -- data path -------------------------------------------------------------------------------

  send_status send_forged(const core::descriptor& d) noexcept override {
    if (stopped_.load(std::memory_order_relaxed))
      return send_status::closed;
    if (d.dst >= endpoints_)
      return send_status::unknown_endpoint;
    core::descriptor copy = d;
    if (rte_ring_mp_enqueue_elem(rings_.ring(d.dst), &copy, sizeof copy) != 0)
      return send_status::backpressure;
    wake_poller_of(entries_[d.dst]);
    return send_status::ok;
  }

  // An event loop that starts many requests per turn (the gateway's I/O thread): one ring per
  // sleeping poller per turn (held_wakes.hpp); the descriptors themselves go at once.
  bool hold_sends() noexcept override { return held_wakes::begin(this); }

  void flush_sends() noexcept override {
    if (held_wakes* held = held_wakes::of(this))
      held->end([this](uint32_t home) { ring_held(home); });
  }

  // -- delivery on the owner's event loop ------------------------------------------------------
  // The gateway's HTTP I/O thread reads the gateway endpoint's ring itself, so an answer is
  // written by the thread that takes it off the ring: no poller, no hand-off to the I/O thread.
  // It waits in epoll on an eventfd the node made and every instance inherited (instance_fd);
  // it announces that wait with the doorbell protocol (doorbell.hpp) on its endpoint's entry,
  // and senders that find the announcement write the eventfd instead of waking a futex
  // (wakes_by_fd). Only the node (which made the eventfd) and only while the endpoint is the
  // only one this process polls: the poller thread then stops, and starts again on
  // return_delivery() or when another endpoint is bound here.

  int take_delivery(endpoint_id id) override {
    std::lock_guard<std::mutex> guard{control_};
    if (!primary_ || bell_fd_ < 0 || stopped_.load() || id >= endpoints_ ||
        !slots_[id].receiver.load() || slots_[id].owned.load())
      return -1;
    const uint32_t n = local_count_.load();
    for (uint32_t i = 0; i < n; ++i)
      if (local_[i] != id && slots_[local_[i]].receiver.load())
        return -1; // the poller has other endpoints to serve: it keeps this one too
    stop_poller();
    auto& e = entries_[id];
    slots_[id].owned.store(true);
    // Its own home from now on, rung by the eventfd. Set before the owner's first drain
    // announces a wait: a sender that sees that announcement sees this too.
    e.wakes_by_fd.store(1, std::memory_order_seq_cst);
    e.poller.store(id, std::memory_order_seq_cst);
    return bell_fd_;
  }

  void drain_owned(endpoint_id id) noexcept override {
    if (id >= endpoints_ || !slots_[id].owned.load(std::memory_order_relaxed))
      return;
    auto* receiver = slots_[id].receiver.load(std::memory_order_acquire);
    if (!receiver)
      return;
    auto& e = entries_[id];
    // Reset the eventfd before looking at the ring: a write after this read makes it readable
    // again. Left readable, it would wake the owner at once on every wait (asio re-arms the
    // descriptor with EPOLL_CTL_MOD, which reports a readable one again).
    uint64_t rung;
    (void)!read(bell_fd_, &rung, sizeof rung);
    core::descriptor burst[burst_size];
    for (;;) {
      const unsigned n = rte_ring_sc_dequeue_burst_elem(rings_.ring(id), burst,
                                                        sizeof(core::descriptor), burst_size, nullptr);
      for (unsigned k = 0; k < n; ++k)
        deliver(id, e, receiver, burst[k]);
      if (n == burst_size)
        continue;
      // Empty: announce the wait in epoll, then look once more (the poller's protocol, with
      // the eventfd for the futex): a descriptor enqueued after this look finds the
      // announcement and writes the eventfd.
      (void)detail::announce_sleep(e);
      if (rte_ring_count(rings_.ring(id)) == 0)
        return;
    }
  }

  void return_delivery(endpoint_id id) noexcept override {
    std::lock_guard<std::mutex> guard{control_};
    if (id >= endpoints_ || !slots_[id].owned.load())
      return;
    auto& e = entries_[id];
    slots_[id].owned.store(false);
    e.poller.store(home_, std::memory_order_seq_cst);
    e.wakes_by_fd.store(0, std::memory_order_seq_cst);
    if (stopped_.load())
      return;
    // The poller's first round looks at the ring before any sleep: what arrived after the
    // owner's last drain is delivered by it. One may run already (another endpoint was bound
    // meanwhile): it learns of this one at its next round, which the kick starts now.
    if (!poller_.joinable())
      start_poller();
    else
      kick_poller();
  }

  send_status send(const core::descriptor& d) noexcept override {
    if (stopped_.load(std::memory_order_relaxed))
      return reject(send_status::closed);
    if (d.dst >= endpoints_)
      return reject(send_status::unknown_endpoint);
    auto& e = entries_[d.dst];
    if (e.pid.load(std::memory_order_acquire) == 0) {
      e.bounced.fetch_add(1, std::memory_order_relaxed);
      return reject(send_status::unknown_endpoint);
    }
    core::buffer_header* b = buffer_of(d);
    if (!b)
      return reject(send_status::invalid);
    // Ownership moves with the descriptor; a buffer the gateway reclaimed from a dead instance
    // is not ours to send (same protocol as every shared-memory transport).
    uint32_t owner = 0;
    if (!core::hand_over(*b, d.dst, owner))
      return reject(send_status::invalid);
    core::descriptor copy = d;
    // Exactly one element per enqueue: release_dead_claims() relies on it.
    if (rte_ring_mp_enqueue_elem(rings_.ring(d.dst), &copy, sizeof copy) != 0) {
      core::give_back(*b, d.dst, owner);
      e.bounced.fetch_add(1, std::memory_order_relaxed);
      return reject(send_status::backpressure);
    }
    wake_poller_of(e);
    sent_.fetch_add(1, std::memory_order_relaxed);
    return send_status::ok;
  }

  void consumed(endpoint_id id) noexcept override {
    if (id >= endpoints_)
      return;
    auto& e = entries_[id];
    // A poller leaves descriptors in the ring of an endpoint at capacity and may fall asleep
    // with them there: the consumption that makes room wakes it (the same protocol as a send,
    // with the depth in place of the ring).
    if (e.depth.remove() + 1 >= capacity_)
      wake_poller_of(e);
  }

  uint32_t queue_depth(endpoint_id id) const noexcept override {
    // Shared: the Q_i of an endpoint in another process is as visible as a local one's.
    return id < endpoints_ ? entries_[id].depth.get() : 0;
  }

  core::transport_stats stats() const noexcept override {
    return {sent_.load(), delivered_.load(), rejected_.load()};
  }

  std::vector<core::endpoint_traffic> traffic() const override {
    std::vector<core::endpoint_traffic> out;
    for (endpoint_id id = 0; id < endpoints_; ++id) {
      const auto& e = entries_[id];
      if (!e.seen.load(std::memory_order_relaxed))
        continue;
      core::endpoint_traffic t{};
      t.endpoint = id;
      t.messages = e.messages.load(std::memory_order_relaxed);
      t.bytes = t.messages * sizeof(core::descriptor);
      t.last_ns = e.last_ns.load(std::memory_order_relaxed);
      t.bounced = e.bounced.load(std::memory_order_relaxed);
      t.queued = rings_.slots_in_use(id);
      out.push_back(t);
    }
    return out;
  }

  void stop() noexcept override {
    {
      std::lock_guard<std::mutex> guard{control_};
      if (stopped_.exchange(true))
        return;
    }
    stopping_.store(true);
    stop_poller();
    const uint32_t n = local_count_.load();
    for (uint32_t i = 0; i < n; ++i) {
      const endpoint_id id = local_[i];
      slots_[id].receiver.store(nullptr);
      int32_t mine = getpid();
      entries_[id].pid.compare_exchange_strong(mine, 0);
    }
  }

private:
  send_status reject(send_status s) noexcept {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }

  core::buffer_header* buffer_of(const core::descriptor& d) const noexcept {
    if (!pools_ || d.pool >= pools_->size())
      return nullptr;
    return (*pools_)[d.pool].resolve(d.offset);
  }

  // -- polling ---------------------------------------------------------------------------------

  // Control thread (control_ held).
  void start_poller() {
    pausing_.store(false);
    poller_.start([this] { poll_loop(); });
  }

  // Control thread: the poller has finished its last round when this returns.
  void stop_poller() noexcept {
    if (!poller_.joinable())
      return;
    pausing_.store(true, std::memory_order_seq_cst);
    kick_poller(); // it may be asleep; it checks pausing_ after announcing that it sleeps
    poller_.join();
  }

  bool leaving() const noexcept {
    return stopping_.load(std::memory_order_seq_cst) || pausing_.load(std::memory_order_seq_cst);
  }

  void poll_loop() {
    pthread_setname_np(pthread_self(), "spry-dpdk-poll");
    if (const auto& cpus = eal_->poller_cpus())
      pthread_setaffinity_np(pthread_self(), sizeof *cpus, &*cpus);
    core::descriptor burst[burst_size];
    poller_idle idle(idle_, spin_ns_, entries_[home_]);
    // Asked after an adaptive poller announced a sleep: see doorbell.hpp.
    auto has_work = [this] { return leaving() || work_waiting(); };
    auto ring = [this](uint32_t home) { ring_held(home); };
    while (!stopping_.load(std::memory_order_relaxed) && !pausing_.load(std::memory_order_relaxed)) {
      rounds_.fetch_add(1, std::memory_order_seq_cst);
      unsigned got = 0;
      const uint32_t n = local_count_.load(std::memory_order_acquire);
      // The round's sends ring each sleeping poller once, at its end (held_wakes.hpp).
      const bool held = held_wakes::begin(this);
      for (uint32_t i = 0; i < n; ++i)
        got += poll_one(local_[i], burst);
      if (held)
        held_wakes::of(this)->end(ring);
      if (got)
        idle.busy();
      else
        idle.empty_round(has_work);
    }
  }

  // -- sleeping and waking (idle: adaptive; the protocol is in doorbell.hpp) -----------------

  // Any thread, after putting a descriptor in the ring of the endpoint `e` (or making room for
  // one): wakes its poller if it sleeps.
  void wake_poller_of(endpoint_entry& e) noexcept {
    // `poller` is written at bind, before the pid that let the sender in: no fence needed
    // before this load (wake_if_asleep has the protocol's, before it reads `asleep`).
    const uint32_t home = e.poller.load(std::memory_order_acquire);
    if (home >= endpoints_)
      return; // written by another process: never trusted as an index unchecked
    if (held_wakes* held = held_wakes::of(this); held && held->add(home))
      return; // rung at the end of this thread's round (held_wakes.hpp)
    wake_if_asleep(entries_[home], bell_fd_);
  }

  void ring_held(uint32_t home) noexcept { wake_if_asleep(entries_[home], bell_fd_); }

  // Control threads: make this transport's poller run a round now, asleep or not.
  void kick_poller() noexcept {
    if (home_ < endpoints_)
      ring(entries_[home_], bell_fd_);
  }

  // Control thread: rings every endpoint an event loop owns, announced or not.
  void ring_owners() noexcept {
    const uint32_t n = local_count_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < n; ++i)
      if (slots_[local_[i]].owned.load())
        ring(entries_[local_[i]], bell_fd_);
  }

  // Whether a local endpoint has descriptors its poller would take now (receiver bound, room
  // below capacity).
  bool work_waiting() const noexcept {
    const uint32_t n = local_count_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < n; ++i) {
      const endpoint_id id = local_[i];
      if (slots_[id].owned.load(std::memory_order_relaxed))
        continue;
      if (slots_[id].receiver.load(std::memory_order_seq_cst) && rte_ring_count(rings_.ring(id)) > 0 &&
          entries_[id].depth.get() < capacity_)
        return true;
    }
    return false;
  }

  unsigned poll_one(endpoint_id id, core::descriptor* burst) noexcept {
    auto* receiver = slots_[id].receiver.load(std::memory_order_seq_cst);
    if (!receiver || slots_[id].owned.load(std::memory_order_relaxed))
      return 0;
    auto& e = entries_[id];
    const uint32_t depth = e.depth.get();
    if (depth >= capacity_)
      return 0; // the actor is behind: leave the rest in the ring, which pushes back on senders
    const unsigned want = std::min<uint32_t>(burst_size, capacity_ - depth);
    const unsigned n =
      rte_ring_sc_dequeue_burst_elem(rings_.ring(id), burst, sizeof(core::descriptor), want, nullptr);
    held_wakes* held = held_wakes::of(this);
    for (unsigned k = 0; k < n; ++k) {
      deliver(id, e, receiver, burst[k]);
      if (held && held->due())
        held->flush([this](uint32_t home) { ring_held(home); });
    }
    return n;
  }

  void deliver(endpoint_id id, endpoint_entry& e, core::descriptor_sink* receiver,
               const core::descriptor& d) noexcept {
    // A descriptor whose buffer is no longer on its way here (the gateway reclaimed it from a
    // dead sender, or it was left by an earlier life of this endpoint) is dropped untouched.
    if (d.dst != id) {
      drop(e);
      return;
    }
    if (core::buffer_header* b = buffer_of(d))
      if (__atomic_load_n(&b->owner, __ATOMIC_ACQUIRE) != id) {
        drop(e);
        return;
      }
    e.depth.add();
    // One writer each (this endpoint's poller; this transport's poller): no locked add. And the
    // coarse clock: a tick's precision is plenty for "last delivered", and reading it skips the
    // TSC read and scaling of CLOCK_MONOTONIC, which showed in the inline hop (hop benchmark).
    e.messages.store(e.messages.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    e.last_ns.store(coarse_now_ns(), std::memory_order_relaxed);
    delivered_.store(delivered_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // Run to completion: an instance runs its function here, on the poller thread.
    receiver->deliver(d);
  }

  void drop(endpoint_entry& e) noexcept {
    e.bounced.fetch_add(1, std::memory_order_relaxed);
    rejected_.fetch_add(1, std::memory_order_relaxed);
  }

  void wait_for_poller_round() noexcept {
    if (!poller_.joinable() || stopping_.load())
      return;
    const uint64_t seen = rounds_.load(std::memory_order_seq_cst);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (rounds_.load(std::memory_order_seq_cst) <= seen &&
           std::chrono::steady_clock::now() < deadline) {
      // Rung on every turn: a poller that read the doorbell before the first ring may have
      // gone to sleep after it.
      kick_poller();
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  // -- faults ----------------------------------------------------------------------------------

  // Control thread, as the only consumer of ring `id`: every descriptor still in it goes back to
  // the gateway undelivered, so nothing waits for an endpoint that will not read. `why` (why the
  // endpoint will not read) is only logged: the gateway decides what becomes of the requests.
  [[gnu::noinline]] void drain(endpoint_id id, const char* why) noexcept {
    core::descriptor burst[burst_size];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst_elem(rings_.ring(id), burst, sizeof(core::descriptor),
                                               burst_size, nullptr)) > 0)
      for (unsigned k = 0; k < n; ++k)
        fail_back(burst[k], id, why);
  }

  [[gnu::noinline]] void fail_back(core::descriptor d, endpoint_id id, const char* why) noexcept {
    drop(entries_[id]);
    core::buffer_header* b = buffer_of(d);
    if (!b || d.dst != id)
      return; // names no buffer of ours: nothing to return
    // Take the buffer back from the unreachable endpoint, unless the gateway already did.
    if (!core::give_back(*b, id, core::gateway_endpoint))
      return;
    core::pool& p = (*pools_)[d.pool];
    if (id == core::gateway_endpoint) {
      spdlog::warn("shm-dpdk: request {} cannot reach the gateway ({}); its buffer is released",
                   b->request_id, why);
      p.release(b);
      return;
    }
    // Still in the ring: the endpoint's instance never took it. It goes back to the gateway as
    // it was, payload intact, to be sent to another instance of the same function or held for
    // one (buffer_status::undelivered), not failed here.
    core::mark_undelivered(*b, id);
    d.dst = core::gateway_endpoint;
    if (auto* gw = slots_[core::gateway_endpoint].receiver.load(std::memory_order_acquire)) {
      auto& g = entries_[core::gateway_endpoint];
      g.depth.add();
      // A control thread (unbind, a dead instance's ring): the gateway's actor runs it.
      gw->post(d);
      return;
    }
    if (send(d) != send_status::ok) {
      spdlog::warn("shm-dpdk: request {} cannot be returned to the gateway; released",
                   b->request_id);
      p.release(b);
    }
  }

  std::vector<core::pool>* pools_;
  uint32_t capacity_;
  eal* eal_;
  bool primary_;
  idle_mode idle_;
  uint64_t spin_ns_;
  uint64_t generation_;
  endpoint_rings rings_;
  endpoint_entry* entries_; // rings_.entries(), rings_.size(): read on every send
  uint32_t endpoints_;
  std::unique_ptr<local_slot[]> slots_;
  // Endpoints bound in this process, in bind order; the poller reads the first local_count_.
  std::unique_ptr<endpoint_id[]> local_;
  std::atomic<uint32_t> local_count_{0};
  core::spare_thread poller_; // the first a parked one in an instance that was a spare
  endpoint_id home_ = ~endpoint_id{0}; // set before the poller starts, then fixed
  std::atomic<uint64_t> rounds_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> pausing_{false}; // the poller stops for an owner (take_delivery)
  std::atomic<bool> stopped_{false};
  std::mutex control_;
  std::vector<std::shared_ptr<core::descriptor_sink>> keep_alive_;
  // The node's eventfd that rings an event loop owning an endpoint (see take_delivery); made by
  // the node, inherited by every instance. -1: none (a bare instance transport, the hop bench).
  int bell_fd_;
  std::atomic<uint64_t> sent_{0}, delivered_{0}, rejected_{0};
};
} // namespace

std::unique_ptr<core::transport> make_dpdk_transport(const core::transport_context& ctx,
                                                     const dpdk_settings& s, eal* e,
                                                     uint64_t generation, endpoint_rings rings,
                                                     int bell_fd) {
  return std::make_unique<dpdk_transport>(ctx, s, e, generation, std::move(rings), bell_fd);
}

} // namespace spry::transports::dpdk
