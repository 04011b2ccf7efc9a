#include "core/message.hpp"

#include "core/pool.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace spry::core {

bool set_fixed_field(char* field, unsigned capacity, std::string_view s) noexcept {
  if (s.size() > capacity)
    return false;
  if (!s.empty()) // an empty view may have a null data(): memcpy from null is undefined (UBSan)
    std::memcpy(field, s.data(), s.size());
  std::memset(field + s.size(), 0, capacity - s.size());
  return true;
}

std::string_view fixed_field(const char* field, unsigned capacity) noexcept {
  const void* nul = std::memchr(field, 0, capacity);
  return {field, nul ? static_cast<size_t>(static_cast<const char*>(nul) - field) : capacity};
}

std::string_view message::payload() const noexcept {
  // The length comes from shared memory: clamp so a corrupt header cannot make us read past
  // the buffer.
  return {pool::payload(h_), std::min(h_->payload_length, capacity_)};
}

std::string_view message::topic() const noexcept {
  return fixed_field(h_->topic, topic_capacity);
}

std::string_view message::content_type() const noexcept {
  return fixed_field(h_->content_type, content_type_capacity);
}

char* message::data() noexcept { return pool::payload(h_); }

void message::set_length(uint32_t n) {
  if (n > capacity_)
    throw std::length_error("output of " + std::to_string(n) + " bytes exceeds the buffer size of " +
                            std::to_string(capacity_) + " bytes (raise the chain's pool.buffer_size)");
  h_->payload_length = n;
}

void message::write(std::string_view bytes) {
  if (bytes.size() > capacity_)
    throw std::length_error("output of " + std::to_string(bytes.size()) +
                            " bytes exceeds the buffer size of " + std::to_string(capacity_) +
                            " bytes (raise the chain's pool.buffer_size)");
  std::memmove(data(), bytes.data(), bytes.size());
  h_->payload_length = static_cast<uint32_t>(bytes.size());
}

void message::set_topic(std::string_view topic) {
  if (!set_fixed_field(h_->topic, topic_capacity, topic))
    throw std::length_error("topic '" + std::string(topic.substr(0, 80)) + "' is longer than " +
                            std::to_string(topic_capacity) + " bytes");
}

void message::set_content_type(std::string_view type) {
  if (!set_fixed_field(h_->content_type, content_type_capacity, type))
    throw std::length_error("content type is longer than " +
                            std::to_string(content_type_capacity) + " bytes");
}

void message::fail(std::string_view reason, uint16_t http_status) noexcept {
  const auto n = std::min<size_t>(reason.size(), capacity_);
  std::memmove(data(), reason.data(), n);
  h_->payload_length = static_cast<uint32_t>(n);
  h_->status = static_cast<uint16_t>(buffer_status::function_error);
  h_->http_status = http_status;
  set_fixed_field(h_->content_type, content_type_capacity, "text/plain");
}

bool message::failed() const noexcept {
  return h_->status != static_cast<uint16_t>(buffer_status::ok);
}

} // namespace spry::core
