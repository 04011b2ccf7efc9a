#pragma once
// Helpers for integration tests that run spry as child processes.

#include "bench/load/child_process.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

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

/// The gateway port a `spry run` child prints once it serves (fails the test if it never does).
inline uint16_t port_of(spry::bench::child_process& p) {
  auto line = p.wait_for_line("listening on http://", std::chrono::seconds(30));
  REQUIRE(line);
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)")));
  return static_cast<uint16_t>(std::stoul(m[1]));
}

} // namespace spry::test
