// The C++ builder covers the app file: one app written both ways yields the same app_spec, field
// by field (source locations aside), for every section a user can write.
#include "core/app.hpp"
#include "core/config.hpp"
#include "core/transport_registry.hpp"
#include "core/yaml_walker.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace spry::core;

namespace {

// A transport's own settings, as a transport registers its section (transports/tcp/tcp_config.hpp
// is one); the builder and the file must store the same.
struct ring_config final : transport_config {
  unsigned size = 8;
  std::string section() const override { return "ring"; }
  std::unique_ptr<transport_config> clone() const override {
    return std::make_unique<ring_config>(*this);
  }
  std::string dump() const override { return "size: " + std::to_string(size) + "\n"; }
};

const transport_registry& ring_section() {
  static const transport_registry r = [] {
    transport_registry t;
    config_section s;
    s.key = "ring";
    s.transport = "ring-transport";
    s.parse = [](const yaml_walker& w, const YAML::Node& n) -> std::unique_ptr<transport_config> {
      w.expect_map(n, "ring");
      w.only_keys(n, "ring", {"size"});
      auto c = std::make_unique<ring_config>();
      if (n["size"])
        c->size = static_cast<unsigned>(w.uint(n["size"], "ring.size", 1024));
      return c;
    };
    t.add_section(s);
    return t;
  }();
  return r;
}

// Everything of an app_spec a user can set, one line per field; locations left out (a file line
// in one, "program" in the other).
std::string dump(const app_spec& a) {
  std::ostringstream o;
  auto policy = [&](const char* what, const policy_choice& p) {
    o << what << " " << p.name;
    for (const auto& [k, v] : p.params)
      o << " " << k << "=" << v;
    o << "\n";
  };
  o << "app " << a.name << " transport " << a.transport << " routing " << a.routing
    << " workers " << a.worker_threads << "\n";
  for (const auto& l : a.libraries)
    o << "library " << l << "\n";
  const auto& i = a.instances;
  o << "instances ready " << i.ready_timeout_ms << " backoff " << i.restart_backoff_ms << ".."
    << i.restart_backoff_max_ms << " crash " << i.crash_loop_restarts << "/"
    << i.crash_loop_window_ms << " start " << i.start << "\n";
  o << "lb " << a.load_balancer << "\n";
  policy("autoscaler", a.autoscaling.policy);
  o << "interval " << a.autoscaling.interval_ms << " hold " << a.autoscaling.hold_limit << "\n";
  policy("placement", a.placement);
  for (const auto& n : a.nodes) {
    o << "node " << n.name << " mem " << n.memory << " speed " << n.speed << " limit "
      << n.instance_cpu_limit << " cpus";
    for (auto c : n.cpus)
      o << " " << c;
    o << "\n";
  }
  const auto& g = a.gateway;
  o << "gateway " << g.host << ":" << g.port << " io " << g.io_threads << " body " << g.body_limit
    << " header " << g.header_timeout_ms << " bodyt " << g.body_timeout_ms << " idle "
    << g.idle_timeout_ms << "\n";
  for (const auto& key : a.transport_settings.keys())
    o << "section " << key << "\n" << a.transport_settings.find(key)->dump();
  for (const auto& ad : a.adapters)
    o << "adapter " << ad.name << " " << ad.library << "\n";
  const auto& m = a.mqtt;
  o << "mqtt " << m.broker << " id " << m.client_id << " keepalive " << m.keepalive_ms
    << " persistent " << m.persistent_session << " max " << m.max_message_size << " share "
    << m.share_group << " reconnect " << m.reconnect_min_ms << ".." << m.reconnect_max_ms
    << " wait " << m.backpressure_wait_ms << "\n";
  for (const auto& s : m.subscriptions)
    o << "sub " << s.filter << " -> " << s.chain << " qos " << s.qos << " adapter " << s.adapter
      << " reply " << s.reply_topic << " rqos " << s.reply_qos << " mode " << s.content_mode
      << "\n";
  for (const auto& f : a.functions)
    o << "function " << f.name << " handler " << f.handler << " inst " << f.min_instances << ".."
      << f.max_instances << " conc " << f.concurrency << " cpu " << f.cpu << " mem " << f.memory
      << " slo " << f.slo_ms << "@" << f.slo_percentile << " weight " << f.weight << "\n";
  for (const auto& c : a.chains) {
    o << "chain " << c.name << " " << c.http.method << " " << c.http.path << " head " << c.head
      << " pool " << c.pool.buffers << "x" << c.pool.buffer_size << " timeout " << c.timeout_ms
      << " adapter " << c.adapter << " fns";
    for (const auto& f : c.functions)
      o << " " << f;
    o << "\n";
    for (const auto& r : c.routes)
      o << "  route " << r.from << " [" << r.topic << "] -> " << r.to << "\n";
  }
  return o.str();
}

constexpr const char* yaml = R"(
app: mood
transport: shm-skmsg
routing: broker
workers: 3
libraries: [/opt/mood/libmood.so]
instances: { ready_timeout: 4s, restart_backoff: 50ms, restart_backoff_max: 2s,
             crash_loop_restarts: 7, crash_loop_window: 9s, start: fork }
ring: { size: 4 }
gateway: { listen: 127.0.0.1:9090, io_threads: 2, body_limit: 64KiB, header_timeout: 2s,
           body_timeout: 3s, idle_timeout: 4s }
policies:
  load_balancer: least_connections
  autoscaler: { name: kpa, params: { target: "10", panic_window: 6s }, interval: 500ms,
                hold_limit: 64 }
  placement: { name: mu, params: { alpha: "0.5" } }
nodes:
  - { name: edge0, cpus: "0-1", memory: 1GiB, speed: 2 }
  - { name: edge1, cpus: "2", memory: 512MiB, instance_cpu_limit: 0.5 }
adapters:
  - { name: cloudevents, library: /opt/adapters/libspry_adapter_cloudevents.so }
mqtt:
  broker: tcp://127.0.0.1:1883
  client_id: mood-gw
  keepalive: 5s
  persistent_session: false
  share_group: moods
  reconnect_min: 200ms
  reconnect_max: 3s
  backpressure_wait: 700ms
  max_message_size: 2KiB
  subscriptions:
    - { filter: "rooms/+/mood", chain: mood, qos: 1, reply_topic: "answers/{2}", reply_qos: 1 }
    - { filter: "raw/#", chain: mood, qos: 0, adapter: cloudevents }
    - { filter: "events/#", chain: sensed, adapter: cloudevents, content_mode: structured }
functions:
  - { name: parse, handler: parse, min_instances: 0, max_instances: 4, concurrency: 8,
      cpu: 0.5, memory: 64MiB, slo: 50ms, slo_percentile: 0.99, weight: 2 }
  - { name: happy, handler: happy }
  - { name: sad, handler: sad, min_instances: 2, max_instances: 2 }
  - { name: sense, handler: mood.sense }
chains:
  - name: mood
    http: { method: PUT, path: /mood }
    head: parse
    routes:
      - { from: parse, topic: happy, to: happy }
      - { from: parse, topic: "*", to: sad }
      - { from: happy, topic: "*", to: end }
      - { from: sad, to: end }
    pool: { buffers: 16, buffer_size: 4KiB }
    timeout: 750ms
    adapter: cloudevents
  - name: sensed
    routes:
      - { from: sense, topic: "*", to: end }
    head: sense
)";

} // namespace

TEST_CASE("the C++ builder writes the same app as the YAML file, section by section", "[app]") {
  auto from_file = parse_app_yaml(yaml, "mood.yaml", ring_section());
  REQUIRE(from_file);

  app a("mood");
  auto noop = [](message&) {};
  a.function("parse", noop, 0).instances(0, 4).concurrency(8).resources(0.5, 64ull << 20)
    .slo(50, 0.99).weight(2);
  a.function("happy", noop);
  a.function("sad", noop, 2);
  a.function("sense", "mood.sense"); // defined by a library, as the file's `handler:`
  a.transport("shm-skmsg").routing("broker").listen("127.0.0.1", 9090).workers(3);
  a.library("/opt/mood/libmood.so");
  instances_spec inst;
  inst.ready_timeout_ms = 4000;
  inst.restart_backoff_ms = 50;
  inst.restart_backoff_max_ms = 2000;
  inst.crash_loop_restarts = 7;
  inst.crash_loop_window_ms = 9000;
  inst.start = "fork";
  a.instances(inst);
  gateway_spec g;
  g.io_threads = 2;
  g.body_limit = 64 << 10;
  g.header_timeout_ms = 2000;
  g.body_timeout_ms = 3000;
  g.idle_timeout_ms = 4000;
  a.gateway(g);
  ring_config ring;
  ring.size = 4;
  a.configure(ring);
  a.load_balancer("least_connections")
    .autoscaler("kpa", {{"target", "10"}, {"panic_window", "6s"}}, 500, 64)
    .placement("mu", {{"alpha", "0.5"}})
    .node("edge0", {0, 1}, 1ull << 30, 2)
    .node("edge1", {2}, 512ull << 20, 1, 0.5)
    .adapter("cloudevents", "/opt/adapters/libspry_adapter_cloudevents.so");
  a.mqtt("tcp://127.0.0.1:1883")
    .client_id("mood-gw")
    .keepalive_ms(5000)
    .persistent_session(false)
    .share_group("moods")
    .reconnect_ms(200, 3000)
    .backpressure_wait_ms(700)
    .max_message_size(2048)
    .subscribe("rooms/+/mood", "mood", 1, "answers/{2}", 1)
    .subscribe("raw/#", "mood", 0, {}, 0, "cloudevents");
  mqtt_subscription sensed;
  sensed.filter = "events/#";
  sensed.chain = "sensed";
  sensed.adapter = "cloudevents";
  sensed.content_mode = "structured";
  a.mqtt("tcp://127.0.0.1:1883").subscribe(sensed);
  a.chain("mood")
    .http("PUT", "/mood")
    .head("parse")
    .route("parse", "happy", "happy")
    .route("parse", std::string(any_topic), "sad")
    .route("happy", "*", "end")
    .route("sad", "*", "end")
    .pool(16, 4096)
    .timeout_ms(750)
    .adapter("cloudevents");
  a.chain("sensed").no_http().route("sense", "*", "end").head("sense");
  REQUIRE(a.errors().empty());

  CHECK(dump(a.spec()) == dump(*from_file));
  // Both compile to the same routes.
  auto c1 = compile(a.spec());
  auto c2 = compile(*from_file);
  REQUIRE(c1);
  REQUIRE(c2);
  CHECK(c1->heads == c2->heads);
  REQUIRE(c1->rules.size() == c2->rules.size());
}

TEST_CASE("gateway() keeps the address listen() set unless it names one", "[app]") {
  app a("x");
  a.listen("127.0.0.1", 0);
  gateway_spec g;
  g.io_threads = 3;
  a.gateway(g);
  CHECK(a.spec().gateway.port == 0);
  CHECK(a.spec().gateway.io_threads == 3);
  g.port = 7000;
  a.gateway(g);
  CHECK(a.spec().gateway.port == 7000);
}

TEST_CASE("configure() stores a copy of a transport's settings, the last per section", "[app]") {
  app a("configured");
  ring_config r;
  r.size = 4;
  a.configure(r);
  r.size = 5; // the app took a copy
  REQUIRE(a.spec().transport_settings.get<ring_config>("ring"));
  CHECK(a.spec().transport_settings.get<ring_config>("ring")->size == 4);
  a.configure(r);
  CHECK(a.spec().transport_settings.get<ring_config>("ring")->size == 5);
  CHECK(a.spec().transport_settings.keys() == std::vector<std::string>{"ring"});
}

TEST_CASE("the builder's defaults are the file's: client id, persistent session", "[app]") {
  const std::string text = "app: d\nmqtt:\n  broker: tcp://127.0.0.1:1883\n  subscriptions:\n"
                           "    - { filter: a, chain: c }\nfunctions: [f]\n"
                           "chains:\n  - { name: c, functions: [f] }\n";
  auto from_file = parse_app_yaml(text, "d.yaml", ring_section());
  REQUIRE(from_file);
  app a("d");
  a.function("f", [](message&) {});
  a.mqtt("tcp://127.0.0.1:1883").subscribe("a", "c");
  a.chain("c").no_http().then("f");
  CHECK(dump(a.spec()) == dump(*from_file));
  CHECK(a.spec().mqtt.client_id == "spry-d");
  CHECK(a.spec().mqtt.persistent_session); // QoS 1 by default
}

namespace {

// What compile() says of an app, without the file:line a YAML app's errors start with.
std::string compile_error(const app_spec& spec) {
  auto c = compile(spec);
  REQUIRE_FALSE(c);
  return c.err().message;
}

std::string file_error(const std::string& text, std::string* where) {
  auto app = parse_app_yaml(text, "bad.yaml", ring_section());
  std::string message;
  if (!app) {
    message = app.err().message;
  } else {
    // Rules that span keys are applied when the app is compiled, as for a built app.
    message = compile_error(*app);
  }
  // "bad.yaml:L:C: what" -> "what"
  REQUIRE(message.rfind("bad.yaml:", 0) == 0);
  const auto third = message.find(": ");
  *where = message.substr(0, third);
  return message.substr(third + 2);
}

} // namespace

TEST_CASE("a builder misuse reads as the same mistake in the app file", "[app]") {
  // One rule per key (core/app_rules.hpp): the file reader applies it at the key, compile()
  // applies it to a built app. Same words; the file's error adds where.
  const std::string functions = "functions: [f]\n";
  const std::string chain = "chains:\n  - { name: c, functions: [f]";
  auto built = [](auto&& configure) {
    app a("x");
    a.function("f", [](message&) {});
    auto c = a.chain("c").then("f");
    configure(a, c);
    return compile_error(a.spec());
  };
  std::string where;

  SECTION("pool of no buffers") {
    CHECK(file_error(functions + chain + ", pool: { buffers: 0 } }\n", &where) ==
          built([](app&, chain_builder& c) { c.pool(0, 4096); }));
    CHECK(where == "bad.yaml:3:49");
  }
  SECTION("an HTTP method the gateway does not route") {
    CHECK(file_error(functions + chain + ", http: { method: FETCH, path: /c } }\n", &where) ==
          built([](app&, chain_builder& c) { c.http("FETCH", "/c"); }));
    CHECK(built([](app&, chain_builder& c) { c.http("FETCH", "/c"); }) ==
          "chains[0].http.method: expected GET, POST, PUT, PATCH or DELETE, got 'FETCH'");
  }
  SECTION("a path without its slash") {
    CHECK(file_error(functions + chain + ", http: { path: c } }\n", &where) ==
          built([](app&, chain_builder& c) { c.http("POST", "c"); }));
  }
  SECTION("QoS 2") {
    const std::string mqtt = "mqtt:\n  broker: tcp://127.0.0.1:1883\n  subscriptions:\n"
                             "    - { filter: a, chain: c, qos: 2 }\n";
    CHECK(file_error(mqtt + functions + chain + " }\n", &where) ==
          built([](app& a, chain_builder&) { a.mqtt("tcp://127.0.0.1:1883").subscribe("a", "c", 2); }));
    CHECK(where == "bad.yaml:4:35");
  }
  SECTION("binary CloudEvents over MQTT 3.1.1") {
    const std::string mqtt = "mqtt:\n  broker: tcp://127.0.0.1:1883\n  subscriptions:\n"
                             "    - { filter: a, chain: c, adapter: ce, content_mode: binary }\n"
                             "adapters: [{ name: ce, library: /x/libce.so }]\n";
    CHECK(file_error(mqtt + functions + chain + " }\n", &where) ==
          built([](app& a, chain_builder&) {
            a.adapter("ce", "/x/libce.so");
            mqtt_subscription s;
            s.filter = "a";
            s.chain = "c";
            s.adapter = "ce";
            s.content_mode = "binary";
            a.mqtt("tcp://127.0.0.1:1883").subscribe(s);
          }));
  }
  SECTION("a broker that is no tcp:// address") {
    const std::string mqtt = "mqtt:\n  broker: localhost:1883\n  subscriptions:\n"
                             "    - { filter: a, chain: c }\n";
    CHECK(file_error(mqtt + functions + chain + " }\n", &where) ==
          built([](app& a, chain_builder&) { a.mqtt("localhost:1883").subscribe("a", "c"); }));
  }
  SECTION("a node's instance CPU limit out of range") {
    CHECK(file_error("nodes: [{ name: n, instance_cpu_limit: 2000 }]\n" + functions + chain +
                       " }\n",
                     &where) ==
          built([](app& a, chain_builder&) { a.node("n", {}, 0, 1, 2000); }));
    CHECK(where == "bad.yaml:1:40");
  }
  SECTION("instances started neither by exec nor by fork") {
    CHECK(file_error("instances: { start: spawn }\n" + functions + chain + " }\n", &where) ==
          built([](app& a, chain_builder&) {
            instances_spec i;
            i.start = "spawn";
            a.instances(i);
          }));
  }
  SECTION("a chain deadline of 0") {
    CHECK(file_error(functions + chain + ", timeout: 0 }\n", &where) ==
          built([](app&, chain_builder& c) { c.timeout_ms(0); }));
    CHECK(built([](app&, chain_builder& c) { c.timeout_ms(0); }) ==
          "chains[0].timeout: duration must be between 1ms and ~49 days");
  }
  SECTION("more I/O threads than the gateway takes") {
    CHECK(file_error("gateway: { io_threads: 300 }\n" + functions + chain + " }\n", &where) ==
          built([](app& a, chain_builder&) {
            gateway_spec g;
            g.io_threads = 300;
            a.gateway(g);
          }));
  }
  SECTION("more instances than a function may have") {
    CHECK(file_error("functions: [{ name: f, max_instances: 5000 }]\n" + chain + " }\n",
                     &where) == "functions[0].max_instances: 5000 is too large (at most 4096)");
    app a("x");
    a.function("f", [](message&) {}).instances(1, 5000);
    a.chain("c").then("f");
    CHECK(compile_error(a.spec()) == "functions[0].max_instances: 5000 is too large (at most 4096)");
  }
  SECTION("a function that fits no node (a rule across keys, applied to both by compile)") {
    CHECK(file_error("nodes: [{ name: n, cpus: \"0\" }]\nfunctions: [{ name: f, cpu: 2 }]\n" +
                       chain + " }\n",
                     &where) ==
          built([](app& a, chain_builder&) {
            a.node("n", {0});
            a.spec().functions[0].cpu = 2;
          }));
  }
}
