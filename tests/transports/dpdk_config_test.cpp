// The `dpdk:` section (transports/shm-dpdk/dpdk_config.cpp), read through the app file parser
// with the sections this build registers, as `spry check` and `spry run` read it.
#include "core/config.hpp"
#include "core/runtime.hpp"
#include "transports/register.hpp"
#include "transports/shm-dpdk/dpdk_config.hpp"

#include "tests/support/app_parse.hpp"

#include <catch2/catch.hpp>

using namespace spry::core;
using spry::transports::dpdk::dpdk_config;
using spry::transports::dpdk::dpdk_config_of;

namespace {

expected<app_spec> parse(const std::string& text) { return spry::test::parse_app(text); }
std::string error_of(const std::string& text) { return spry::test::parse_error_of(text); }

} // namespace

TEST_CASE("dpdk settings parse, and each bad one names its key and place", "[config][dpdk]") {
  const std::string rest = "functions: [a]\nchains:\n  - {name: c, http: {path: /c}, functions: [a]}\n";
  auto app = parse("transport: shm-dpdk\ndpdk:\n  lcores: 0-1\n  ring_size: 4096\n"
                   "  memory: 128MiB\n  file_prefix: my_app-1\n  idle: spin\n" + rest);
  REQUIRE(app);
  CHECK(app->transport == "shm-dpdk");
  const auto& d = dpdk_config_of(*app);
  CHECK(d.lcores == "0-1");
  CHECK(d.ring_size == 4096);
  CHECK(d.memory == 128u << 20);
  CHECK(d.file_prefix == "my_app-1");
  CHECK(d.idle == "spin");
  CHECK(d.where.prefix() == "app.yaml:3:3: ");
  CHECK(compile(*app));

  auto defaults = parse("transport: shm-dpdk\n" + rest);
  REQUIRE(defaults);
  CHECK(defaults->transport_settings.find("dpdk") == nullptr);
  const auto& dd = dpdk_config_of(*defaults);
  CHECK(dd.lcores.empty());      // every CPU, unpinned
  CHECK(dd.ring_size == 0);      // sized to the pools
  CHECK(dd.memory == 64u << 20);
  CHECK(dd.file_prefix.empty()); // unique per run
  CHECK(dd.idle == "adaptive");
  CHECK(dd.spin_us == 200);
  auto adaptive = parse("dpdk: {idle: adaptive, spin_us: 50}\n" + rest);
  REQUIRE(adaptive);
  CHECK(dpdk_config_of(*adaptive).spin_us == 50);
  CHECK(parse("dpdk: {idle: yield}\n" + rest));
  auto single = parse("dpdk: {lcores: 1}\n" + rest);
  REQUIRE(single);
  CHECK(dpdk_config_of(*single).lcores == "1");

  auto at = [&](const std::string& dpdk) { return error_of("dpdk:\n" + dpdk + rest); };
  CHECK_THAT(at("  ring_size: 1000\n"), Catch::StartsWith("app.yaml:2:14: dpdk.ring_size: "
                                                          "expected a power of two"));
  CHECK_THAT(at("  lcores: 0-x\n"), Catch::StartsWith("app.yaml:2:11: dpdk.lcores: expected a CPU list"));
  CHECK_THAT(at("  lcores: 3-1\n"), Catch::Contains("dpdk.lcores: range 3-1 is backwards"));
  CHECK_THAT(at("  lcores: '0;rm'\n"), Catch::Contains("dpdk.lcores: expected a CPU list"));
  CHECK_THAT(at("  memory: 1MiB\n"), Catch::StartsWith("app.yaml:2:11: dpdk.memory: expected a "
                                                       "multiple of 2MiB"));
  CHECK_THAT(at("  file_prefix: ../etc\n"), Catch::StartsWith("app.yaml:2:16: dpdk.file_prefix: "));
  CHECK_THAT(at("  file_prefix: ''\n"), Catch::Contains("dpdk.file_prefix: must not be empty"));
  CHECK_THAT(at("  idle: sleep\n"),
             Catch::StartsWith("app.yaml:2:9: dpdk.idle: expected adaptive, spin or yield"));
  CHECK_THAT(at("  spin_us: -5\n"), Catch::StartsWith("app.yaml:2:12: dpdk.spin_us: expected a "
                                                     "non-negative integer"));
  CHECK_THAT(at("  spin_us: 2000000\n"), Catch::StartsWith("app.yaml:2:12: dpdk.spin_us: expected "
                                                          "at most 1000000"));
  CHECK_THAT(at("  idle: spin\n  spin_us: 100\n"),
             Catch::StartsWith("app.yaml:3:12: dpdk.spin_us: only an adaptive poller sleeps"));
  CHECK_THAT(at("  rings: 4\n"), Catch::StartsWith("app.yaml:2:3: dpdk: unknown key 'rings'"));
  CHECK_THAT(error_of("dpdk: 64MiB\n" + rest), Catch::Contains("dpdk: expected a mapping"));
}

TEST_CASE("dpdk settings of an app built in C++ are checked with the same words",
          "[config][dpdk]") {
  const auto* section = spry::test::all_transports().find_section("dpdk");
  REQUIRE(section);
  CHECK(section->transport == "shm-dpdk");
  REQUIRE(section->check);
  app_spec app;
  app.transport = "shm-dpdk";
  dpdk_config d;
  CHECK(section->check(d, app));
  d.ring_size = 100;
  auto bad = section->check(d, app);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.err().message, Catch::StartsWith("dpdk.ring_size: expected a power of two"));
  d.ring_size = 0;
  d.idle = "nap";
  CHECK_THAT(section->check(d, app).err().message, Catch::Contains("dpdk.idle: expected adaptive"));
}

TEST_CASE("dpdk settings copy with the app and dump as the section reads", "[config][dpdk]") {
  auto app = parse("dpdk: {lcores: 0-1, idle: yield}\nfunctions: [a]\nchains:\n"
                   "  - {name: c, http: {path: /c}, functions: [a]}\n");
  REQUIRE(app);
  app_spec copy = *app;
  app = parse("functions: [a]\nchains:\n  - {name: c, http: {path: /c}, functions: [a]}\n");
  REQUIRE(app);
  CHECK(dpdk_config_of(copy).lcores == "0-1"); // the copy owns its settings
  const auto dump = dpdk_config_of(copy).dump();
  CHECK(dump == "lcores: 0-1\nring_size: 0\nmemory: 64MiB\n"
                "# file_prefix unset: spry-APP-PID, unique per run\nidle: yield\n"
                "# spin_us: adaptive only\n");
  // What dump() writes parses back to the same settings.
  for (const bool prefixed : {false, true}) {
    dpdk_config d = dpdk_config_of(copy);
    if (prefixed) {
      d.file_prefix = "mine";
      d.idle = "adaptive";
      d.spin_us = 50;
    }
    std::string indented;
    const auto text = d.dump();
    for (size_t i = 0, j; i < text.size(); i = j + 1) {
      j = text.find('\n', i);
      indented += "  " + text.substr(i, j - i + 1);
    }
    auto again = parse("dpdk:\n" + indented + "functions: [a]\nchains:\n"
                       "  - {name: c, http: {path: /c}, functions: [a]}\n");
    REQUIRE(again);
    CHECK(dpdk_config_of(*again).dump() == text);
  }
}
