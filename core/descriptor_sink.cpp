#include "core/descriptor_sink.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>

#include <utility>
#include <vector>

namespace spry::core {

namespace {

void enqueue(caf::abstract_actor* a, const descriptor& d) noexcept {
  // A terminated actor drops it; its endpoint was unbound first, and whatever a dead endpoint
  // held is failed or reclaimed by the gateway (on_instance_down), as before.
  a->enqueue(nullptr, caf::make_message_id(), caf::make_message(d), nullptr);
}

// Per thread: how deep inside inline handlers it is, and what those handlers delivered to
// endpoints of this process meanwhile (run in order once the outermost handler returns).
struct trampoline {
  int depth = 0;
  std::vector<std::pair<inline_sink*, descriptor>> pending;
};

thread_local trampoline tl;

} // namespace

// -- mailbox_sink ------------------------------------------------------------------------------

mailbox_sink::mailbox_sink(caf::actor a)
  : actor_(std::move(a)), raw_(caf::actor_cast<caf::abstract_actor*>(actor_)) {
}

void mailbox_sink::post(const descriptor& d) noexcept { enqueue(raw_, d); }

// -- inline_sink -------------------------------------------------------------------------------

void inline_sink::attach(caf::actor a) {
  actor_ = std::move(a);
  raw_ = caf::actor_cast<caf::abstract_actor*>(actor_);
}

bool inline_sink::in_handler() noexcept { return tl.depth > 0; }

void inline_sink::post(const descriptor& d) noexcept {
  // Counted before the enqueue: a later deliver() on any thread must see it and queue behind it.
  mailboxed_.fetch_add(1, std::memory_order_acq_rel);
  enqueue(raw_, d);
}

void inline_sink::close() noexcept {
  std::lock_guard<std::mutex> guard{run_mtx_};
  closed_ = true;
}

bool inline_sink::release() noexcept {
  handler gone;
  {
    std::unique_lock<std::mutex> guard{run_mtx_, std::try_to_lock};
    if (!guard.owns_lock())
      return false;
    closed_ = true;
    gone.swap(handler_);
  }
  return true; // `gone` is destroyed here, outside the lock: it may dlclose a library
}

void inline_sink::run_locked(const descriptor& d) noexcept {
  if (closed_)
    return;
  ++tl.depth;
  handler_(d);
  --tl.depth;
}

void inline_sink::deliver(const descriptor& d) noexcept {
  if (tl.depth > 0) {
    // Sent from inside a handler on this thread: run it after that handler has returned.
    tl.pending.emplace_back(this, d);
    return;
  }
  inline_sink* sink = this;
  descriptor next = d;
  for (size_t i = 0;; ++i) {
    bool ran = false;
    if (sink->mailboxed_.load(std::memory_order_acquire) == 0) {
      std::unique_lock<std::mutex> lock{sink->run_mtx_, std::try_to_lock};
      if (lock.owns_lock()) {
        sink->run_locked(next);
        ran = true;
      }
    }
    if (ran)
      sink->inline_.fetch_add(1, std::memory_order_relaxed);
    else
      sink->post(next); // busy (the actor or another thread runs one) or behind the mailbox
    if (i >= tl.pending.size()) {
      tl.pending.clear();
      return;
    }
    sink = tl.pending[i].first;
    next = tl.pending[i].second;
  }
}

void inline_sink::run_queued(const descriptor& d) noexcept {
  {
    std::lock_guard<std::mutex> guard{run_mtx_};
    run_locked(d);
  }
  mailboxed_.fetch_sub(1, std::memory_order_acq_rel);
  queued_.fetch_add(1, std::memory_order_relaxed);
  // What the handler sent to endpoints of this process runs now, on this worker.
  if (tl.depth == 0 && !tl.pending.empty()) {
    auto first = tl.pending.front();
    tl.pending.erase(tl.pending.begin());
    first.first->deliver(first.second);
  }
}

} // namespace spry::core
