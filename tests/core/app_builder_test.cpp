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
  o << "app " << a.name << " transport " << a.transport << " routing " << a.routing << "\n";
  o << "lb " << a.load_balancer << "\n";
  policy("autoscaler", a.autoscaling.policy);
  o << "interval " << a.autoscaling.interval_ms << " hold " << a.autoscaling.hold_limit << "\n";
  policy("placement", a.placement);
  for (const auto& n : a.nodes) {
    o << "node " << n.name << " mem " << n.memory << " speed " << n.speed << " cpus";
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
  o << "mqtt " << m.broker << " id " << m.client_id << " keepalive " << m.keepalive_ms << "\n";
  for (const auto& s : m.subscriptions)
    o << "sub " << s.filter << " -> " << s.chain << " qos " << s.qos << " adapter " << s.adapter
      << " reply " << s.reply_topic << " rqos " << s.reply_qos << "\n";
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
ring: { size: 4 }
gateway: { listen: 127.0.0.1:9090, io_threads: 2, body_limit: 64KiB, header_timeout: 2s,
           body_timeout: 3s, idle_timeout: 4s }
policies:
  load_balancer: least_connections
  autoscaler: { name: kpa, params: { target: "10", panic_window: 6s }, interval: 500ms }
  placement: { name: mu, params: { alpha: "0.5" } }
nodes:
  - { name: edge0, cpus: "0-1", memory: 1GiB, speed: 2 }
  - { name: edge1, cpus: "2", memory: 512MiB }
adapters:
  - { name: cloudevents, library: /opt/adapters/libspry_adapter_cloudevents.so }
mqtt:
  broker: tcp://127.0.0.1:1883
  client_id: mood-gw
  keepalive: 5s
  subscriptions:
    - { filter: "rooms/+/mood", chain: mood, qos: 1, reply_topic: "answers/{2}", reply_qos: 1 }
    - { filter: "raw/#", chain: mood, qos: 0, adapter: cloudevents }
functions:
  - { name: parse, handler: parse, min_instances: 0, max_instances: 4, concurrency: 8,
      cpu: 0.5, memory: 64MiB, slo: 50ms, slo_percentile: 0.99, weight: 2 }
  - { name: happy, handler: happy }
  - { name: sad, handler: sad, min_instances: 2, max_instances: 2 }
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
  a.transport("shm-skmsg").routing("broker").listen("127.0.0.1", 9090);
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
    .autoscaler("kpa", {{"target", "10"}, {"panic_window", "6s"}}, 500)
    .placement("mu", {{"alpha", "0.5"}})
    .node("edge0", {0, 1}, 1ull << 30, 2)
    .node("edge1", {2}, 512ull << 20)
    .adapter("cloudevents", "/opt/adapters/libspry_adapter_cloudevents.so");
  a.mqtt("tcp://127.0.0.1:1883")
    .client_id("mood-gw")
    .keepalive_ms(5000)
    .subscribe("rooms/+/mood", "mood", 1, "answers/{2}", 1)
    .subscribe("raw/#", "mood", 0, {}, 0, "cloudevents");
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
