#include "gateway/log_format.hpp"

#include "core/log_escape.hpp"

#include <spdlog/pattern_formatter.h>

#include <string>
#include <string_view>

namespace spry::gateway {

namespace {

class escaping_formatter final : public spdlog::formatter {
public:
  explicit escaping_formatter(std::unique_ptr<spdlog::formatter> inner) : inner_(std::move(inner)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (core::log_clean(text))
      return inner_->format(msg, dest);
    const std::string escaped = core::escape_for_log(text);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    inner_->format(copy, dest);
    msg.color_range_start = copy.color_range_start; // mutable: the color sink reads them back
    msg.color_range_end = copy.color_range_end;
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<escaping_formatter>(inner_->clone());
  }

private:
  std::unique_ptr<spdlog::formatter> inner_;
};

} // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter() {
  return std::make_unique<escaping_formatter>(
    std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v"));
}

} // namespace spry::gateway
