#pragma once
// User functions and the registry that names them.
//
// A function is any callable taking `message&`: a lambda, a free function, or an object with
// operator(). It runs on the buffer in place (see message.hpp). Functions are registered by name,
// explicitly, either by the user's program (app::function) or by a function library that spry
// loads for a YAML app (function_library.hpp).

#include "core/error.hpp"
#include "core/message.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace spry::core {

using function_body = std::function<void(message&)>;

class function_registry {
public:
  /// Adds `name`; an error if the name is taken or empty (two libraries defining one name is a
  /// user mistake that must not be resolved silently).
  status_or_error add(const std::string& name, function_body body);
  /// nullptr if unknown.
  const function_body* find(const std::string& name) const;
  std::vector<std::string> names() const;

private:
  std::map<std::string, function_body> bodies_;
};

} // namespace spry::core
