#pragma once
// The protocol adapters a gateway has loaded, by name (see core/adapter.hpp for the interface).
//
// Replacing an adapter under traffic loses no request: every request takes a shared_ptr snapshot
// of its chain's adapter when it enters and keeps it until its answer is out, so a replaced (or
// unloaded) adapter, and the shared library its code lives in, stay alive until the last request
// that started with it has been answered; new requests get the new one at once.

#include "core/adapter.hpp"
#include "core/error.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace spry::gateway {

/// One adapter made from one library. Immutable once published.
struct loaded_adapter {
  std::string name;
  std::string library;
  uint64_t generation = 0; ///< 1 for the first load of `name`, +1 per replacement
  // Declared before `impl` so that it is destroyed after it: the adapter's code (its vtable,
  // its destructor) lives in the library this handle keeps mapped.
  std::shared_ptr<void> handle;
  std::unique_ptr<core::adapter> impl;
};

using adapter_ref = std::shared_ptr<const loaded_adapter>;

class adapter_set {
public:
  /// dlopen()s `library`, checks its ABI version and makes its adapter `name` the one that new
  /// requests get. Errors (file missing, not an adapter library, wrong ABI, no adapter of that
  /// name in it) name the library and the fix; on error the current adapter keeps serving.
  /// Thread-safe; blocks for the dlopen (admin path, never a request path).
  core::expected<adapter_ref> load(const std::string& name, const std::string& library);
  /// Stops handing out `name`; requests already holding it finish with it. false if not loaded.
  bool unload(const std::string& name);
  /// The adapter requests should use now, or null. Thread-safe, short lock.
  adapter_ref get(const std::string& name) const;
  std::vector<adapter_ref> list() const;

  /// A request refused by adapter `name` (for /metrics).
  void count_rejected(const std::string& name);
  /// Prometheus text: adapters loaded (with their generation) and rejections per adapter.
  std::string metrics_text() const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, adapter_ref> by_name_;
  std::map<std::string, uint64_t> generations_;
  std::map<std::string, uint64_t> rejected_;
  uint64_t load_failures_ = 0;
};

} // namespace spry::gateway
