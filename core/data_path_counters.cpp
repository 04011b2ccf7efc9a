#include "core/data_path_counters.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace spry::core::data_path {

namespace {

constexpr unsigned slot_count = site_count * event_count;
// The file: a magic word, then the slots. The magic makes a stray file (wrong variable value)
// fall back to private counters instead of scribbling on it.
constexpr uint64_t file_magic = 0x7370727963747273ull; // the bytes of "spryctrs"; any constant unlikely in a stray file would do
constexpr size_t file_size = sizeof(uint64_t) * (1 + slot_count);

uint64_t private_slots[slot_count];

uint64_t* map_shared(const char* path) {
  const int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return nullptr;
  void* p = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED)
    return nullptr;
  auto* words = static_cast<uint64_t*>(p);
  if (__atomic_load_n(&words[0], __ATOMIC_RELAXED) != file_magic) {
    ::munmap(p, file_size);
    return nullptr;
  }
  return words + 1; // the mapping lives as long as the process
}

uint64_t* slots() noexcept {
  static uint64_t* const s = [] {
    const char* path = std::getenv(counters_variable);
    uint64_t* shared = path && *path ? map_shared(path) : nullptr;
    return shared ? shared : private_slots;
  }();
  return s;
}

unsigned index_of(site s, event e) noexcept {
  return static_cast<unsigned>(s) * event_count + static_cast<unsigned>(e);
}

counts from_words(const uint64_t* w) noexcept {
  counts c;
  for (unsigned s = 0; s < site_count; ++s)
    for (unsigned e = 0; e < event_count; ++e)
      c.v[s][e] = __atomic_load_n(&w[s * event_count + e], __ATOMIC_RELAXED);
  return c;
}

} // namespace

void count(site s, event e, uint64_t n) noexcept {
  __atomic_fetch_add(&slots()[index_of(s, e)], n, __ATOMIC_RELAXED);
}

counts counts::operator-(const counts& earlier) const noexcept {
  counts d;
  for (unsigned s = 0; s < site_count; ++s)
    for (unsigned e = 0; e < event_count; ++e)
      d.v[s][e] = v[s][e] - earlier.v[s][e];
  return d;
}

counts snapshot() noexcept { return from_words(slots()); }

status_or_error create_counters_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error("counters file " + path + ": " + std::strerror(errno));
  uint64_t words[1 + slot_count] = {file_magic};
  const bool ok = ::write(fd, words, sizeof words) == static_cast<ssize_t>(sizeof words);
  ::close(fd);
  if (!ok)
    return make_error("counters file " + path + ": short write");
  return {};
}

expected<counts> read_counters_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error("counters file " + path + ": " + std::strerror(errno));
  void* p = ::mmap(nullptr, file_size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED)
    return make_error("counters file " + path + ": cannot map it");
  auto* words = static_cast<uint64_t*>(p);
  const bool valid = __atomic_load_n(&words[0], __ATOMIC_RELAXED) == file_magic;
  const counts c = from_words(words + 1);
  ::munmap(p, file_size);
  if (!valid)
    return make_error("counters file " + path + " was not made by create_counters_file");
  return c;
}

const char* name_of(site s) noexcept { return s == site::edge ? "edge" : "chain"; }

const char* name_of(event e) noexcept {
  switch (e) {
    case event::copy: return "copies";
    case event::serialization: return "serializations";
    case event::deserialization: return "deserializations";
    case event::protocol_message: return "protocol_messages";
  }
  return "?";
}

} // namespace spry::core::data_path
