#pragma once
// What a function sees: a view of one pool buffer, read and written in place.
//
// A function reads its input with payload(), writes its output into data() (up to capacity())
// and commits the length with set_length(), or replaces the payload with write(). It may set the
// topic that decides the next hop, the content type and HTTP status of the final response, or
// fail with a reason. Nothing here copies the payload or allocates.
//
// Errors a function makes with this API (output larger than the buffer, a topic too long) throw
// std::length_error; the instance catches every exception and fails the request with its text.

#include "core/buffer_header.hpp"

#include <cstdint>
#include <string_view>

namespace spry::core {

class message {
public:
  /// `location`: the buffer's offset in its pool (what descriptors carry).
  message(buffer_header* header, uint32_t capacity, uint64_t location = 0) noexcept
    : h_(header), capacity_(capacity), location_(location) {}

  // -- input -----------------------------------------------------------------------------------

  std::string_view payload() const noexcept;
  std::string_view topic() const noexcept;
  std::string_view content_type() const noexcept;
  uint64_t request_id() const noexcept { return h_->request_id; }
  /// Functions run on this request before this one.
  uint16_t hop() const noexcept { return h_->hop_count; }
  /// Offset of this buffer in its pool. On shared-memory transports it equals
  /// header().home_offset on every hop (the request never moved); copying transports give each
  /// hop a new buffer. Lets a function, or a test, see whether its input was copied.
  uint64_t location() const noexcept { return location_; }

  // -- output, in place ------------------------------------------------------------------------

  /// The payload area, capacity() bytes; input and output share it.
  char* data() noexcept;
  uint32_t capacity() const noexcept { return capacity_; }
  /// Commits n bytes written into data() as the new payload.
  void set_length(uint32_t n);
  /// Replaces the payload with `bytes` (may alias the current payload).
  void write(std::string_view bytes);
  /// Sets the topic; the route table decides the next function from (topic, this function).
  void set_topic(std::string_view topic);
  void set_content_type(std::string_view type);
  /// HTTP status the gateway answers with if this is the last function (default 200).
  void set_http_status(uint16_t code) noexcept { h_->http_status = code; }

  /// Ends the chain here: the gateway answers `http_status` with `reason` as the body.
  void fail(std::string_view reason, uint16_t http_status = 500) noexcept;
  bool failed() const noexcept;

  buffer_header& header() noexcept { return *h_; }

private:
  buffer_header* h_;
  uint32_t capacity_;
  uint64_t location_;
};

/// Copies `s` into a fixed NUL-padded field; false if it does not fit.
bool set_fixed_field(char* field, unsigned capacity, std::string_view s) noexcept;
/// Reads a fixed NUL-padded field (never reads past capacity, even without a NUL).
std::string_view fixed_field(const char* field, unsigned capacity) noexcept;

} // namespace spry::core
