#pragma once
// A transport's own settings: its section of the app file (`tcp:`, `dpdk:`), or what a C++ app
// passed to app::configure(). Core never looks inside: the transport that registered the section
// (config_section.hpp) parses it, checks it and reads it back in its factory. The app keeps the
// sections it was given in a transport_configs, by section key; a section the app leaves out is
// absent, and the transport uses its defaults.

#include "core/source_location.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace spry::core {

/// Base of every transport's settings. Immutable once stored in an app (read from any thread).
class transport_config {
public:
  virtual ~transport_config() = default;
  /// The app file key of the section ("tcp"); one per registered section.
  virtual std::string section() const = 0;
  /// A copy of the same type: an app_spec is a value (the runtime and every test copy it).
  virtual std::unique_ptr<transport_config> clone() const = 0;
  /// Every setting, as the section would be written in the app file ("key: value" lines,
  /// defaults included), so that a user sees what is in effect.
  virtual std::string dump() const = 0;

  source_location where; ///< the section's place in the app file
};

/// The transport sections of one app, by key. Copies are deep.
class transport_configs {
public:
  transport_configs() = default;
  transport_configs(const transport_configs& other);
  transport_configs& operator=(const transport_configs& other);
  transport_configs(transport_configs&&) noexcept = default;
  transport_configs& operator=(transport_configs&&) noexcept = default;

  /// Stores `c` under c->section(), replacing what was there. Null is ignored.
  void set(std::unique_ptr<transport_config> c);
  /// The section `key`, or null when the app has none.
  const transport_config* find(const std::string& key) const;
  /// The section `key` as its transport's type, or null when absent (or of another type).
  template <class Config>
  const Config* get(const std::string& key) const {
    return dynamic_cast<const Config*>(find(key));
  }
  /// Section keys present, sorted.
  std::vector<std::string> keys() const;
  bool empty() const noexcept { return sections_.empty(); }

private:
  std::map<std::string, std::unique_ptr<transport_config>> sections_;
};

} // namespace spry::core
