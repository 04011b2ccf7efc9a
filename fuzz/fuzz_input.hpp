#pragma once
// Reading a fuzzer's byte string as several fields, so one input can carry a protocol message
// and the settings it is handled with. Seeds in fuzz/corpus/ are written in these formats.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace spry::fuzz {

class fuzz_input {
public:
  fuzz_input(const uint8_t* data, size_t size)
    : rest_(reinterpret_cast<const char*>(data), size) {}

  /// The next byte, 0 when exhausted.
  uint8_t byte() {
    if (rest_.empty())
      return 0;
    const auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  /// Up to the next '\n' (not included); the rest when there is none.
  std::string_view line() {
    const auto nl = rest_.find('\n');
    const auto out = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    return out;
  }
  /// The next `n` bytes (fewer when exhausted).
  std::string_view bytes(size_t n) {
    const auto out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  std::string_view rest() const { return rest_; }
  bool empty() const { return rest_.empty(); }

private:
  std::string_view rest_;
};

} // namespace spry::fuzz
