#include "transports/shm-dpdk/doorbell.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace spry::transports::dpdk {

namespace {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "a futex word is 32 bits");

long futex_wait(std::atomic<uint32_t>* word, uint32_t expected, const timespec* timeout) noexcept {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, timeout,
                 nullptr, 0);
}

void futex_wake_all(std::atomic<uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

} // namespace

[[gnu::noinline]] void ring(endpoint_entry& home, int bell_fd) noexcept {
  home.doorbell.fetch_add(1, std::memory_order_seq_cst);
  if (home.wakes_by_fd.load(std::memory_order_seq_cst) && bell_fd >= 0) {
    // The sleeper waits in epoll on the eventfd, not on the futex. Its counter is never read
    // back: the waiter's epoll is edge-triggered, and every write raises an edge.
    const uint64_t one = 1;
    (void)!write(bell_fd, &one, sizeof one);
    return;
  }
  futex_wake_all(&home.doorbell);
}

namespace detail {

uint32_t announce_sleep(endpoint_entry& home) noexcept {
  // In this order: see "Why no wake-up is lost" in doorbell.hpp.
  const uint32_t bell = home.doorbell.load(std::memory_order_seq_cst);
  home.asleep.store(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return bell;
}

sleep_outcome wait_for_ring(endpoint_entry& home, uint32_t bell, long timeout_ns) noexcept {
  const timespec timeout{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
  if (futex_wait(&home.doorbell, bell, &timeout) == 0)
    return {sleep_outcome::rung};
  const int err = errno;
  if (err == ETIMEDOUT)
    return {sleep_outcome::timed_out};
  if (err == EAGAIN || err == EINTR) // rung before it slept, or a signal: poll again
    return {sleep_outcome::rung};
  return {sleep_outcome::failed, err};
}

} // namespace detail

} // namespace spry::transports::dpdk
