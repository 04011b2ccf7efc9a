// gateway/run.cpp: the command line of `spry run` (and of a C++ app's run). A transport's own
// options come from its registered section (core/config_section.hpp), not from the CLI: tcp's
// --namespaces and --xdp-tc-redirect read and act exactly as when run.cpp named them.
#include "gateway/run.hpp"
#include "gateway/server.hpp"
#include "transports/tcp/tcp_config.hpp"

#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace spry;
using spry::transports::tcp::tcp_config_of;

namespace {

// Parses `args` as `spry run` does into `o`; "" when fine, else CLI11's message.
std::string parse(gateway::overrides& o, std::vector<std::string> args) {
  CLI::App cli{"test"};
  gateway::add_overrides(cli, o);
  std::vector<const char*> argv{"spry"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  try {
    cli.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return {};
}

core::app_spec app_on(const std::string& transport) {
  core::app_spec app;
  app.transport = transport;
  return app;
}

} // namespace

TEST_CASE("run: --help lists the transports' own options with their text", "[gateway][cli]") {
  CLI::App cli{"test"};
  gateway::overrides o;
  gateway::add_overrides(cli, o);
  const auto help = cli.help();
  CHECK_THAT(help, Catch::Contains("--namespaces"));
  CHECK_THAT(help, Catch::Contains("tcp: run the gateway and every instance in a network "
                                   "namespace of its own (pods), as tcp.namespaces: true (needs "
                                   "root)"));
  CHECK_THAT(help, Catch::Contains("--xdp-tc-redirect TEXT:{on,off}"));
  CHECK_THAT(help, Catch::Contains("tcp with namespaces: eBPF FIB-lookup redirect between pods, "
                                   "as tcp.xdp_tc_redirect (on implies --namespaces)"));
  // After the CLI's own options, as before.
  CHECK(help.find("--mqtt-broker") < help.find("--namespaces"));
}

TEST_CASE("run: --namespaces and --xdp-tc-redirect set the tcp section", "[gateway][cli]") {
  SECTION("none given: the app's settings stay") {
    gateway::overrides o;
    REQUIRE(parse(o, {}).empty());
    auto app = app_on("tcp");
    REQUIRE(gateway::apply_overrides(app, o));
    CHECK(app.transport_settings.find("tcp") == nullptr);
  }
  SECTION("--namespaces") {
    gateway::overrides o;
    REQUIRE(parse(o, {"--namespaces"}).empty());
    auto app = app_on("tcp");
    REQUIRE(gateway::apply_overrides(app, o));
    CHECK(tcp_config_of(app).namespaces);
    CHECK_FALSE(tcp_config_of(app).xdp_tc_redirect);
  }
  SECTION("--xdp-tc-redirect on implies namespaces") {
    gateway::overrides o;
    REQUIRE(parse(o, {"--xdp-tc-redirect", "on"}).empty());
    auto app = app_on("tcp");
    REQUIRE(gateway::apply_overrides(app, o));
    CHECK(tcp_config_of(app).namespaces);
    CHECK(tcp_config_of(app).xdp_tc_redirect);
  }
  SECTION("--xdp-tc-redirect off keeps the file's namespaces and turns the redirect off") {
    gateway::overrides o;
    REQUIRE(parse(o, {"--xdp-tc-redirect", "off"}).empty());
    auto app = app_on("tcp");
    transports::tcp::tcp_config t;
    t.namespaces = true;
    t.xdp_tc_redirect = true;
    app.transport_settings.set(t.clone());
    REQUIRE(gateway::apply_overrides(app, o));
    CHECK(tcp_config_of(app).namespaces);
    CHECK_FALSE(tcp_config_of(app).xdp_tc_redirect);
  }
  SECTION("a value other than on or off is refused by the command line") {
    gateway::overrides o;
    CHECK_THAT(parse(o, {"--xdp-tc-redirect", "maybe"}), Catch::Contains("--xdp-tc-redirect"));
  }
  SECTION("on another transport: refused, naming both options") {
    gateway::overrides o;
    REQUIRE(parse(o, {"--namespaces"}).empty());
    auto app = app_on("local");
    auto ok = gateway::apply_overrides(app, o);
    REQUIRE_FALSE(ok);
    CHECK(ok.err().message == "--namespaces and --xdp-tc-redirect apply to transport tcp only, "
                              "not 'local'");
  }
  SECTION("--transport tcp on the command line makes them apply") {
    gateway::overrides o;
    REQUIRE(parse(o, {"--transport", "tcp", "--namespaces"}).empty());
    auto app = app_on("local");
    REQUIRE(gateway::apply_overrides(app, o));
    CHECK(tcp_config_of(app).namespaces);
  }
}
