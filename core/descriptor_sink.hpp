#pragma once
// Where a transport hands the descriptors of one bound endpoint: run-to-completion delivery.
//
// A transport takes a descriptor off its socket, ring or connection on its own receive thread
// (shm-skmsg: the epoll reader; shm-dpdk: the poller; tcp: the I/O thread) and calls
// `deliver()` there. A plain actor endpoint (`mailbox_sink`) enqueues it to the actor, and a CAF
// worker runs it later: a second thread wake-up per hop (about 30 us on a small VM when the
// worker sleeps). An `inline_sink` runs the endpoint's handler right there instead, on the
// thread that took the descriptor, the way SPRIGHT's functions and Nightcore's workers do; the
// endpoint stays a CAF actor for everything else (supervision, exit, control messages) and for
// the descriptors that cannot run inline (below).
//
// Why a guard and not a broker or a scheduler worker: CAF 0.17 brokers run on the middleman's
// one multiplexer thread (every endpoint of a process would share it, and the epoll/ring/eBPF
// sockets are not middleman connections), and a scheduler worker cannot be told to own a socket.
// A mutex per endpoint costs ~20 ns uncontended and keeps the transport's threads as they are.
//
// Rules an `inline_sink` keeps:
// - One descriptor at a time per endpoint: the receive thread and the actor (for descriptors
//   that went through its mailbox) take the same per-endpoint lock.
// - Order per sender: once one descriptor of an endpoint went to the mailbox, later ones follow
//   it there until the mailbox is drained, so none overtakes an earlier one.
// - No nesting: a handler that sends to an endpoint of this same process (transport local) does
//   not run the receiver inside itself; the descriptor waits in a per-thread queue and runs when
//   the outer handler has returned and released its lock (a trampoline), still on this thread.
// - A thread that is not a receive thread (an HTTP I/O thread calling send(), a control thread)
//   calls `post()`: it must not run user functions under its own locks or on its event loop.

#include "core/descriptor.hpp"

#include <caf/actor.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

namespace caf {
class abstract_actor;
}

namespace spry::core {

class descriptor_sink {
public:
  virtual ~descriptor_sink() = default;

  /// Receive thread: `d` (and its buffer) now belongs to the endpoint. May run the endpoint's
  /// handler on the calling thread. Never throws; blocks at most for one handler run.
  virtual void deliver(const descriptor& d) noexcept = 0;

  /// Any thread: `d` goes to the endpoint's actor mailbox (never runs here).
  virtual void post(const descriptor& d) noexcept = 0;

  /// The actor that stands for the endpoint (supervision, exit); keeps it alive.
  virtual const caf::actor& actor() const noexcept = 0;
};

/// Descriptors go to `actor`'s mailbox as `descriptor` messages (plain actor endpoints, tests,
/// functions with concurrency > 1 whose actor pool spreads them over CAF workers).
class mailbox_sink final : public descriptor_sink {
public:
  explicit mailbox_sink(caf::actor a);
  void deliver(const descriptor& d) noexcept override { post(d); }
  void post(const descriptor& d) noexcept override;
  const caf::actor& actor() const noexcept override { return actor_; }

private:
  caf::actor actor_;
  caf::abstract_actor* raw_;
};

/// Runs `handler` on the delivering thread when it can (see the rules above), else hands the
/// descriptor to the actor, whose behaviour calls `run_queued()`.
class inline_sink final : public descriptor_sink {
public:
  using handler = std::function<void(const descriptor&)>;

  explicit inline_sink(handler h) : handler_(std::move(h)) {}

  /// Sets the actor once, before the sink is bound to a transport. The actor must answer a
  /// `descriptor` message by calling run_queued() on this sink.
  void attach(caf::actor a);

  void deliver(const descriptor& d) noexcept override;
  void post(const descriptor& d) noexcept override;
  const caf::actor& actor() const noexcept override { return actor_; }

  /// The actor's side: a descriptor that came through the mailbox. Waits for the lock if the
  /// receive thread is running one meanwhile.
  void run_queued(const descriptor& d) noexcept;

  /// After close() returns, the handler is not running and never runs again (what arrives later
  /// is left to the actor's mailbox, i.e. dropped once the actor is gone). For an owner that
  /// dies before the transport: unbind, then close, then destroy what the handler uses.
  void close() noexcept;
  /// close() and destroy the handler (and what it holds: an instance's function body, which
  /// keeps its library mapped), unless the handler is running right now (a wedged function):
  /// then nothing changes and it returns false. Never blocks. Any thread, after unbind.
  bool release() noexcept;

  /// Whether the calling thread is inside some inline_sink's handler right now (transport
  /// local: its send() delivers inline only from there; from any other thread it posts).
  static bool in_handler() noexcept;

  /// Descriptors that ran on a delivering thread / went through the mailbox (tests, bench).
  uint64_t ran_inline() const noexcept { return inline_.load(std::memory_order_relaxed); }
  uint64_t ran_queued() const noexcept { return queued_.load(std::memory_order_relaxed); }

private:
  void run_locked(const descriptor& d) noexcept;

  handler handler_;
  caf::actor actor_;
  caf::abstract_actor* raw_ = nullptr;
  std::mutex run_mtx_;
  bool closed_ = false; // guarded by run_mtx_
  /// Descriptors in the mailbox and not yet run: while > 0, new ones queue behind them.
  std::atomic<uint32_t> mailboxed_{0};
  std::atomic<uint64_t> inline_{0}, queued_{0};
};

} // namespace spry::core
