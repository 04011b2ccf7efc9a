#include "core/cpu_limit.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace spry::core {

namespace {

constexpr long period_us = 100000;

bool write_file(const std::string& path, const std::string& value, std::string& error) {
  std::ofstream out(path);
  if (out)
    out << value;
  if (!out || !out.flush()) {
    error = "cannot write '" + value + "' to " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

std::unique_ptr<cpu_limiter> cpu_limiter::detect(const std::string& name) {
  std::unique_ptr<cpu_limiter> l(new cpu_limiter());
  std::string base;
  const std::string controllers = read_file("/sys/fs/cgroup/cgroup.controllers");
  if (controllers.find("cpu") != std::string::npos) {
    base = "/sys/fs/cgroup";
    l->v2_ = true;
  } else if (access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK) == 0) {
    base = "/sys/fs/cgroup/cpu";
  } else {
    l->description_ = "no cgroup cpu controller is mounted (cgroup v2 without 'cpu', and no v1 "
                      "/sys/fs/cgroup/cpu): instance CPU limits (deflation) are not applied";
    return l;
  }
  const std::string root = base + "/" + name;
  if (mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) {
    l->description_ = "cannot create the cgroup " + root + " (" + std::strerror(errno) +
                      "; needs root or a delegated cgroup): instance CPU limits (deflation) are "
                      "not applied";
    return l;
  }
  if (l->v2_) {
    std::string error;
    // Children of our group get the cpu controller.
    if (!write_file(base + "/cgroup.subtree_control", "+cpu", error) ||
        !write_file(root + "/cgroup.subtree_control", "+cpu", error)) {
      rmdir(root.c_str());
      l->description_ = error + ": instance CPU limits (deflation) are not applied";
      return l;
    }
  }
  l->root_ = root;
  l->description_ = std::string(l->v2_ ? "cgroup v2 cpu.max" : "cgroup v1 cpu.cfs_quota_us") +
                    " under " + root;
  return l;
}

cpu_limiter::~cpu_limiter() {
  for (const auto& [key, dir] : groups_)
    rmdir(dir.c_str());
  for (const auto& [id, dir] : parents_)
    rmdir(dir.c_str());
  if (!root_.empty())
    rmdir(root_.c_str());
}

std::string cpu_limiter::parent_of(function_group function, std::string& error) {
  auto [i, fresh] = parents_.emplace(function.id, std::string());
  if (!fresh)
    return i->second;
  const std::string dir = root_ + "/f" + std::to_string(function.id);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = "cannot create the cgroup " + dir + ": " + std::strerror(errno);
    parents_.erase(i);
    return {};
  }
  const double w = function.weight > 0 ? function.weight : 1;
  const bool ok =
    v2_ ? write_file(dir + "/cpu.weight",
                     std::to_string(std::clamp(std::lround(100 * w), 1L, 10000L)), error) &&
            write_file(dir + "/cgroup.subtree_control", "+cpu", error)
        : write_file(dir + "/cpu.shares", std::to_string(std::max(2L, std::lround(1024 * w))), error);
  if (!ok) {
    rmdir(dir.c_str());
    parents_.erase(i);
    return {};
  }
  i->second = dir;
  return dir;
}

status_or_error cpu_limiter::set(const std::string& key, pid_t pid, double cores,
                                 function_group function) {
  if (root_.empty())
    return make_error(description_);
  std::string error;
  std::string& dir = groups_[key];
  if (dir.empty()) {
    const std::string parent = parent_of(function, error);
    if (parent.empty()) {
      groups_.erase(key);
      return make_error(error);
    }
    dir = parent + "/" + key;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      const std::string why = "cannot create the cgroup " + dir + ": " + std::strerror(errno);
      groups_.erase(key);
      return make_error(why);
    }
  }
  if (!write_file(dir + "/cgroup.procs", std::to_string(pid), error))
    return make_error(error);
  const long quota = cores <= 0 ? -1 : std::max(1000L, std::lround(cores * period_us));
  const bool ok =
    v2_ ? write_file(dir + "/cpu.max",
                     (quota < 0 ? std::string("max") : std::to_string(quota)) + " " +
                       std::to_string(period_us),
                     error)
        : write_file(dir + "/cpu.cfs_period_us", std::to_string(period_us), error) &&
            write_file(dir + "/cpu.cfs_quota_us", std::to_string(quota), error);
  if (!ok)
    return make_error(error);
  return {};
}

std::string cpu_limiter::group_of(const std::string& key) const {
  auto i = groups_.find(key);
  return i == groups_.end() ? std::string() : i->second;
}

void cpu_limiter::remove(const std::string& key) {
  auto i = groups_.find(key);
  if (i == groups_.end())
    return;
  if (is_dir(i->second))
    rmdir(i->second.c_str());
  groups_.erase(i);
}

} // namespace spry::core
