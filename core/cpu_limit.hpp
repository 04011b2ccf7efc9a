#pragma once
// CPU limits for instance processes: how LaSS's deflation (an instance keeps running on less
// CPU instead of being terminated) is applied to a real process.
//
// Backends, chosen by what the machine offers, in this order:
//  - cgroup v2: a group per instance under /sys/fs/cgroup/spry-<app>-<pid>/, `cpu.max`;
//  - cgroup v1: the same groups under the `cpu` controller's mount, `cpu.cfs_quota_us`;
//  - none: limits are not applied and available() says why (local instances are actors in the
//    gateway process and cannot be limited one by one either).
// The groups are removed when the limiter is destroyed (after the instances have exited); a
// gateway killed with SIGKILL leaves its empty groups behind.

#include "core/error.hpp"

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

namespace spry::core {

class cpu_limiter {
public:
  /// Detects the backend; `name` names this node's parent group.
  static std::unique_ptr<cpu_limiter> detect(const std::string& name);
  ~cpu_limiter();

  bool available() const noexcept { return !root_.empty(); }
  /// Why limits are not applied (when !available()), or the backend in use.
  const std::string& description() const noexcept { return description_; }

  /// Puts process `pid` (all its threads) in the group `key` and limits the group to `cores`
  /// CPUs (<= 0: no limit).
  status_or_error set(const std::string& key, pid_t pid, double cores);
  /// The group's directory (tests read the limit from it), or empty.
  std::string group_of(const std::string& key) const;
  /// Forgets the group of an instance that has exited (rmdir).
  void remove(const std::string& key);

private:
  cpu_limiter() = default;
  std::string root_;  // this node's group; empty: not available
  bool v2_ = false;
  std::string description_;
  std::map<std::string, std::string> groups_;
};

} // namespace spry::core
