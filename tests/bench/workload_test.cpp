// The benchmark's inputs: workload files, setup names, the app file written per setup, and how
// process CPU is grouped into components.
#include "bench/driver/setups.hpp"
#include "bench/driver/workload.hpp"
#include "bench/report/report.hpp"
#include "bench/report/sweep.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

using namespace spry::bench;
using spry::test::temp_dir;

TEST_CASE("a workload file gives the app, the mix, the load and the setups", "[bench]") {
  temp_dir dir;
  dir.file("app.yaml", "app: x\n");
  const auto file = dir.file("w.yaml", R"(app: app.yaml
env: { SPRY_SERVICE_TIME_SCALE: "0.5" }
requests:
  - { name: a, method: GET, path: /a, weight: 3 }
  - { name: b, path: /b, body_size: 3000 }
load: { mode: closed, users: 7, spawn_rate: 2, think_time: [10ms, 20ms], duration: 3s, warmup: 0ms }
idle: 500ms
setups: [local, tcp-direct]
baseline: local
)");
  auto w = load_workload_file(file);
  REQUIRE(w);
  CHECK(w->app_file == dir.path + "/app.yaml");
  CHECK(w->env.at("SPRY_SERVICE_TIME_SCALE") == "0.5");
  REQUIRE(w->requests.size() == 2);
  CHECK(w->requests[0].method == "GET");
  CHECK(w->requests[0].weight == 3);
  CHECK(w->requests[1].method == "POST");
  CHECK(w->requests[1].body_size == 3000);
  CHECK(w->requests[1].content_type == "application/octet-stream");
  CHECK(w->load.connections == 7);
  CHECK(w->load.spawn_rate == 2);
  CHECK(w->load.think_min.count() == 10);
  CHECK(w->load.think_max.count() == 20);
  CHECK(w->load.duration.count() == 3000);
  CHECK(w->load.warmup.count() == 0);
  CHECK(w->idle.count() == 500);
  CHECK(w->setups == std::vector<std::string>{"local", "tcp-direct"});
  CHECK(w->baseline == "local");
}

TEST_CASE("workload mistakes are reported at file:line", "[bench]") {
  temp_dir dir;
  dir.file("app.yaml", "app: x\n");
  auto error_of = [&](const std::string& text) {
    auto w = load_workload_file(dir.file("w.yaml", text));
    REQUIRE(!w);
    return w.err().message;
  };
  CHECK_THAT(error_of("app: missing.yaml\nrequests: [{path: /}]\n"), Catch::Contains("does not exist"));
  CHECK_THAT(error_of("app: app.yaml\n"), Catch::Contains("needs `requests:`"));
  CHECK_THAT(error_of("app: app.yaml\nrequests: [{path: /}]\nload: {mode: sideways}\n"),
             Catch::Contains("w.yaml:3:") && Catch::Contains("closed, open or bursts"));
  CHECK_THAT(error_of("app: app.yaml\nrequests: [{path: /}]\nload: {mode: open}\n"),
             Catch::Contains("needs a rate"));
  CHECK_THAT(error_of("app: app.yaml\nrequests: [{path: /}]\nload: {mode: bursts, burst: 5}\n"),
             Catch::Contains("period"));
  CHECK_THAT(error_of("app: app.yaml\nrequests: [{path: /, wieght: 2}]\n"),
             Catch::Contains("unknown key 'wieght'"));
  CHECK_THAT(error_of("app: app.yaml\nrequests: [{path: /, weight: 0}]\n"),
             Catch::Contains("add up to 0"));
}

TEST_CASE("workload files: an unknown key and a wrong type read as in the app file", "[bench]") {
  // The bench reads with the app file's walker (core/yaml_walker.hpp): same file:line:col prefix,
  // same wording.
  temp_dir dir;
  dir.file("app.yaml", "app: x\n");
  const auto file = dir.path + "/w.yaml";
  auto error_of = [&](const std::string& text) {
    auto w = load_workload_file(dir.file("w.yaml", text));
    REQUIRE(!w);
    return w.err().message;
  };
  CHECK(error_of("app: app.yaml\nrequests: [{path: /}]\nload: {users: 4, usres: 8}\n") ==
        file + ":3:18: load: unknown key 'usres' (expected one of: mode, users, connections, "
               "spawn_rate, think_time, rate, period, burst, duration, warmup, requests)");
  CHECK(error_of("app: app.yaml\nrequests: [{path: /}]\nload: {users: [4]}\n") ==
        file + ":3:15: load.users: expected a number");
  CHECK(error_of("app: app.yaml\nrequests: {path: /}\n") ==
        file + ":2:11: requests: expected a list");
}

TEST_CASE("the examples' workload files read without a mistake", "[bench]") {
  // They are documentation too (README: the workload format): the walker must accept them as
  // written.
  for (const char* name : {"hello/hello.bench.yaml", "online-boutique/online-boutique.bench.yaml",
                           "parking/parking.bench.yaml"}) {
    auto w = load_workload_file(std::string(SPRY_EXAMPLES_DIR) + "/" + name);
    INFO(name << ": " << (w ? std::string() : w.err().message));
    CHECK(w);
  }
}

TEST_CASE("setup names stand for a transport and its settings", "[bench]") {
  auto tcp = setup_named("tcp");
  REQUIRE(tcp);
  CHECK(tcp->transport == "tcp");
  CHECK(tcp->routing == "broker");
  CHECK(tcp->sidecar);
  auto direct = setup_named("tcp-direct@least_connections");
  REQUIRE(direct);
  CHECK(direct->routing == "direct");
  CHECK(!direct->sidecar);
  CHECK(direct->load_balancer == "least_connections");
  auto bad = setup_named("carrier-pigeon");
  REQUIRE(!bad);
  CHECK_THAT(bad.err().message, Catch::Contains("local") && Catch::Contains("tcp-nginx"));
  auto dpdk = setup_named("shm-dpdk");
  REQUIRE(dpdk);
  CHECK(dpdk->dpdk_idle.empty()); // the app's: adaptive unless it says otherwise
  CHECK(setup_named("shm-dpdk-yield")->dpdk_idle == "yield");
  CHECK(setup_named("shm-dpdk-spin")->dpdk_idle == "spin");
  CHECK(unavailable_reason(*setup_named("local")).empty());
  CHECK(unavailable_reason(*setup_named("tcp")).empty());
}

TEST_CASE("the app file of a setup keeps the app and changes only the transport keys", "[bench]") {
  temp_dir dir;
  const auto app = dir.file("app.yaml", R"(app: demo
transport: local
libraries: [libdemo.so]
gateway: { listen: 127.0.0.1:8080, io_threads: 2 }
functions: [{ name: f }]
chains: [{ name: c, http: { path: /c }, functions: [f] }]
)");
  temp_dir out;
  auto file = write_setup_app(app, *setup_named("tcp@least_connections"), out.path);
  REQUIRE(file);
  const auto y = YAML::LoadFile(*file);
  CHECK(y["app"].as<std::string>() == "demo");
  CHECK(y["transport"].as<std::string>() == "tcp");
  CHECK(y["routing"].as<std::string>() == "broker");
  CHECK(y["tcp"]["sidecar"].as<std::string>() == "true");
  CHECK(y["policies"]["load_balancer"].as<std::string>() == "least_connections");
  CHECK(y["gateway"]["listen"].as<std::string>() == "127.0.0.1:0");
  CHECK(y["gateway"]["io_threads"].as<int>() == 2);
  CHECK(y["libraries"][0].as<std::string>() == dir.path + "/libdemo.so");
  CHECK(y["chains"][0]["name"].as<std::string>() == "c");
}

TEST_CASE("process CPU is grouped into components, pollers apart", "[bench]") {
  std::vector<process_sample> v(5);
  v[0].role = "gateway", v[0].cpu_seconds = 1.0;
  v[1].role = "instance", v[1].function = "f", v[1].cpu_seconds = 0.5;
  v[2].role = "instance", v[2].function = "f", v[2].cpu_seconds = 0.25, v[2].poller_cpu_seconds = 0.2;
  v[3].role = "sidecar", v[3].function = "f", v[3].cpu_seconds = 0.125;
  v[4].role = "nginx", v[4].cpu_seconds = 0.0625;
  const auto c = cpu_by_component(v);
  REQUIRE(c.size() == 5);
  CHECK(c[0] == std::make_pair(std::string("gateway"), 1.0));
  CHECK(c[1].first == "fn f");
  CHECK(c[1].second == Approx(0.55));
  CHECK(c[2] == std::make_pair(std::string("queue-proxies"), 0.125));
  CHECK(c[3] == std::make_pair(std::string("nginx"), 0.0625));
  CHECK(c[4].first == "pollers");
  CHECK(c[4].second == Approx(0.2));
}

TEST_CASE("a setup that never sleeps drops the app's adaptive spin_us", "[bench]") {
  temp_dir dir;
  const auto app = dir.file("app.yaml", R"(app: demo
transport: shm-dpdk
dpdk: { idle: adaptive, spin_us: 50 }
functions: [{ name: f }]
chains: [{ name: c, http: { path: /c }, functions: [f] }]
)");
  temp_dir out;
  auto spin = write_setup_app(app, *setup_named("shm-dpdk-spin"), out.path);
  REQUIRE(spin);
  const auto y = YAML::LoadFile(*spin);
  CHECK(y["dpdk"]["idle"].as<std::string>() == "spin");
  CHECK(!y["dpdk"]["spin_us"]); // with spin it would be a config error
  auto adaptive = write_setup_app(app, *setup_named("shm-dpdk"), out.path);
  REQUIRE(adaptive);
  CHECK(YAML::LoadFile(*adaptive)["dpdk"]["spin_us"].as<int>() == 50);
}

TEST_CASE("a concurrency sweep writes a row per setup and concurrency, and a plot per setup",
          "[bench]") {
  temp_dir dir;
  std::vector<sweep_point> points;
  for (unsigned c : {1u, 8u}) {
    sweep_point p;
    p.value = c;
    for (const char* name : {"local", "tcp"}) {
      setup_result r;
      r.config.name = name;
      r.ran = std::string(name) == "local" || c == 1; // tcp "skipped" at 8
      r.load.seconds = 2;
      r.load.by_status[200] = 100 * c;
      for (uint64_t i = 0; i < 100 * c; ++i)
        r.load.latency_ns.record(1'000'000 * c);
      process_sample cpu;
      cpu.cpu_seconds = 0.01 * c;
      r.busy.push_back(cpu);
      r.busy_seconds = 2;
      p.results.push_back(std::move(r));
    }
    points.push_back(std::move(p));
  }
  report_options ro;
  ro.dir = dir.path;
  ro.title = "demo";
  auto md = write_sweep(points, sweep_axis::connections, ro);
  REQUIRE(md);
  std::ifstream in(dir.path + "/sweep.csv");
  std::stringstream csv;
  csv << in.rdbuf();
  CHECK_THAT(csv.str(), Catch::StartsWith("setup,connections,requests_per_second"));
  CHECK_THAT(csv.str(), Catch::Contains("\nlocal,1,50,") && Catch::Contains("\nlocal,8,400,") &&
                          Catch::Contains("\ntcp,1,50,"));
  CHECK_THAT(csv.str(), !Catch::Contains("tcp,8,"));
  CHECK(std::ifstream(dir.path + "/sweep-local.gp").good());
  CHECK(std::ifstream(dir.path + "/sweep-tcp.dat").good());
  CHECK_THAT(*md, Catch::Contains("| local | 8 | 400 |"));
}

TEST_CASE("a chain-length sweep reports what one more function costs", "[bench]") {
  CHECK(slope({1, 2, 4, 8}, {10, 20, 40, 80}) == Approx(10));
  CHECK(slope({1, 2, 3}, {5, 5, 5}) == Approx(0));
  CHECK(slope({4}, {1}) == 0); // one point: no slope
  temp_dir dir;
  std::vector<sweep_point> points;
  for (unsigned n : {1u, 2u, 4u}) {
    sweep_point p;
    p.value = n;
    setup_result r;
    r.config.name = "local";
    r.ran = true;
    r.load.seconds = 1;
    r.load.by_status[200] = 1000;
    for (int i = 0; i < 1000; ++i)
      r.load.latency_ns.record(100'000 + 50'000 * n); // 50 us more per function
    process_sample cpu;
    cpu.cpu_seconds = 0.001 * (10 + 20 * n); // 20 us of CPU per request more per function
    r.busy.push_back(cpu);
    p.results.push_back(std::move(r));
    points.push_back(std::move(p));
  }
  report_options ro;
  ro.dir = dir.path;
  ro.title = "demo";
  auto md = write_sweep(points, sweep_axis::chain_length, ro);
  REQUIRE(md);
  CHECK_THAT(*md, Catch::Contains("| setup | functions |"));
  // Latency buckets are not exact: the slope is close to 50 us, CPU exactly 20 us.
  CHECK_THAT(*md, Catch::Matches("[\\s\\S]*\\| local \\| (4[89]|5[01])\\.\\d \\| 20\\.0 \\|[\\s\\S]*"));
}

TEST_CASE("a chain-length sweep's app repeats the first function of the first chain", "[bench]") {
  temp_dir dir;
  const auto app = dir.file("app.yaml", R"(app: demo
libraries: [libdemo.so]
functions:
  - { name: upper, handler: demo.upper, concurrency: 2 }
  - count
chains: [{ name: c, http: { path: /c }, functions: [upper, count] }]
)");
  temp_dir out;
  auto file = write_chain_length_app(app, 3, out.path);
  REQUIRE(file);
  const auto y = YAML::LoadFile(*file);
  REQUIRE(y["chains"][0]["functions"].size() == 3);
  CHECK(y["chains"][0]["functions"][2].as<std::string>() == "upper-3");
  REQUIRE(y["functions"].size() == 4);
  CHECK(y["functions"][3]["name"].as<std::string>() == "upper-3");
  CHECK(y["functions"][3]["handler"].as<std::string>() == "demo.upper");
  CHECK(y["functions"][3]["concurrency"].as<int>() == 2);
  CHECK(y["libraries"][0].as<std::string>() == dir.path + "/libdemo.so");
  auto bare = dir.file("bare.yaml", "app: x\nfunctions: [f]\nchains: [{ name: c, functions: [f] }]\n");
  auto one = write_chain_length_app(bare, 2, out.path);
  REQUIRE(one);
  CHECK(YAML::LoadFile(*one)["functions"][1]["handler"].as<std::string>() == "f");
  CHECK(!write_chain_length_app(bare, 0, out.path));
  auto routes = dir.file("routes.yaml", "app: x\nfunctions: [f]\nchains: [{ name: c }]\n");
  auto no = write_chain_length_app(routes, 2, out.path);
  REQUIRE(!no);
  CHECK_THAT(no.err().message, Catch::Contains("needs a first chain with a `functions:` list"));
}
