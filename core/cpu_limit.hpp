#pragma once
// CPU limits for instance processes: how LaSS's deflation (an instance keeps running on less
// CPU instead of being terminated) is applied to a real process.
//
// Backends, chosen by what the machine offers, in this order:
//  - cgroup v2: a group per instance under /sys/fs/cgroup/spry-<app>-<pid>/, `cpu.max`;
//  - cgroup v1: the same groups under the `cpu` controller's mount, `cpu.cfs_quota_us`;
//  - none: limits are not applied and available() says why (local instances are actors in the
//    gateway process and cannot be limited one by one either).
// Instance groups sit in a group per function (<root>/f<id>/<instance>) whose scheduler weight
// is the function's `weight` (v2 cpu.weight 100 x weight, v1 cpu.shares 1024 x weight): under
// contention the kernel splits CPU between functions by their weights, whatever their instance
// counts, and between one function's instances equally (LaSS's fair share; with a group per
// instance side by side, a function with 6 instances got twice the CPU of one with 3).
// The groups are removed when the limiter is destroyed (after the instances have exited); a
// gateway killed with SIGKILL leaves its empty groups behind.

#include "core/error.hpp"

#include <sys/types.h>

#include <cstdint>

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

  /// The function an instance group belongs to: its id names the parent group, `weight` sets
  /// that group's share of the CPU under contention (> 0; 1 is the default weight).
  struct function_group {
    uint16_t id = 0;
    double weight = 1;
  };
  /// Puts process `pid` (all its threads) in the group `key` under `function`'s group and
  /// limits it to `cores` CPUs (<= 0: no limit).
  status_or_error set(const std::string& key, pid_t pid, double cores, function_group function);
  /// The group's directory (tests read the limit from it), or empty.
  std::string group_of(const std::string& key) const;
  /// Forgets the group of an instance that has exited (rmdir).
  void remove(const std::string& key);

private:
  cpu_limiter() = default;
  std::string root_;  // this node's group; empty: not available
  bool v2_ = false;
  std::string description_;
  /// The function's group, created (and weighted) on first use; empty plus `error` on failure.
  std::string parent_of(function_group function, std::string& error);

  std::map<std::string, std::string> groups_;
  std::map<uint16_t, std::string> parents_; // function id -> its group
};

} // namespace spry::core
