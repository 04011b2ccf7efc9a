// The `tcp:` section (transports/tcp/tcp_config.cpp), read through the app file parser with the
// sections this build registers, as `spry check` and `spry run` read it.
#include "core/config.hpp"
#include "core/runtime.hpp"
#include "transports/register.hpp"
#include "transports/tcp/tcp_config.hpp"

#include "tests/support/app_parse.hpp"

#include <catch2/catch.hpp>

using namespace spry::core;
using spry::transports::tcp::tcp_config;
using spry::transports::tcp::tcp_config_of;

namespace {

expected<app_spec> parse(const std::string& text) { return spry::test::parse_app(text); }
std::string error_of(const std::string& text) { return spry::test::parse_error_of(text); }

} // namespace

TEST_CASE("tcp.namespaces and tcp.xdp_tc_redirect parse and mistakes name their line",
          "[config][tcp]") {
  const std::string head = "app: demo\ntransport: tcp\nfunctions: [a]\nchains:\n  - name: c\n"
                           "    http: {path: /c}\n    functions: [a]\n";
  SECTION("off by default") {
    auto app = parse(head);
    REQUIRE(app);
    CHECK(app->transport_settings.find("tcp") == nullptr);
    CHECK_FALSE(tcp_config_of(*app).namespaces);
    CHECK_FALSE(tcp_config_of(*app).xdp_tc_redirect);
  }
  SECTION("on and off") {
    for (const char* v : {"on", "off"}) {
      auto app = parse(head + "tcp: { namespaces: true, xdp_tc_redirect: " + v + " }\n");
      REQUIRE(app);
      CHECK(tcp_config_of(*app).namespaces);
      CHECK(tcp_config_of(*app).xdp_tc_redirect == (std::string(v) == "on"));
      CHECK(tcp_config_of(*app).where.prefix() == "app.yaml:8:6: ");
    }
  }
  SECTION("redirect without namespaces") {
    auto e = error_of(head + "tcp: { xdp_tc_redirect: on }\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:8:"));
    CHECK_THAT(e, Catch::Contains("needs tcp.namespaces: true"));
  }
  SECTION("not a switch") {
    CHECK_THAT(error_of(head + "tcp: { namespaces: true, xdp_tc_redirect: fast }\n"),
               Catch::Contains("tcp.xdp_tc_redirect: expected on or off, got 'fast'"));
    CHECK_THAT(error_of(head + "tcp: { sidecar: yes }\n"),
               Catch::StartsWith("app.yaml:8:17: tcp.sidecar: expected true or false, got 'yes'"));
  }
  SECTION("with sidecars") {
    CHECK_THAT(error_of(head + "tcp: { namespaces: true, sidecar: true }\n"),
               Catch::Contains("not supported together with tcp.sidecar"));
  }
  SECTION("other keys") {
    auto app = parse(head + "tcp: { sidecar: true, front_end: nginx, connections_per_peer: 3 }\n");
    REQUIRE(app);
    CHECK(tcp_config_of(*app).sidecar);
    CHECK(tcp_config_of(*app).front_end == "nginx");
    CHECK(tcp_config_of(*app).connections_per_peer == 3);
    CHECK_THAT(error_of(head + "tcp: { front_end: haproxy }\n"),
               Catch::StartsWith("app.yaml:8:19: tcp.front_end: expected none or nginx, got 'haproxy'"));
    CHECK_THAT(error_of(head + "tcp: { connections_per_peer: 0 }\n"),
               Catch::Contains("tcp.connections_per_peer: must be at least 1"));
    CHECK_THAT(error_of(head + "tcp: { sidecars: true }\n"),
               Catch::StartsWith("app.yaml:8:8: tcp: unknown key 'sidecars'"));
  }
}

TEST_CASE("tcp settings are checked against the app's transport, for apps built in C++ too",
          "[config][tcp]") {
  const auto* section = spry::test::all_transports().find_section("tcp");
  REQUIRE(section);
  REQUIRE(section->check);
  app_spec app;
  app.transport = "tcp";
  tcp_config t;
  t.sidecar = true;
  CHECK(section->check(t, app));
  app.transport = "local";
  auto e = section->check(t, app);
  REQUIRE_FALSE(e);
  CHECK(e.err().message == "tcp.sidecar: transport 'local' has no sidecar (it is part of the tcp "
                           "baseline)");
  t.sidecar = false;
  t.front_end = "nginx";
  CHECK_THAT(section->check(t, app).err().message,
             Catch::Contains("tcp.front_end: transport 'local' cannot put a front end"));
  app.transport = "tcp";
  t.front_end = "envoy";
  CHECK_THAT(section->check(t, app).err().message,
             Catch::Contains("tcp.front_end: expected 'none' or 'nginx', got 'envoy'"));
  t.front_end = "none";
  t.namespaces = true;
  t.sidecar = true;
  CHECK_THAT(section->check(t, app).err().message, Catch::Contains("not supported together"));
  // The registry's entry asks the settings whether sidecars run, and routes through the broker
  // unless the app says otherwise.
  const auto* entry = spry::test::all_transports().find("tcp");
  REQUIRE(entry);
  REQUIRE(entry->sidecars);
  CHECK_FALSE(entry->sidecars(app)); // no tcp section: defaults
  tcp_config with;
  with.sidecar = true;
  app.transport_settings.set(with.clone());
  CHECK(entry->sidecars(app));
  CHECK(entry->broker_routing_by_default);
  CHECK(effective_routing(app, entry->broker_routing_by_default) == routing_mode::broker);
  app.routing = "direct";
  CHECK(effective_routing(app, entry->broker_routing_by_default) == routing_mode::direct);
}

TEST_CASE("tcp settings dump as the section reads", "[config][tcp]") {
  tcp_config t;
  t.namespaces = true;
  t.xdp_tc_redirect = true;
  const auto text = t.dump();
  CHECK(text == "sidecar: false\nfront_end: none\nconnections_per_peer: 8\nnamespaces: true\n"
                "xdp_tc_redirect: on\n");
  std::string indented;
  for (size_t i = 0, j; i < text.size(); i = j + 1) {
    j = text.find('\n', i);
    indented += "  " + text.substr(i, j - i + 1);
  }
  auto again = parse("tcp:\n" + indented + "functions: [a]\nchains:\n"
                     "  - {name: c, http: {path: /c}, functions: [a]}\n");
  REQUIRE(again);
  CHECK(tcp_config_of(*again).dump() == text);
}
