#include "core/pool.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/memfd.h>
#include <utility>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace spry::core {

namespace {

constexpr uint32_t pool_magic = 0x59525053; // "SPRY"
constexpr uint32_t pool_layout_version = 1;
constexpr uint32_t nil_index = UINT32_MAX;
constexpr size_t huge_page_size = 2u << 20;

enum slot_state : uint32_t { slot_free = 0, slot_in_use = 1 };

// Per-buffer bookkeeping, kept apart from the buffers so a function that scribbles past its
// payload cannot corrupt the free list of its neighbour.
struct slot {
  std::atomic<uint32_t> next;
  std::atomic<uint32_t> state;
};

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "the cross-process free list needs lock-free 64-bit atomics");
static_assert(std::atomic<uint32_t>::is_always_lock_free);

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

uint64_t pack(uint32_t index, uint32_t tag) { return (uint64_t{tag} << 32) | index; }
uint32_t index_part(uint64_t head) { return static_cast<uint32_t>(head); }
uint32_t tag_part(uint64_t head) { return static_cast<uint32_t>(head >> 32); }

} // namespace

// The control block at offset 0 of the mapping. Immutable fields first, then the hot atomics on
// their own cache lines so allocating processes do not false-share with readers of the layout.
struct pool_control {
  uint32_t magic;
  uint32_t version;
  uint32_t buffer_count;
  uint32_t buffer_size;
  uint64_t stride;
  uint64_t slots_offset;
  uint64_t data_offset;
  uint64_t mapping_size;
  alignas(64) std::atomic<uint64_t> free_head; // (tag << 32) | index
  alignas(64) std::atomic<uint32_t> in_use;
  std::atomic<uint32_t> high_water;
  std::atomic<uint64_t> allocs;
  std::atomic<uint64_t> alloc_failures;
};

namespace {

slot* slots_of(char* base, const pool_control* c) {
  return reinterpret_cast<slot*>(base + c->slots_offset);
}

} // namespace

expected<pool> pool::create(const pool_options& opts) {
  if (opts.buffer_count == 0 || opts.buffer_count >= nil_index)
    return make_error("pool '" + opts.name + "': buffer_count must be between 1 and 2^32-2");
  if (opts.buffer_size == 0)
    return make_error("pool '" + opts.name + "': buffer_size must be at least 1 byte");
  const size_t stride = align_up(sizeof(buffer_header) + opts.buffer_size, 64);
  const size_t slots_offset = align_up(sizeof(pool_control), 64);
  const size_t data_offset = align_up(slots_offset + sizeof(slot) * opts.buffer_count, 64);
  size_t size = data_offset + stride * opts.buffer_count;

  pool p;
  void* mem = MAP_FAILED;
  if (opts.try_hugepages) {
    int fd = memfd_create(opts.name.c_str(), MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);
    if (fd >= 0) {
      const size_t hsize = align_up(size, huge_page_size);
      if (ftruncate(fd, static_cast<off_t>(hsize)) == 0)
        mem = mmap(nullptr, hsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      if (mem != MAP_FAILED) {
        p.fd_ = fd;
        p.hugepages_ = true;
        size = hsize;
      } else {
        close(fd);
      }
    }
  }
  if (mem == MAP_FAILED) {
    int fd = memfd_create(opts.name.c_str(), MFD_CLOEXEC);
    if (fd < 0)
      return make_error("pool '" + opts.name + "': memfd_create failed: " + strerror(errno));
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
      int e = errno;
      close(fd);
      return make_error("pool '" + opts.name + "': cannot size shared memory to " +
                        std::to_string(size) + " bytes: " + strerror(e));
    }
    mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (mem == MAP_FAILED) {
      int e = errno;
      close(fd);
      return make_error("pool '" + opts.name + "': mmap of " + std::to_string(size) +
                        " bytes failed: " + strerror(e));
    }
    p.fd_ = fd;
  }
  spdlog::debug("pool '{}': {} buffers x {} B in {} ({} KiB)", opts.name, opts.buffer_count,
                opts.buffer_size, p.hugepages_ ? "hugepage memfd" : "plain memfd (no hugepages)",
                size / 1024);
  p.base_ = static_cast<char*>(mem);
  p.size_ = size;
  auto* c = new (p.base_) pool_control{};
  c->magic = pool_magic;
  c->version = pool_layout_version;
  c->buffer_count = opts.buffer_count;
  c->buffer_size = opts.buffer_size;
  c->stride = stride;
  c->slots_offset = slots_offset;
  c->data_offset = data_offset;
  c->mapping_size = size;
  slot* s = slots_of(p.base_, c);
  for (uint32_t i = 0; i < opts.buffer_count; ++i) {
    new (&s[i]) slot{};
    s[i].next.store(i + 1 < opts.buffer_count ? i + 1 : nil_index, std::memory_order_relaxed);
    s[i].state.store(slot_free, std::memory_order_relaxed);
  }
  c->free_head.store(pack(0, 0), std::memory_order_release);
  p.ctl_ = c;
  return p;
}

expected<pool> pool::attach(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0)
    return make_error(std::string("pool attach: bad fd: ") + strerror(errno));
  if (static_cast<size_t>(st.st_size) < sizeof(pool_control))
    return make_error("pool attach: fd is too small to be a spry pool");
  const size_t size = static_cast<size_t>(st.st_size);
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return make_error(std::string("pool attach: dup failed: ") + strerror(errno));
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
  if (mem == MAP_FAILED) {
    int e = errno;
    close(own);
    return make_error(std::string("pool attach: mmap failed: ") + strerror(e));
  }
  pool p;
  p.fd_ = own;
  p.base_ = static_cast<char*>(mem);
  p.size_ = size;
  auto* c = reinterpret_cast<pool_control*>(p.base_);
  p.ctl_ = c;
  const bool sane = c->magic == pool_magic && c->version == pool_layout_version &&
                    c->mapping_size == size && c->buffer_count > 0 &&
                    c->stride >= sizeof(buffer_header) + c->buffer_size &&
                    c->data_offset + c->stride * c->buffer_count <= size &&
                    c->slots_offset + sizeof(slot) * c->buffer_count <= c->data_offset;
  if (!sane)
    return make_error("pool attach: fd does not hold a spry pool of layout version " +
                      std::to_string(pool_layout_version));
  p.hugepages_ = (size % huge_page_size) == 0 && st.st_blksize == static_cast<long>(huge_page_size);
  return p;
}

pool::pool(pool&& other) noexcept { *this = std::move(other); }

pool& pool::operator=(pool&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    hugepages_ = other.hugepages_;
    size_ = std::exchange(other.size_, 0);
    base_ = std::exchange(other.base_, nullptr);
    ctl_ = std::exchange(other.ctl_, nullptr);
  }
  return *this;
}

pool::~pool() { reset(); }

void pool::reset() noexcept {
  if (base_)
    munmap(base_, size_);
  if (fd_ >= 0)
    close(fd_);
  base_ = nullptr;
  ctl_ = nullptr;
  fd_ = -1;
}

buffer_header* pool::alloc() noexcept {
  slot* s = slots_of(base_, ctl_);
  uint64_t head = ctl_->free_head.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t idx = index_part(head);
    if (idx == nil_index) {
      ctl_->alloc_failures.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    // Reading next of a slot another thread may pop concurrently is fine: the slot memory stays
    // mapped, and the tag makes the CAS below fail if the head moved in between (ABA).
    const uint32_t next = s[idx].next.load(std::memory_order_relaxed);
    if (ctl_->free_head.compare_exchange_weak(head, pack(next, tag_part(head) + 1),
                                              std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
      s[idx].state.store(slot_in_use, std::memory_order_release);
      const uint32_t used = ctl_->in_use.fetch_add(1, std::memory_order_relaxed) + 1;
      uint32_t hw = ctl_->high_water.load(std::memory_order_relaxed);
      while (used > hw && !ctl_->high_water.compare_exchange_weak(hw, used,
                                                                   std::memory_order_relaxed)) {
      }
      ctl_->allocs.fetch_add(1, std::memory_order_relaxed);
      auto* b = reinterpret_cast<buffer_header*>(base_ + ctl_->data_offset + idx * ctl_->stride);
      std::memset(static_cast<void*>(b), 0, sizeof(buffer_header));
      return b;
    }
  }
}

bool pool::release(buffer_header* b) noexcept {
  const uint32_t idx = index_of(b);
  if (idx == nil_index)
    return false;
  slot* s = slots_of(base_, ctl_);
  uint32_t expected_state = slot_in_use;
  // The state CAS makes release idempotent-safe: of two racing releases only one wins.
  if (!s[idx].state.compare_exchange_strong(expected_state, slot_free, std::memory_order_acq_rel))
    return false;
  ctl_->in_use.fetch_sub(1, std::memory_order_relaxed);
  uint64_t head = ctl_->free_head.load(std::memory_order_acquire);
  for (;;) {
    s[idx].next.store(index_part(head), std::memory_order_relaxed);
    if (ctl_->free_head.compare_exchange_weak(head, pack(idx, tag_part(head) + 1),
                                              std::memory_order_acq_rel,
                                              std::memory_order_acquire))
      return true;
  }
}

uint64_t pool::offset_of(const buffer_header* b) const noexcept {
  return static_cast<uint64_t>(reinterpret_cast<const char*>(b) - base_);
}

uint32_t pool::index_of(const buffer_header* b) const noexcept {
  const auto* p = reinterpret_cast<const char*>(b);
  const char* first = base_ + ctl_->data_offset;
  if (p < first || p >= first + ctl_->stride * ctl_->buffer_count)
    return nil_index;
  const auto rel = static_cast<uint64_t>(p - first);
  if (rel % ctl_->stride != 0)
    return nil_index;
  return static_cast<uint32_t>(rel / ctl_->stride);
}

buffer_header* pool::resolve(uint64_t offset) const noexcept {
  if (offset < ctl_->data_offset || offset >= size_)
    return nullptr;
  auto* b = reinterpret_cast<buffer_header*>(base_ + offset);
  const uint32_t idx = index_of(b);
  if (idx == nil_index)
    return nullptr;
  if (slots_of(base_, ctl_)[idx].state.load(std::memory_order_acquire) != slot_in_use)
    return nullptr;
  return b;
}

buffer_header* pool::at(uint32_t i) const noexcept {
  return reinterpret_cast<buffer_header*>(base_ + ctl_->data_offset + uint64_t{i} * ctl_->stride);
}

uint32_t pool::capacity() const noexcept { return ctl_->buffer_count; }
uint32_t pool::buffer_size() const noexcept { return ctl_->buffer_size; }

pool_stats pool::stats() const noexcept {
  return pool_stats{ctl_->buffer_count, ctl_->in_use.load(std::memory_order_relaxed),
                    ctl_->high_water.load(std::memory_order_relaxed),
                    ctl_->allocs.load(std::memory_order_relaxed),
                    ctl_->alloc_failures.load(std::memory_order_relaxed)};
}

} // namespace spry::core
