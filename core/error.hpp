#pragma once
// A small error type for everything inside spry that can fail for a reason a user can fix.
// Exceptions from third-party libraries (Beast, yaml-cpp, the OS) are caught at the boundary
// where they occur and turned into one of these, so no exception crosses a module boundary.

#include <string>
#include <utility>
#include <variant>

namespace spry::core {

/// What went wrong, said so that the reader knows what to fix.
struct error {
  std::string message;
};

inline error make_error(std::string message) { return error{std::move(message)}; }

/// Either a T or an error. Deliberately tiny: `if (!r) report(r.error());` then `*r`.
template <class T>
class expected {
public:
  expected(T value) : v_(std::move(value)) {}
  expected(error err) : v_(std::move(err)) {}

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

  const error& err() const { return std::get<1>(v_); }

private:
  std::variant<T, error> v_;
};

/// Success or an error, for operations that produce nothing.
class status_or_error {
public:
  status_or_error() = default;
  status_or_error(error err) : err_(std::move(err)), failed_(true) {}

  explicit operator bool() const noexcept { return !failed_; }
  const error& err() const { return err_; }

private:
  error err_;
  bool failed_ = false;
};

} // namespace spry::core
