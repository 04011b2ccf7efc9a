#pragma once
// Composing an app in plain C++: register functions as lambdas or objects, declare chains and
// routes, then hand the app to spry::gateway::run (gateway/run.hpp).
//
//   spry::core::app app("hello");
//   app.function("upper", [](spry::core::message& m) { ... });
//   app.function("count", count_words{});
//   app.chain("hello").http("POST", "/hello").then("upper").then("count");
//   return spry::gateway::run(app, argc, argv);
//
// The builder produces the same app_spec as the YAML file, so both are checked and run by the
// same code.

#include "core/app_spec.hpp"
#include "core/function.hpp"

#include <string>
#include <vector>

namespace spry::core {

class app;

class chain_builder {
public:
  chain_builder& http(std::string method, std::string path);
  /// Appends a function to the linear sequence.
  chain_builder& then(const std::string& function);
  /// Adds a topic route: after `from`, a message with `topic` goes to `to` ("end" to finish).
  chain_builder& route(std::string from, std::string topic, std::string to);
  chain_builder& head(std::string function);
  chain_builder& pool(uint32_t buffers, uint32_t buffer_size);
  chain_builder& timeout_ms(uint32_t ms);

private:
  friend class app;
  chain_builder(app* owner, size_t index) : owner_(owner), index_(index) {}
  chain_spec& spec();
  app* owner_;
  size_t index_;
};

class app {
public:
  explicit app(std::string name);

  /// Registers a function under `name` (also its handler name).
  app& function(const std::string& name, function_body body, uint32_t instances = 1);
  chain_builder chain(std::string name);
  app& transport(std::string name);
  app& listen(std::string host, uint16_t port);
  app& load_balancer(std::string name);

  app_spec& spec() noexcept { return spec_; }
  const app_spec& spec() const noexcept { return spec_; }
  function_registry& functions() noexcept { return functions_; }
  /// Errors from registration (duplicate names) surface when the app is started.
  const std::vector<std::string>& errors() const noexcept { return errors_; }

private:
  friend class chain_builder;
  app_spec spec_;
  function_registry functions_;
  std::vector<std::string> errors_;
};

} // namespace spry::core
