#include "core/page_prefault.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

using namespace spry::core;

namespace {

constexpr size_t page = 4096;

// The pagemap entry of the page at `p` in this process (0 if it cannot be read).
uint64_t pagemap_entry(const void* p) {
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  uint64_t e = 0;
  if (fd >= 0) {
    if (pread(fd, &e, sizeof e,
              static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / page * sizeof e)) != sizeof e)
      e = 0;
    close(fd);
  }
  return e;
}

bool present(uint64_t e) { return e >> 63 & 1; }
bool exclusive(uint64_t e) { return e >> 56 & 1; }

// Runs `child` in a forked child; its return value is the child's exit code.
template <class F>
int in_child(F&& child) {
  const pid_t pid = fork();
  if (pid == 0)
    _exit(child());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool kernel_has_populate() {
  // MADV_POPULATE_READ (22) on a page of our own stack: EINVAL before Linux 5.14.
  alignas(4096) static char probe[page];
  return madvise(probe, page, 22) == 0 || errno != EINVAL;
}

} // namespace

TEST_CASE("a forked child maps in its code and copies the pages it shares", "[prefault]") {
  if (!kernel_has_populate()) {
    WARN("not run: this kernel has no MADV_POPULATE_READ/WRITE (Linux 5.14)");
    return;
  }
  // Written by the parent before the fork: present in both, shared, copy-on-write.
  auto* data = static_cast<unsigned char*>(
    mmap(nullptr, 16 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(data != MAP_FAILED);
  for (size_t i = 0; i < 16 * page; ++i)
    data[i] = static_cast<unsigned char>(i * 7);
  REQUIRE(exclusive(pagemap_entry(data)));

  SECTION("code and read-only data") {
    const int code = in_child([] {
      const auto got = map_in_file_pages();
      if (got.error != 0)
        return 1;
      if (got.mappings == 0 || got.pages == 0)
        return 2;
      return 0;
    });
    CHECK(code == 0);
  }
  SECTION("shared pages become the child's own, with the same contents") {
    const int code = in_child([data] {
      for (size_t p = 0; p < 16; ++p)
        if (!present(pagemap_entry(data + p * page)) || exclusive(pagemap_entry(data + p * page)))
          return 1; // not shared after the fork: nothing to test
      const auto got = copy_shared_pages();
      if (got.error != 0)
        return 2;
      if (got.pages < 16)
        return 3;
      for (size_t p = 0; p < 16; ++p)
        if (!exclusive(pagemap_entry(data + p * page)))
          return 4;
      for (size_t i = 0; i < 16 * page; ++i)
        if (data[i] != static_cast<unsigned char>(i * 7))
          return 5;
      return 0;
    });
    CHECK(code == 0);
    // The parent's copy is untouched as well.
    for (size_t i = 0; i < 16 * page; i += 997)
      CHECK(data[i] == static_cast<unsigned char>(i * 7));
  }
  munmap(data, 16 * page);
}
