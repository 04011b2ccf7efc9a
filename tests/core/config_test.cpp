#include "core/app_spec.hpp"
#include "core/config.hpp"
#include "core/transport_registry.hpp"
#include "core/yaml_walker.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <stdlib.h>

using namespace spry::core;

namespace {

// The app file's own keys only: transport sections are their transports' (tests/transports/).
const transport_registry no_sections;

const char* valid = R"(app: demo
transport: local
gateway:
  listen: 127.0.0.1:9090
  io_threads: 2
  body_limit: 2MiB
  header_timeout: 5s
  body_timeout: 500ms
functions:
  - { name: a, handler: lib.a, min_instances: 2 }
  - b
chains:
  - name: main
    http: { method: PUT, path: /main/ }
    functions: [a, b]
    pool: { buffers: 16, buffer_size: 4KiB }
    timeout: 2s
  - name: branchy
    http: { path: /branchy }
    routes:
      - { from: a, topic: left, to: b }
      - { from: a, to: end }
      - { from: b, to: end }
)";

// Parses `text` and returns the error message (test fails if it parsed and compiled).
std::string error_of(const std::string& text) {
  auto app = parse_app_yaml(text, "app.yaml", no_sections);
  if (!app)
    return app.err().message;
  auto c = compile(*app);
  if (!c)
    return c.err().message;
  FAIL("expected an error for:\n" << text);
  return {};
}

} // namespace

TEST_CASE("a valid app file parses into the app model", "[config]") {
  auto app = parse_app_yaml(valid, "demo.yaml", no_sections);
  REQUIRE(app);
  CHECK(app->name == "demo");
  CHECK(app->transport == "local");
  CHECK(app->gateway.host == "127.0.0.1");
  CHECK(app->gateway.port == 9090);
  CHECK(app->gateway.io_threads == 2);
  CHECK(app->gateway.body_limit == 2u << 20);
  CHECK(app->gateway.header_timeout_ms == 5000);
  CHECK(app->gateway.body_timeout_ms == 500);
  REQUIRE(app->functions.size() == 2);
  CHECK(app->functions[0].handler == "lib.a");
  CHECK(app->functions[0].min_instances == 2);
  CHECK(app->functions[0].max_instances == 2);
  CHECK(app->functions[1].name == "b");
  CHECK(app->functions[1].handler == "b");
  REQUIRE(app->chains.size() == 2);
  CHECK(app->chains[0].http.method == "PUT");
  CHECK(app->chains[0].http.path == "/main"); // trailing slash dropped
  CHECK(app->chains[0].pool.buffers == 16);
  CHECK(app->chains[0].pool.buffer_size == 4096);
  CHECK(app->chains[0].timeout_ms == 2000);
  CHECK(app->chains[1].http.method == "POST");
  CHECK(app->functions[0].where.line == 10);

  auto compiled = compile(*app);
  REQUIRE(compiled);
  auto t = route_table::build(compiled->heads, compiled->rules);
  REQUIRE(t);
  CHECK(t->next(0, 0, "") == function_id{1});
  CHECK(t->next(1, 0, "left") == function_id{1});
  CHECK(t->next(1, 0, "right") == end_of_chain);
}

TEST_CASE("config errors name file, line and what was expected", "[config]") {
  SECTION("unknown key") {
    auto e = error_of("functions: [a]\nchains: []\ntransprot: local\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:3:1: "));
    CHECK_THAT(e, Catch::Contains("unknown key 'transprot'"));
    CHECK_THAT(e, Catch::Contains("transport"));
  }
  SECTION("YAML syntax") {
    auto e = error_of("functions: [a\nchains: []\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:"));
    CHECK_THAT(e, Catch::Contains("YAML syntax error"));
  }
  SECTION("missing functions") {
    CHECK_THAT(error_of("chains: []\n"), Catch::Contains("missing required key 'functions'"));
  }
  SECTION("empty file") {
    CHECK_THAT(error_of(""), Catch::Contains("empty"));
  }
  SECTION("chain names an unknown function") {
    auto e = error_of("functions: [a, b]\nchains:\n  - name: c\n    http: {path: /c}\n"
                      "    functions: [a, x]\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:3:5: "));
    CHECK_THAT(e, Catch::Contains("unknown function 'x'"));
    CHECK_THAT(e, Catch::Contains("declared: a, b"));
  }
  SECTION("route to an unknown function") {
    auto e = error_of("functions: [a]\nchains:\n  - name: c\n    http: {path: /c}\n"
                      "    routes:\n      - {from: a, to: nowhere}\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:6:9: "));
    CHECK_THAT(e, Catch::Contains("unknown function 'nowhere' in `to`"));
  }
  SECTION("a chain that never ends") {
    auto e = error_of("functions: [a, b]\nchains:\n  - name: c\n    http: {path: /c}\n"
                      "    routes:\n      - {from: a, to: b}\n      - {from: b, to: a}\n");
    CHECK_THAT(e, Catch::Contains("no route leads to 'end'"));
  }
  SECTION("wrong type") {
    auto e = error_of("functions: [a]\nchains:\n  - name: c\n    http: {path: /c}\n"
                      "    functions: [a]\n    pool: {buffers: many}\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:6:21: "));
    CHECK_THAT(e, Catch::Contains("pool.buffers: expected a non-negative integer, got 'many'"));
  }
  SECTION("bad size unit") {
    auto e = error_of("functions: [a]\nchains:\n  - name: c\n    http: {path: /c}\n"
                      "    functions: [a]\n    pool: {buffer_size: 4XB}\n");
    CHECK_THAT(e, Catch::Contains("unknown size unit 'XB'"));
  }
  SECTION("bad duration") {
    auto e = error_of("functions: [a]\nchains:\n  - name: c\n    http: {path: /c}\n"
                      "    functions: [a]\n    timeout: soon\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:6:14: "));
    CHECK_THAT(e, Catch::Contains("expected a duration"));
  }
  SECTION("bad listen address") {
    auto e = error_of("gateway: {listen: localhost}\nfunctions: [a]\nchains: []\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:1:19: "));
    CHECK_THAT(e, Catch::Contains("HOST:PORT"));
    CHECK_THAT(error_of("gateway: {listen: '127.0.0.1:70000'}\nfunctions: [a]\nchains: []\n"),
               Catch::Contains("0..65535"));
  }
  SECTION("duplicate function") {
    auto e = error_of("functions:\n  - a\n  - a\nchains:\n  - {name: c, http: {path: /c}, "
                      "functions: [a]}\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:3:5: "));
    CHECK_THAT(e, Catch::Contains("declared twice"));
  }
  SECTION("two chains on one route") {
    auto e = error_of("functions: [a]\nchains:\n  - {name: c, http: {path: /c}, functions: [a]}\n"
                      "  - {name: d, http: {path: /c}, functions: [a]}\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:4:5: "));
    CHECK_THAT(e, Catch::Contains("already bound"));
  }
  SECTION("reserved path") {
    auto e = error_of("functions: [a]\nchains:\n  - {name: c, http: {path: /metrics}, functions: [a]}\n");
    CHECK_THAT(e, Catch::Contains("reserved"));
  }
  SECTION("bad HTTP method") {
    auto e = error_of("functions: [a]\nchains:\n  - {name: c, http: {method: FETCH, path: /c}, "
                      "functions: [a]}\n");
    CHECK_THAT(e, Catch::Contains("expected GET, POST"));
  }
  SECTION("max below min instances") {
    auto e = error_of("functions:\n  - {name: a, min_instances: 3, max_instances: 2}\nchains:\n"
                      "  - {name: c, http: {path: /c}, functions: [a]}\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:2:5: "));
    CHECK_THAT(e, Catch::Contains("max_instances must be >= min_instances"));
  }
  SECTION("a mapping where a list belongs") {
    auto e = error_of("functions: {a: 1}\nchains: []\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:1:12: "));
    CHECK_THAT(e, Catch::Contains("expected a list"));
  }
}

TEST_CASE("an unreadable file is a clear error", "[config]") {
  auto app = load_app_file("/nonexistent/app.yaml", no_sections);
  REQUIRE_FALSE(app);
  CHECK_THAT(app.err().message, Catch::Contains("cannot read app file '/nonexistent/app.yaml'"));
}

TEST_CASE("sizes and durations", "[config]") {
  CHECK(*parse_size("512") == 512);
  CHECK(*parse_size("64KiB") == 65536);
  CHECK(*parse_size("1MiB") == 1048576);
  CHECK(*parse_size("2G") == 2147483648ull);
  CHECK_FALSE(parse_size("KiB"));
  CHECK_FALSE(parse_size("-1"));
  CHECK_FALSE(parse_size("99999999999999999999"));
  CHECK(*parse_duration_ms("250ms") == 250);
  CHECK(*parse_duration_ms("10s") == 10000);
  CHECK(*parse_duration_ms("2m") == 120000);
  CHECK(*parse_duration_ms("1500") == 1500);
  CHECK(*parse_duration_ms("1h") == 3600000);
  CHECK_FALSE(parse_duration_ms("1d"));
  CHECK_FALSE(parse_duration_ms("s"));
}

TEST_CASE("policies, nodes and function sizes parse, and mistakes name their line", "[config]") {
  const char* text = R"(functions:
  - { name: a, min_instances: 0, max_instances: 4, cpu: 0.5, memory: 64MiB, slo: 50ms,
      slo_percentile: 0.99, weight: 2 }
chains:
  - { name: c, http: { path: /c }, functions: [a] }
policies:
  load_balancer: mu
  autoscaler: { name: kpa, interval: 500ms, hold_limit: 10, params: { target_concurrency: 2 } }
  placement: { name: mu, params: { score: best_fit } }
nodes:
  - { name: edge-a, cpus: "0", memory: 1GiB, speed: 1 }
  - { name: edge-b, cpus: "0-1,3", memory: 512MiB, speed: 0.5, instance_cpu_limit: 0.5 }
)";
  auto app = parse_app_yaml(text, "app.yaml", no_sections);
  REQUIRE(app);
  REQUIRE(compile(*app));
  const auto& f = app->functions[0];
  CHECK(f.min_instances == 0);
  CHECK(f.max_instances == 4);
  CHECK(f.cpu == 0.5);
  CHECK(f.memory == 64u << 20);
  CHECK(f.slo_ms == 50);
  CHECK(f.slo_percentile == 0.99);
  CHECK(f.weight == 2);
  CHECK(app->load_balancer == "mu");
  CHECK(app->autoscaling.policy.name == "kpa");
  CHECK(app->autoscaling.interval_ms == 500);
  CHECK(app->autoscaling.hold_limit == 10);
  REQUIRE(app->autoscaling.policy.params.size() == 1);
  CHECK(app->autoscaling.policy.params[0].first == "target_concurrency");
  CHECK(app->autoscaling.policy.params[0].second == "2");
  CHECK(app->placement.name == "mu");
  CHECK(app->placement.where.line == 9);
  REQUIRE(app->nodes.size() == 2);
  CHECK(app->nodes[1].cpus == std::vector<unsigned>{0, 1, 3});
  CHECK(app->nodes[1].memory == 512u << 20);
  CHECK(app->nodes[1].speed == 0.5);
  CHECK(app->nodes[0].instance_cpu_limit == 0); // no limit unless stated
  CHECK(app->nodes[1].instance_cpu_limit == 0.5);

  // The short form: just a name.
  auto short_form = parse_app_yaml("functions: [a]\nchains: [{name: c, http: {path: /c}, "
                                   "functions: [a]}]\npolicies: {autoscaler: mu, placement: spread}\n",
                                   "app.yaml", no_sections);
  REQUIRE(short_form);
  CHECK(short_form->autoscaling.policy.name == "mu");
  CHECK(short_form->autoscaling.interval_ms == 2000);

  const std::string chain = "chains: [{name: c, http: {path: /c}, functions: [a]}]\n";
  SECTION("scale to zero needs an autoscaler") {
    auto e = error_of("functions: [{name: a, min_instances: 0}]\n" + chain);
    CHECK_THAT(e, Catch::StartsWith("app.yaml:1:13: "));
    CHECK_THAT(e, Catch::Contains("needs an autoscaler"));
  }
  SECTION("bad cpu list") {
    auto e = error_of("functions: [a]\n" + chain + "nodes: [{name: n, cpus: \"3-1\"}]\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:3:"));
    CHECK_THAT(e, Catch::Contains("expected CPU ids"));
  }
  SECTION("a function that fits on no node") {
    auto e = error_of("functions: [{name: a, cpu: 2}]\n" + chain + "nodes: [{name: n, cpus: \"0\"}]\n");
    CHECK_THAT(e, Catch::Contains("fits on no node"));
  }
  SECTION("an instance CPU limit that is not a positive number of cores") {
    auto e = error_of("functions: [a]\n" + chain + "nodes: [{name: n, instance_cpu_limit: 0}]\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:3:"));
    CHECK_THAT(e, Catch::Contains("nodes[0].instance_cpu_limit: 0 is outside [0.01"));
  }
  SECTION("duplicate node") {
    auto e = error_of("functions: [a]\n" + chain + "nodes: [{name: n}, {name: n}]\n");
    CHECK_THAT(e, Catch::Contains("node 'n' is declared twice"));
  }
  SECTION("not a number") {
    auto e = error_of("functions: [{name: a, cpu: lots}]\n" + chain);
    CHECK_THAT(e, Catch::StartsWith("app.yaml:1:"));
    CHECK_THAT(e, Catch::Contains("expected a number, got 'lots'"));
  }
  SECTION("unknown key in a policy") {
    auto e = error_of("functions: [a]\n" + chain + "policies: {autoscaler: {name: kpa, tick: 1s}}\n");
    CHECK_THAT(e, Catch::StartsWith("app.yaml:3:"));
    CHECK_THAT(e, Catch::Contains("unknown key 'tick'"));
  }
}

TEST_CASE("adapters and mqtt parse and mistakes name their line", "[config]") {
  const std::string base = "functions: [a]\nchains:\n  - { name: c, http: { path: /c }, functions: [a], adapter: ce }\n";
  const std::string adapters = "adapters:\n  - { name: ce, library: libs/libce.so }\n";
  auto app = parse_app_yaml(adapters + base +
                              "mqtt:\n  broker: tcp://127.0.0.1:1883\n  reconnect_min: 50ms\n"
                              "  subscriptions:\n    - { filter: 's/+/m', chain: c, qos: 0, adapter: ce,"
                              " reply_topic: 'l/{2}' }\n",
                            "/apps/app.yaml", no_sections);
  REQUIRE(app);
  REQUIRE(compile(*app));
  REQUIRE(app->adapters.size() == 1);
  CHECK(app->adapters[0].library == "/apps/libs/libce.so"); // relative to the app file
  CHECK(app->chains[0].adapter == "ce");
  CHECK(app->mqtt.broker == "tcp://127.0.0.1:1883");
  CHECK(app->mqtt.reconnect_min_ms == 50);
  REQUIRE(app->mqtt.subscriptions.size() == 1);
  CHECK(app->mqtt.subscriptions[0].qos == 0);
  CHECK(app->mqtt.subscriptions[0].reply_topic == "l/{2}");

  CHECK_THAT(error_of(adapters + base + "mqtt:\n  broker: tcp://x:1\n  subscriptions:\n"
                                        "    - { filter: a, chain: c, qos: 2 }\n"),
             Catch::Contains("app.yaml:9:") && Catch::Contains("QoS 2 is not supported"));
  CHECK_THAT(error_of(adapters + base + "mqtt:\n  broker: tcp://x:1\n  subscriptions:\n"
                                        "    - { filter: 'a/#/b', chain: c }\n"),
             Catch::Contains("'#' must be the last level"));
  CHECK_THAT(error_of(adapters + base + "mqtt:\n  broker: tcp://x:1\n  subscriptions:\n"
                                        "    - { filter: a, chain: nope }\n"),
             Catch::Contains("app.yaml:9:") && Catch::Contains("no chain named 'nope'"));
  CHECK_THAT(error_of(adapters + base + "mqtt:\n  broker: localhost\n  subscriptions: []\n"),
             Catch::Contains("expected tcp://HOST:PORT"));
  CHECK_THAT(error_of(base), Catch::Contains("app.yaml:3:") &&
                               Catch::Contains("adapter 'ce' is not declared under `adapters:`"));
}

TEST_CASE("mqtt content_mode: structured CloudEvents only, binary needs MQTT 5", "[config]") {
  const std::string base = "adapters:\n  - { name: ce, library: libs/libce.so }\n"
                           "functions: [a]\nchains:\n  - { name: c, functions: [a] }\n"
                           "mqtt:\n  broker: tcp://127.0.0.1:1883\n  subscriptions:\n";
  auto app = parse_app_yaml(base + "    - { filter: s, chain: c, adapter: ce, content_mode: structured }\n",
                            "/apps/app.yaml", no_sections);
  REQUIRE(app);
  CHECK(app->mqtt.subscriptions[0].content_mode == "structured");
  CHECK(app->mqtt.protocol == 4);
  app = parse_app_yaml(base + "    - { filter: s, chain: c, adapter: ce }\n", "/apps/app.yaml", no_sections);
  REQUIRE(app);
  CHECK(app->mqtt.subscriptions[0].content_mode.empty());
  CHECK_THAT(error_of(base + "    - { filter: s, chain: c, adapter: ce, content_mode: binary }\n"),
             Catch::Contains("app.yaml:9:") && Catch::Contains("need MQTT 5") &&
               Catch::Contains("set mqtt.protocol: 5") && Catch::Contains("content_mode: structured"));
  CHECK_THAT(error_of(base + "    - { filter: s, chain: c, adapter: ce, content_mode: json }\n"),
             Catch::Contains("expected structured or binary, got 'json'"));
  CHECK_THAT(error_of(base + "    - { filter: s, chain: c, content_mode: structured }\n"),
             Catch::Contains("needs an adapter that speaks CloudEvents"));

  // With protocol: 5 binary mode is accepted.
  const std::string v5 = "adapters:\n  - { name: ce, library: libs/libce.so }\n"
                         "functions: [a]\nchains:\n  - { name: c, functions: [a] }\n"
                         "mqtt:\n  broker: tcp://127.0.0.1:1883\n  protocol: 5\n  subscriptions:\n";
  app = parse_app_yaml(v5 + "    - { filter: s, chain: c, adapter: ce, content_mode: binary }\n",
                       "/apps/app.yaml", no_sections);
  REQUIRE(app);
  CHECK(app->mqtt.protocol == 5);
  CHECK(app->mqtt.subscriptions[0].content_mode == "binary");
  CHECK_THAT(error_of(v5 + "    - { filter: s, chain: c, content_mode: binary }\n"),
             Catch::Contains("needs an adapter that speaks CloudEvents"));
}

TEST_CASE("mqtt protocol and session_expiry", "[config]") {
  const std::string base = "functions: [a]\nchains:\n  - { name: c, functions: [a] }\n"
                           "mqtt:\n  broker: tcp://127.0.0.1:1883\n";
  const std::string subs = "  subscriptions:\n    - { filter: s, chain: c }\n";
  auto app = parse_app_yaml(base + "  protocol: 5\n" + subs, "/apps/app.yaml", no_sections);
  REQUIRE(app);
  CHECK(app->mqtt.protocol == 5);
  CHECK(app->mqtt.session_expiry_s == 3600); // the default: one hour
  CHECK(app->mqtt.persistent_session);       // QoS 1 by default
  app = parse_app_yaml(base + "  protocol: 3.1.1\n" + subs, "/apps/app.yaml", no_sections);
  REQUIRE(app);
  CHECK(app->mqtt.protocol == 4);
  app = parse_app_yaml(base + "  protocol: 5\n  session_expiry: 10m\n" + subs, "/apps/app.yaml",
                       no_sections);
  REQUIRE(app);
  CHECK(app->mqtt.session_expiry_s == 600);
  app = parse_app_yaml(base + "  protocol: 5\n  session_expiry: never\n" + subs, "/apps/app.yaml",
                       no_sections);
  REQUIRE(app);
  CHECK(app->mqtt.session_expiry_s == 0xffffffffu);
  CHECK_THAT(error_of(base + "  protocol: 6\n" + subs),
             Catch::Contains("app.yaml:6:") && Catch::Contains("expected 3.1.1 or 5, got '6'"));
  CHECK_THAT(error_of(base + "  session_expiry: 1h\n" + subs),
             Catch::Contains("app.yaml:6:") && Catch::Contains("needs protocol: 5"));
  CHECK_THAT(error_of(base + "  protocol: 5\n  session_expiry: 500ms\n" + subs),
             Catch::Contains("at least 1s"));
}

TEST_CASE("mqtt sessions: persistent by default with QoS 1, a stable client id per app", "[config]") {
  const std::string base = "app: shop\nfunctions: [a]\nchains:\n  - { name: m, functions: [a] }\n";
  const std::string mqtt = "mqtt:\n  broker: tcp://127.0.0.1:1883\n";
  auto qos1 = parse_app_yaml(base + mqtt + "  subscriptions:\n    - { filter: 's/+', chain: m }\n",
                             "app.yaml", no_sections);
  REQUIRE(qos1);
  CHECK(qos1->mqtt.persistent_session);
  CHECK(qos1->mqtt.client_id == "spry-shop");
  CHECK(qos1->mqtt.max_message_size == 1u << 20);
  CHECK(qos1->mqtt.share_group.empty());
  auto qos0 = parse_app_yaml(base + mqtt + "  client_id: dev-7\n  subscriptions:\n"
                                           "    - { filter: 's/+', chain: m, qos: 0 }\n",
                             "app.yaml", no_sections);
  REQUIRE(qos0);
  CHECK_FALSE(qos0->mqtt.persistent_session);
  CHECK(qos0->mqtt.client_id == "dev-7");
  auto set = parse_app_yaml(base + mqtt + "  persistent_session: false\n  max_message_size: 64KiB\n"
                                          "  share_group: g1\n  subscriptions:\n"
                                          "    - { filter: 's/+', chain: m }\n",
                            "app.yaml", no_sections);
  REQUIRE(set);
  CHECK_FALSE(set->mqtt.persistent_session);
  CHECK(set->mqtt.max_message_size == 64 * 1024);
  CHECK(set->mqtt.share_group == "g1");
  const std::string subs = "  subscriptions:\n    - { filter: 's/+', chain: m }\n";
  CHECK_THAT(error_of(base + mqtt + "  persistent_session: maybe\n" + subs),
             Catch::Contains("app.yaml:7:") && Catch::Contains("expected true or false"));
  CHECK_THAT(error_of(base + mqtt + "  share_group: a/b\n" + subs),
             Catch::Contains("mqtt.share_group: must be a non-empty name"));
  CHECK_THAT(error_of(base + mqtt + "  client_id: ''\n" + subs),
             Catch::Contains("mqtt.client_id: must be 1 to 65535 bytes"));
  CHECK_THAT(error_of(base + mqtt + "  max_message_size: 0\n" + subs),
             Catch::Contains("at least 1 byte"));
}

TEST_CASE("a chain without http is started by MQTT only and must have a subscription", "[config]") {
  const std::string base = "functions: [a]\nchains:\n  - { name: m, functions: [a] }\n";
  auto app = parse_app_yaml(base + "mqtt:\n  broker: tcp://127.0.0.1:1883\n  subscriptions:\n"
                                   "    - { filter: 's/+', chain: m }\n", "/apps/app.yaml", no_sections);
  REQUIRE(app);
  REQUIRE(compile(*app));
  CHECK(app->chains[0].http.path.empty());
  CHECK_THAT(error_of(base), Catch::Contains("app.yaml:3:") &&
                               Catch::Contains("chain 'm': nothing starts it"));
}

TEST_CASE("library paths resolve against the app file's folder however the file is named",
          "[config]") {
  // A temporary folder with an app file and a (fake) library beside it; the process's working
  // directory moves there so the app file can be named bare ("app.yaml"), then moves back.
  char tmpl[] = "/tmp/spry-config-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  const auto old_cwd = std::filesystem::current_path();
  std::ofstream(dir / "libbeside.so") << "not loaded here";
  std::filesystem::create_directory(dir / "sub");
  std::ofstream(dir / "app.yaml")
    << "libraries: [libbeside.so, sub/libsub.so, libsystem.so]\n"
       "adapters: [{ name: a, library: libbeside.so }]\n"
       "functions: [f]\nchains: [{ name: c, http: { path: /c }, functions: [f] }]\n";
  std::filesystem::current_path(dir);
  std::vector<std::vector<std::string>> seen;
  for (const std::string& name :
       std::vector<std::string>{"app.yaml", "./app.yaml", (dir / "app.yaml").string()}) {
    auto app = load_app_file(name, no_sections);
    REQUIRE(app);
    auto libs = app->libraries;
    libs.push_back(app->adapters.at(0).library);
    seen.push_back(libs);
  }
  std::filesystem::current_path(old_cwd);
  std::filesystem::remove_all(dir);
  for (const auto& libs : seen) {
    CAPTURE(libs);
    // Beside the app: absolute, so dlopen does not search its own path for a bare name.
    CHECK(libs[0] == (dir / "libbeside.so").string());
    CHECK(libs[1] == (dir / "sub/libsub.so").string());
    // Not beside the app: left to the dynamic loader's search path.
    CHECK(libs[2] == "libsystem.so");
    CHECK(libs[3] == (dir / "libbeside.so").string());
  }
}

TEST_CASE("routes that let requests fail at run time are warned about", "[config]") {
  auto app = parse_app_yaml(R"(functions: [parse, happy, sad, log, tail]
chains:
  - name: mood
    http: { path: /mood }
    routes:
      - { from: parse, topic: happy, to: happy }
      - { from: parse, topic: sad, to: sad }
      - { from: happy, to: end }
      - { from: sad, to: log }
  - name: fine
    http: { path: /fine }
    functions: [parse, tail]
    routes:
      - { from: parse, topic: log, to: log }
      - { from: log, topic: "*", to: end }
)",
                            "app.yaml", no_sections);
  REQUIRE(app);
  REQUIRE(compile(*app));
  const auto found = check_routes(*app);
  // Knowable: 'log' is reached (from sad) and nothing leads on from it.
  REQUIRE(found.warnings.size() == 1);
  CHECK(found.warnings[0] ==
        "app.yaml:3:5: warning: chain 'mood': no route leads on from function 'log': every "
        "request that reaches it fails with 502 (add `{ from: log, topic: \"*\", to: end }` or a "
        "route to the next function)");
  // Not knowable (parse may only ever set happy or sad): one note for the app.
  CHECK_THAT(found.note, Catch::StartsWith("note: 1 function(s) route only the topics listed for "
                                           "them, with no \"*\" route: 'parse' in chain 'mood' "
                                           "(happy, sad). "));
  // The valid sample app: every function has a "*" route (linear chains end in `end`).
  auto sample = parse_app_yaml(valid, "app.yaml", no_sections);
  REQUIRE(sample);
  CHECK(check_routes(*sample).warnings.empty());
  CHECK(check_routes(*sample).note.empty());
}

namespace {

// A transport's settings as a test transport would register them: one number.
struct fake_config final : transport_config {
  uint64_t depth = 4;
  std::string section() const override { return "fake"; }
  std::unique_ptr<transport_config> clone() const override {
    return std::make_unique<fake_config>(*this);
  }
  std::string dump() const override { return "depth: " + std::to_string(depth) + "\n"; }
};

transport_registry with_fake_section() {
  transport_registry r;
  config_section s;
  s.key = "fake";
  s.transport = "fake-transport";
  s.parse = [](const yaml_walker& w, const YAML::Node& n) -> std::unique_ptr<transport_config> {
    w.expect_map(n, "fake");
    w.only_keys(n, "fake", {"depth"});
    auto c = std::make_unique<fake_config>();
    if (n["depth"])
      c->depth = w.uint(n["depth"], "fake.depth", 64);
    return c;
  };
  REQUIRE(r.add_section(s));
  REQUIRE_FALSE(r.add_section(s)); // a key is registered once
  return r;
}

} // namespace

TEST_CASE("a transport's section is parsed by the parser it registered, at its place in the file",
          "[config]") {
  const std::string rest = "functions: [a]\nchains:\n  - {name: c, http: {path: /c}, functions: [a]}\n";
  const auto sections = with_fake_section();
  SECTION("parsed into the transport's settings, with where it was") {
    auto app = parse_app_yaml("fake:\n  depth: 9\n" + rest, "app.yaml", sections);
    REQUIRE(app);
    const auto* c = app->transport_settings.get<fake_config>("fake");
    REQUIRE(c);
    CHECK(c->depth == 9);
    CHECK(c->where.prefix() == "app.yaml:2:3: ");
    CHECK(app->transport_settings.keys() == std::vector<std::string>{"fake"});
  }
  SECTION("absent: no settings, the transport uses its defaults") {
    auto app = parse_app_yaml(rest, "app.yaml", sections);
    REQUIRE(app);
    CHECK(app->transport_settings.empty());
    CHECK(app->transport_settings.find("fake") == nullptr);
  }
  SECTION("its mistakes are reported with file:line like the app's own keys") {
    auto app = parse_app_yaml("fake:\n  depth: 100\n" + rest, "app.yaml", sections);
    REQUIRE_FALSE(app);
    CHECK(app.err().message == "app.yaml:2:10: fake.depth: 100 is too large (at most 64)");
    auto unknown = parse_app_yaml("fake: {width: 1}\n" + rest, "app.yaml", sections);
    REQUIRE_FALSE(unknown);
    CHECK_THAT(unknown.err().message,
               Catch::StartsWith("app.yaml:1:8: fake: unknown key 'width' (expected one of: depth)"));
  }
  SECTION("not registered: an unknown key, and the list says which sections there are") {
    auto app = parse_app_yaml("fake:\n  depth: 9\n" + rest, "app.yaml", no_sections);
    REQUIRE_FALSE(app);
    CHECK_THAT(app.err().message, Catch::StartsWith("app.yaml:1:1: top level: unknown key 'fake'"));
    CHECK_THAT(app.err().message, !Catch::Contains("fake)"));
    auto other = parse_app_yaml("fakes: {}\n" + rest, "app.yaml", sections);
    REQUIRE_FALSE(other);
    CHECK_THAT(other.err().message, Catch::Contains("unknown key 'fakes'") &&
                                      Catch::EndsWith(", mqtt, fake)"));
  }
}

TEST_CASE("instances.start chooses exec (default) or fork, and a mistake names its line", "[config]") {
  const std::string head = "app: demo\ntransport: tcp\nfunctions: [a]\nchains:\n  - name: c\n"
                           "    http: {path: /c}\n    functions: [a]\n";
  auto plain = parse_app_yaml(head, "app.yaml", no_sections);
  REQUIRE(plain);
  CHECK(plain->instances.start == "exec");
  auto forked = parse_app_yaml(head + "instances: { start: fork }\n", "app.yaml", no_sections);
  REQUIRE(forked);
  CHECK(forked->instances.start == "fork");
  auto e = error_of(head + "instances: { start: clone }\n");
  CHECK_THAT(e, Catch::StartsWith("app.yaml:8:"));
  CHECK_THAT(e, Catch::Contains("instances.start: expected 'exec' or 'fork', got 'clone'"));
}

TEST_CASE("instances.spare: spare processes forked ahead, 4 unless set, at most 64", "[config]") {
  const std::string head = "app: demo\ntransport: tcp\nfunctions: [a]\nchains:\n  - name: c\n"
                           "    http: {path: /c}\n    functions: [a]\n";
  auto plain = parse_app_yaml(head, "app.yaml", no_sections);
  REQUIRE(plain);
  CHECK(plain->instances.spare == 4);
  auto none = parse_app_yaml(head + "instances: { start: fork, spare: 0 }\n", "app.yaml", no_sections);
  REQUIRE(none);
  CHECK(none->instances.spare == 0);
  auto some = parse_app_yaml(head + "instances: { start: fork, spare: 9 }\n", "app.yaml", no_sections);
  REQUIRE(some);
  CHECK(some->instances.spare == 9);
  auto e = error_of(head + "instances: { start: fork, spare: 65 }\n");
  CHECK_THAT(e, Catch::StartsWith("app.yaml:8:"));
  CHECK_THAT(e, Catch::Contains("instances.spare"));
}
