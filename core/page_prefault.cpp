#include "core/page_prefault.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// Linux 5.14 uapi; older headers lack them (older kernels refuse them: EINVAL).
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace spry::core {

namespace {

constexpr size_t page = 4096;
constexpr size_t chunk = 4096; // pages looked at per mincore() or pagemap read
// A mapping larger than this is a reservation, not memory an instance's start touches: a
// sanitizer's shadow memory (terabytes under ASan), a runtime's heap reserve. Walking its page
// map would take far longer than the faults it could save (under ASan, seconds per spare).
constexpr uintptr_t largest_mapping = uintptr_t{256} << 20;

struct mapping {
  uintptr_t from = 0;
  uintptr_t to = 0;
  const char* perms = nullptr; // "r-xp"
  const char* path = nullptr;  // nullptr: anonymous ([heap], [stack], a thread's stack)
  bool special = false;        // [vdso], [vvar], [vsyscall]: the kernel's, never touched
};

bool parse(const char* line, mapping& m) {
  char* end = nullptr;
  m.from = std::strtoull(line, &end, 16);
  if (*end != '-')
    return false;
  m.to = std::strtoull(end + 1, &end, 16);
  if (*end != ' ' || std::strlen(end) < 6 || m.to <= m.from)
    return false;
  m.perms = end + 1;
  // offset, device, inode, then the path or [name], if any.
  m.path = std::strchr(m.perms, '/');
  m.special = !m.path && std::strchr(m.perms, '[') &&
              std::strncmp(std::strchr(m.perms, '['), "[heap]", 6) != 0 &&
              std::strncmp(std::strchr(m.perms, '['), "[stack]", 7) != 0;
  return true;
}

// Devices (a DPDK or hugetlbfs mapping), memfds (the pools) and hugetlb pages are left alone.
bool plain_file(const char* path) {
  return std::strncmp(path, "/dev/", 5) != 0 && std::strncmp(path, "/memfd:", 7) != 0 &&
         !std::strstr(path, "anon_hugepage");
}

// Calls f(mapping&) for each line of /proc/self/maps; f returns false to stop. Reads in pieces
// into a buffer on the stack; a line longer than the buffer (a path near PATH_MAX) is skipped.
template <class F>
int for_each_mapping(F&& f) {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  char buf[8192];
  size_t have = 0;
  bool skipping = false, stop = false;
  while (!stop) {
    const ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += static_cast<size_t>(n);
    char* line = buf;
    while (char* nl = static_cast<char*>(std::memchr(line, '\n', have - (line - buf)))) {
      *nl = '\0';
      mapping m;
      if (!skipping && parse(line, m) && !f(m)) {
        stop = true;
        break;
      }
      skipping = false;
      line = nl + 1;
    }
    have -= static_cast<size_t>(line - buf);
    std::memmove(buf, line, have);
    if (have == sizeof buf - 1) { // no newline in a full buffer: drop up to the next one
      have = 0;
      skipping = true;
    }
  }
  close(fd);
  return 0;
}

// madvise(advice) over each run of pages of [from, to) that `pick` selects (pick(at, pages,
// flags) fills flags[i] != 0 for the pages wanted); false (errno set) if the kernel refused.
template <class Pick>
bool populate_runs(uintptr_t from, uintptr_t to, int advice, Pick&& pick, prefault_counts& out) {
  unsigned char wanted[chunk];
  for (uintptr_t at = from; at < to; at += chunk * page) {
    const size_t pages = std::min<size_t>(chunk, (to - at) / page);
    if (!pick(at, pages, wanted))
      return false;
    for (size_t i = 0; i < pages;) {
      if (!wanted[i]) {
        ++i;
        continue;
      }
      size_t n = 1;
      while (i + n < pages && wanted[i + n])
        ++n;
      // One call per run: what a fault per page (or per 16, for code) would do.
      if (madvise(reinterpret_cast<void*>(at + i * page), n * page, advice) != 0 &&
          errno != EFAULT) // a page gone since it was looked at (a truncated file): skip it
        return false;
      out.pages += n;
      i += n;
    }
  }
  return true;
}

void note_failure(prefault_counts& out) {
  if (out.error == 0)
    out.error = errno;
}

} // namespace

prefault_counts map_in_file_pages() noexcept {
  prefault_counts out;
  // Resident in the page cache (mincore): used by some process, so no reading from disk.
  auto resident = [](uintptr_t at, size_t pages, unsigned char* flags) {
    if (mincore(reinterpret_cast<void*>(at), pages * page, flags) != 0)
      return false;
    for (size_t i = 0; i < pages; ++i)
      flags[i] &= 1;
    return true;
  };
  const int e = for_each_mapping([&](const mapping& m) {
    if (m.perms[0] != 'r' || m.perms[1] != '-' || m.perms[3] != 'p' || !m.path ||
        !plain_file(m.path) || m.to - m.from > largest_mapping)
      return true;
    ++out.mappings;
    if (!populate_runs(m.from, m.to, MADV_POPULATE_READ, resident, out)) {
      note_failure(out);
      return errno != EINVAL; // no MADV_POPULATE_READ in this kernel: nothing will work
    }
    return true;
  });
  if (e != 0 && out.error == 0)
    out.error = e;
  return out;
}

prefault_counts copy_shared_pages() noexcept {
  prefault_counts out;
  const int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) {
    out.error = errno;
    return out;
  }
  // Present (bit 63) and not mapped by this process alone (bit 56 clear): still shared with the
  // process it was forked from, so its first write copies it.
  auto shared = [pagemap](uintptr_t at, size_t pages, unsigned char* flags) {
    uint64_t entries[chunk];
    const ssize_t want = static_cast<ssize_t>(pages * sizeof(uint64_t));
    if (pread(pagemap, entries, static_cast<size_t>(want),
              static_cast<off_t>(at / page * sizeof(uint64_t))) != want)
      return false;
    for (size_t i = 0; i < pages; ++i)
      flags[i] = (entries[i] >> 63 & 1) && !(entries[i] >> 56 & 1);
    return true;
  };
  const int e = for_each_mapping([&](const mapping& m) {
    if (m.perms[0] != 'r' || m.perms[1] != 'w' || m.perms[3] != 'p' || m.special ||
        (m.path && !plain_file(m.path)) || m.to - m.from > largest_mapping)
      return true;
    ++out.mappings;
    if (!populate_runs(m.from, m.to, MADV_POPULATE_WRITE, shared, out)) {
      note_failure(out);
      return errno != EINVAL;
    }
    return true;
  });
  close(pagemap);
  if (e != 0 && out.error == 0)
    out.error = e;
  return out;
}

} // namespace spry::core
