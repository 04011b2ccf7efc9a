#include "core/data_path_counters.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace dp = spry::core::data_path;

TEST_CASE("data path counters count per site and event and subtract", "[data_path]") {
  const auto before = dp::snapshot();
  dp::count(dp::site::chain, dp::event::copy, 3);
  dp::count(dp::site::edge, dp::event::protocol_message);
  const auto d = dp::snapshot() - before;
  CHECK(d.at(dp::site::chain, dp::event::copy) == 3);
  CHECK(d.at(dp::site::edge, dp::event::protocol_message) == 1);
  CHECK(d.at(dp::site::edge, dp::event::copy) == 0);
  CHECK(d.at(dp::site::chain, dp::event::serialization) == 0);
  CHECK(std::string(dp::name_of(dp::event::deserialization)) == "deserializations");
  CHECK(std::string(dp::name_of(dp::site::chain)) == "chain");
}

TEST_CASE("a counters file starts at zero and a foreign file is refused", "[data_path]") {
  char tmpl[] = "/tmp/spry-counters-XXXXXX";
  const int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  close(fd);
  const std::string path = tmpl;
  REQUIRE(dp::create_counters_file(path));
  auto zero = dp::read_counters_file(path);
  REQUIRE(zero);
  for (auto site : {dp::site::edge, dp::site::chain})
    for (auto e : {dp::event::copy, dp::event::serialization, dp::event::deserialization,
                   dp::event::protocol_message})
      CHECK(zero->at(site, e) == 0);
  // That processes sharing it add up is checked end to end by the audit test (tcp).

  std::ofstream(path + ".bad") << "not a counters file";
  CHECK(!dp::read_counters_file(path + ".bad"));
  CHECK(!dp::read_counters_file(path + ".missing"));
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".bad");
}
