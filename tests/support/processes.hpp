#pragma once
// Helpers for integration tests that run spry as child processes.

#include "bench/load/child_process.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>

namespace spry::test {

/// A private directory under /tmp, removed with everything in it.
struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/spry-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name, const std::string& text) const {
    const auto p = (std::filesystem::path(path) / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string path;
};

/// Runs a shell command; its exit code and its stdout + stderr.
inline std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(f);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    out.append(buf, n);
  const int st = pclose(f);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

/// The gateway port a `spry run` child prints once it serves (fails the test if it never does).
inline uint16_t port_of(spry::bench::child_process& p) {
  auto line = p.wait_for_line("listening on http://", std::chrono::seconds(60));
  REQUIRE(line);
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)")));
  return static_cast<uint16_t>(std::stoul(m[1]));
}

/// true once none of `pids` is alive (waits up to `within`).
inline bool all_gone(const std::vector<pid_t>& pids, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    bool any = false;
    for (auto p : pids)
      any = any || spry::bench::alive(p);
    if (!any)
      return true;
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// The children of `parent` once there are at least `n` (or what there is after 10 s).
inline std::vector<pid_t> wait_children(pid_t parent, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<pid_t> c;
  while ((c = spry::bench::children_of(parent)).size() < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return c;
}

/// How a load run's requests were answered.
struct load_outcome {
  int ok = 0, bad_gateway = 0, other = 0, no_answer = 0;
  std::map<int, int> statuses; ///< every answer by HTTP status
  /// Answers whose status is not in `allowed` (and requests never answered).
  int outside(std::initializer_list<int> allowed) const {
    int n = no_answer;
    for (const auto& [code, count] : statuses)
      if (std::find(allowed.begin(), allowed.end(), code) == allowed.end())
        n += count;
    return n;
  }
  int total() const {
    int n = no_answer;
    for (const auto& kv : statuses)
      n += kv.second;
    return n;
  }
};

/// `users` closed-loop clients send `per_user` requests each (POST `path` with `body`) while
/// `fault` runs on this thread; every answer is classified.
inline load_outcome under_load(uint16_t port, int users, int per_user,
                               const std::function<void()>& fault,
                               const std::string& path = "/hello",
                               const std::string& body = "under load") {
  std::mutex mtx;
  load_outcome out;
  std::vector<std::thread> threads;
  for (int u = 0; u < users; ++u)
    threads.emplace_back([&] {
      for (int i = 0; i < per_user; ++i) {
        auto r = http_request(port, "POST", path, body);
        std::lock_guard<std::mutex> guard{mtx};
        if (!r) {
          ++out.no_answer;
          continue;
        }
        ++out.statuses[r->status];
        if (r->status == 200)
          ++out.ok;
        else if (r->status == 502)
          ++out.bad_gateway;
        else
          ++out.other;
      }
    });
  fault();
  for (auto& t : threads)
    t.join();
  return out;
}

/// Buffers of `chain`'s pool in use now, from the gateway's /metrics.
inline double in_use(uint16_t port, const std::string& chain = "hello") {
  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  auto v = metric_value(m->body, "spry_pool_buffers{chain=\"" + chain + "\",state=\"in_use\"}");
  REQUIRE(v);
  return *v;
}

/// Waits up to `within` for `chain`'s pool to be full again; the buffers still in use.
inline double wait_pool_idle(uint16_t port, const std::string& chain = "hello",
                             std::chrono::milliseconds within = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  double used;
  while ((used = in_use(port, chain)) > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return used;
}

/// Open file descriptors of process `pid` (from /proc).
inline size_t fd_count(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

} // namespace spry::test
