#include "core/endpoint_board.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace spry::core {

expected<endpoint_board> endpoint_board::create(uint32_t endpoints) {
  endpoint_board b;
  b.fd_ = memfd_create("spry-endpoint-board", MFD_CLOEXEC);
  if (b.fd_ < 0)
    return make_error(std::string("endpoint board: memfd_create: ") + std::strerror(errno));
  const size_t bytes = size_t{endpoints} * sizeof(endpoint_slot);
  if (ftruncate(b.fd_, static_cast<off_t>(bytes)) != 0)
    return make_error(std::string("endpoint board: ftruncate: ") + std::strerror(errno));
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, b.fd_, 0);
  if (p == MAP_FAILED)
    return make_error(std::string("endpoint board: mmap: ") + std::strerror(errno));
  b.slots_ = static_cast<endpoint_slot*>(p);
  b.count_ = endpoints;
  for (uint32_t i = 0; i < endpoints; ++i)
    new (&b.slots_[i]) endpoint_slot();
  return b;
}

expected<endpoint_board> endpoint_board::attach(int fd) {
  endpoint_board b;
  b.fd_ = fd;
  struct stat st {};
  if (fstat(fd, &st) != 0)
    return make_error(std::string("endpoint board: fstat: ") + std::strerror(errno));
  if (st.st_size <= 0 || st.st_size % sizeof(endpoint_slot) != 0)
    return make_error("endpoint board: the passed fd is not a board (size " +
                      std::to_string(st.st_size) + ")");
  void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return make_error(std::string("endpoint board: mmap: ") + std::strerror(errno));
  b.slots_ = static_cast<endpoint_slot*>(p);
  b.count_ = static_cast<uint32_t>(st.st_size / sizeof(endpoint_slot));
  return b;
}

endpoint_board& endpoint_board::operator=(endpoint_board&& o) noexcept {
  if (this != &o) {
    this->~endpoint_board();
    fd_ = o.fd_;
    count_ = o.count_;
    slots_ = o.slots_;
    o.fd_ = -1;
    o.count_ = 0;
    o.slots_ = nullptr;
  }
  return *this;
}

endpoint_board::~endpoint_board() {
  if (slots_)
    munmap(slots_, size_t{count_} * sizeof(endpoint_slot));
  if (fd_ >= 0)
    close(fd_);
  slots_ = nullptr;
  fd_ = -1;
}

void endpoint_board::completion(endpoint_id e, uint64_t exec_ns, uint64_t now_ns) noexcept {
  auto* s = slot(e);
  if (!s)
    return;
  s->busy_ns.fetch_add(exec_ns, std::memory_order_relaxed);
  size_t b = 0;
  while (b + 1 < exec_buckets && exec_ns > exec_bucket_bounds_ns[b])
    ++b;
  s->exec_histogram[b].fetch_add(1, std::memory_order_relaxed);
  // EWMA with weight 1/8: follows a change in service time within ~10 requests. Concurrent
  // writers (an instance with concurrency > 1) may lose an update; that only delays the average.
  const uint64_t old = s->ewma_exec_ns.load(std::memory_order_relaxed);
  const uint64_t next = old == 0 ? exec_ns : old - old / 8 + exec_ns / 8;
  s->ewma_exec_ns.store(next == 0 ? 1 : next, std::memory_order_relaxed);
  s->last_done_ns.store(now_ns, std::memory_order_relaxed);
  // Last: a drained queue (in_flight 0) means the request has left this instance.
  s->completions.fetch_add(1, std::memory_order_release);
}

uint32_t endpoint_board::in_flight(endpoint_id e) const noexcept {
  const auto* s = slot(e);
  if (!s)
    return 0;
  const uint64_t done = s->completions.load(std::memory_order_acquire);
  const uint64_t in = s->arrivals.load(std::memory_order_relaxed);
  return in > done ? static_cast<uint32_t>(std::min<uint64_t>(in - done, UINT32_MAX)) : 0;
}

double endpoint_board::service_time_s(endpoint_id e) const noexcept {
  const auto* s = slot(e);
  return s ? s->ewma_exec_ns.load(std::memory_order_relaxed) / 1e9 : 0;
}

void endpoint_board::reset(endpoint_id e, uint32_t concurrency) noexcept {
  auto* s = slot(e);
  if (!s)
    return;
  s->completions.store(s->arrivals.load(std::memory_order_relaxed), std::memory_order_relaxed);
  s->ewma_exec_ns.store(0, std::memory_order_relaxed);
  for (auto& b : s->exec_histogram)
    b.store(0, std::memory_order_relaxed);
  s->concurrency.store(concurrency == 0 ? 1 : concurrency, std::memory_order_relaxed);
  s->activator.store(0, std::memory_order_relaxed);
}

} // namespace spry::core
