#include "core/page_prefault.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14 uapi; older headers lack it
#endif

namespace spry::core {

namespace {

constexpr size_t page = 4096;

// One line of /proc/self/maps that is worth mapping in: private, readable, not writable, backed
// by a regular file. Devices (a DPDK or hugetlbfs mapping) and memfds (the pools: shared, and
// writable anyway) are left alone.
bool wanted(const char* line, uintptr_t* from, uintptr_t* to) {
  char* end = nullptr;
  *from = std::strtoull(line, &end, 16);
  if (*end != '-')
    return false;
  *to = std::strtoull(end + 1, &end, 16);
  if (*end != ' ' || std::strlen(end) < 6)
    return false;
  const char* perms = end + 1; // "r-xp"
  if (perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p')
    return false;
  // offset, device, inode, then the path, if any.
  const char* path = std::strchr(perms, '/');
  return path && std::strncmp(path, "/dev/", 5) != 0 && std::strncmp(path, "/memfd:", 7) != 0 &&
         *to > *from;
}

// Maps in the resident pages of [from, to); false (errno set) if the kernel refused.
bool map_in(uintptr_t from, uintptr_t to, prefault_counts& out) {
  constexpr size_t chunk = 4096; // pages per mincore() call
  unsigned char resident[chunk];
  for (uintptr_t at = from; at < to; at += chunk * page) {
    const size_t pages = std::min<size_t>(chunk, (to - at) / page);
    if (mincore(reinterpret_cast<void*>(at), pages * page, resident) != 0)
      return false;
    for (size_t i = 0; i < pages;) {
      if (!(resident[i] & 1)) {
        ++i;
        continue;
      }
      size_t n = 1;
      while (i + n < pages && (resident[i + n] & 1))
        ++n;
      // A run of resident pages: one call maps them all in (what n / 16 faults would).
      if (madvise(reinterpret_cast<void*>(at + i * page), n * page, MADV_POPULATE_READ) != 0 &&
          errno != EFAULT) // a page gone since mincore (a truncated file): skip it
        return false;
      out.pages += n;
      i += n;
    }
  }
  return true;
}

} // namespace

prefault_counts map_in_file_pages() noexcept {
  prefault_counts out;
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = errno;
    return out;
  }
  // Read in pieces; a line is handled once whole. A line longer than the buffer (a path near
  // PATH_MAX) is skipped.
  char buf[8192];
  size_t have = 0;
  bool skipping = false;
  for (;;) {
    const ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += static_cast<size_t>(n);
    buf[have] = '\0';
    char* line = buf;
    while (char* nl = static_cast<char*>(std::memchr(line, '\n', have - (line - buf)))) {
      *nl = '\0';
      uintptr_t from = 0, to = 0;
      if (!skipping && wanted(line, &from, &to)) {
        ++out.mappings;
        if (!map_in(from, to, out) && out.error == 0) {
          out.error = errno;
          if (errno == EINVAL) // no MADV_POPULATE_READ in this kernel: nothing will work
            break;
        }
      }
      skipping = false;
      line = nl + 1;
    }
    if (out.error == EINVAL)
      break;
    have -= static_cast<size_t>(line - buf);
    std::memmove(buf, line, have);
    if (have == sizeof buf - 1) { // no newline in a full buffer: drop up to the next one
      have = 0;
      skipping = true;
    }
  }
  close(fd);
  return out;
}

} // namespace spry::core
