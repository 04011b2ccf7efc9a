#pragma once
// Helpers for integration tests that run spry as child processes.

#include "bench/load/child_process.hpp"

#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
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
  auto line = p.wait_for_line("listening on http://", std::chrono::seconds(30));
  REQUIRE(line);
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)")));
  return static_cast<uint16_t>(std::stoul(m[1]));
}

} // namespace spry::test
