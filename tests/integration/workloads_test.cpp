// Integration: the published workloads (Online Boutique, parking), the load generator's shapes,
// and `spry bench` / `spry audit` end to end, each as real processes stopped by PID. Nothing
// here asserts a speed: only that answers are right, files exist and hold figures.

#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

using namespace spry::test;
using spry::bench::child_process;
using spry::bench::read_file;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string examples = SPRY_EXAMPLES_DIR;

// Runs `spry ARGS...` to completion; returns (exit code, stdout + stderr).
std::pair<int, std::string> run_spry(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv{SPRY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p(argv, dir + "/spry.stderr");
  std::string out;
  while (auto line = p.wait_for_line("", std::chrono::minutes(3)))
    out += *line + "\n";
  const auto st = p.stop(SIGTERM, std::chrono::seconds(10));
  out += read_file(dir + "/spry.stderr");
  return {st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1, out};
}

// An app of the examples served on a free port with its functions' service times at `scale`.
struct served_example {
  served_example(const std::string& app, const std::string& transport, const std::string& scale,
                 const temp_dir& dir) {
    setenv("SPRY_SERVICE_TIME_SCALE", scale.c_str(), 1);
    proc = std::make_unique<child_process>(
      std::vector<std::string>{SPRY_BINARY, "run", app, "--listen", "127.0.0.1:0", "--transport",
                               transport, "--log-level", "warn"},
      dir.path + "/" + transport + ".stderr");
    unsetenv("SPRY_SERVICE_TIME_SCALE");
    port = port_of(*proc);
  }
  std::unique_ptr<child_process> proc;
  uint16_t port = 0;
};

} // namespace

TEST_CASE("Online Boutique: every route runs its published chain on local and tcp", "[integration][workloads]") {
  const std::vector<std::tuple<std::string, std::string, std::string>> routes = {
    {"GET", "/", "frontend currency productcatalog cart currency currency currency currency currency currency currency ad"},
    {"GET", "/cart", "frontend currency cart recommendation productcatalog productcatalog productcatalog productcatalog productcatalog shipping currency productcatalog currency"},
    {"POST", "/cart", "frontend productcatalog cart"},
    {"POST", "/cart/checkout", "frontend checkout productcatalog payment shipping email recommendation productcatalog productcatalog productcatalog productcatalog currency"},
    {"GET", "/product/OLJCESPC7Z", "frontend productcatalog currency cart currency recommendation productcatalog productcatalog productcatalog productcatalog ad"},
    {"POST", "/setCurrency", "frontend currency"},
  };
  for (const char* transport : {"local", "tcp"}) {
    INFO("transport " << transport);
    temp_dir dir;
    served_example ob(examples + "/online-boutique/online-boutique.yaml", transport, "0.001", dir);
    for (const auto& [method, path, trail] : routes) {
      auto r = http_request(ob.port, method, path, method == "POST" ? "x=1" : "");
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == trail);
    }
  }
}

TEST_CASE("parking: snapshots take both published chains and get a receipt", "[integration][workloads]") {
  temp_dir dir;
  served_example parking(examples + "/parking/parking.yaml", "local", "0", dir);
  std::set<std::string> known;
  for (int i = 0; i < 24; ++i) {
    std::string image(3000, '\0');
    for (size_t k = 0; k < image.size(); ++k)
      image[k] = static_cast<char>((k * 131 + i * 7919) >> 3);
    auto r = http_request(parking.port, "POST", "/parking", image);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    const auto receipt = json::parse(r->body);
    const bool stored = receipt.at("known").get<bool>();
    known.insert(stored ? "known" : "new");
    // ch1 (new plate) indexes and persists it; ch2 (known plate) goes straight to charging.
    CHECK(receipt.at("indexed").get<bool>() == !stored);
    CHECK(receipt.at("persisted").get<bool>() == !stored);
    CHECK(receipt.at("charge_cents").get<int>() >= 150);
    CHECK(receipt.at("plate").get<std::string>().size() == 7);
  }
  CHECK(known.size() == 2);
  auto empty = http_request(parking.port, "POST", "/parking", "");
  REQUIRE(empty);
  CHECK(empty->status == 400);
}

TEST_CASE("the load generator sends what each shape asks for", "[integration][workloads]") {
  temp_dir dir;
  child_process hello({SPRY_BINARY, "run", SPRY_HELLO_YAML, "--listen", "127.0.0.1:0", "--log-level", "warn"},
                      dir.path + "/stderr");
  const uint16_t port = port_of(hello);
  spry::bench::load_options o;
  o.port = port;
  o.warmup = std::chrono::milliseconds(0);
  o.requests = {{"a", "POST", "/hello", "first", 0, "text/plain", 3},
                {"b", "POST", "/hello", "", 200, "text/plain", 1}};

  SECTION("closed loop, bounded by count, with a spawn rate and think time") {
    o.mode = spry::bench::load_mode::closed;
    o.connections = 4;
    o.spawn_rate = 40;
    o.think_min = std::chrono::milliseconds(1);
    o.think_max = std::chrono::milliseconds(3);
    o.duration = std::chrono::seconds(60);
    o.max_requests = 120;
    auto r = spry::bench::run_load(o);
    REQUIRE(r);
    CHECK(r->ok() == 120);
    CHECK(r->errors() == 0);
    REQUIRE(r->by_request.size() == 2);
    CHECK(r->by_request[0].ok() + r->by_request[1].ok() == 120);
    CHECK(r->by_request[0].ok() > r->by_request[1].ok()); // weights 3:1 over 120 draws
    CHECK(r->latency_ns.count() == 120);
    CHECK(r->generator_cpu_seconds > 0);
    uint64_t binned = 0;
    for (auto n : r->ok_per_bin)
      binned += n;
    CHECK(binned == 120);
  }
  SECTION("bursts: every burst due within the time is sent") {
    o.mode = spry::bench::load_mode::bursts;
    o.connections = 10;
    o.burst_size = 10;
    o.period = std::chrono::milliseconds(300);
    o.duration = std::chrono::milliseconds(1000); // bursts at 0, 300, 600 and 900 ms
    auto r = spry::bench::run_load(o);
    REQUIRE(r);
    CHECK(r->ok() == 40);
    CHECK(r->errors() == 0);
  }
  SECTION("open loop: a constant rate, bounded by count") {
    o.mode = spry::bench::load_mode::open;
    o.rate = 500;
    o.connections = 8;
    o.duration = std::chrono::seconds(60);
    o.max_requests = 100;
    auto r = spry::bench::run_load(o);
    REQUIRE(r);
    CHECK(r->ok() == 100);
    CHECK(r->errors() == 0);
  }
}

TEST_CASE("spry bench with a tiny budget writes results that parse and hold figures", "[integration][workloads]") {
  temp_dir dir;
  const std::string out = dir.path + "/hello";
  auto [code, text] = run_spry({"bench", fs::path(SPRY_HELLO_YAML).parent_path().string() + "/hello.bench.yaml",
                                "--setups", "local,tcp", "-d", "1s", "--warmup", "200ms", "--idle",
                                "300ms", "-c", "4", "-o", out},
                               dir.path);
  INFO(text);
  REQUIRE(code == 0);
  for (const char* f : {"results.json", "summary.csv", "throughput.csv", "latency_cdf.csv", "cpu.csv",
                        "summary.md", "throughput.gp", "cpu.gp"})
    CHECK(fs::exists(out + "/" + f));
  if (system("command -v gnuplot >/dev/null 2>&1") == 0)
    for (const char* f : {"throughput.png", "cpu.png", "latency-cdf-hello.png"})
      CHECK(fs::file_size(out + "/" + f) > 1000);
  const auto doc = json::parse(read_file(out + "/results.json"));
  REQUIRE(doc.at("setups").size() == 2);
  for (const auto& s : doc.at("setups")) {
    INFO(s.at("name"));
    REQUIRE(s.at("ran").get<bool>());
    CHECK(s.at("ok").get<uint64_t>() > 0);
    CHECK(s.at("errors").get<uint64_t>() == 0);
    CHECK(s.at("requests_per_second").get<double>() > 0);
    CHECK(s.at("latency").at("p50_ms").get<double>() > 0);
    CHECK(s.at("latency").at("p99_ms").get<double>() >= s.at("latency").at("p50_ms").get<double>());
    CHECK(s.at("cpu").at("seconds").get<double>() > 0);
    CHECK(s.at("cpu").at("per_request_us").get<double>() > 0);
    CHECK(s.at("cpu").at("components").at("gateway").get<double>() > 0);
    CHECK(s.at("generator").at("cpu_seconds").get<double>() > 0);
    CHECK(!s.at("throughput").at("ok").empty());
  }
  // tcp: the instances and their queue-proxy sidecars are separate components.
  const auto& tcp = doc.at("setups")[1].at("cpu").at("components");
  CHECK(tcp.contains("fn upper"));
  CHECK(tcp.contains("queue-proxies"));
  const auto md = read_file(out + "/summary.md");
  CHECK_THAT(md, Catch::Contains("| local |") && Catch::Contains("req/s vs tcp"));
  const auto csv = read_file(out + "/summary.csv");
  CHECK_THAT(csv, Catch::StartsWith("setup,request,ok,errors,requests_per_second"));
}

TEST_CASE("spry bench runs the published workloads' mixes and bursts", "[integration][workloads]") {
  temp_dir dir;
  {
    auto [code, text] = run_spry({"bench", examples + "/online-boutique/online-boutique.bench.yaml",
                                  "--setups", "local,shm-dpdk", "-d", "1s", "--warmup", "200ms",
                                  "--idle", "0ms", "-c", "4", "-o", dir.path + "/ob"},
                                 dir.path);
    INFO(text);
    REQUIRE(code == 0);
    const auto doc = json::parse(read_file(dir.path + "/ob/results.json"));
    const auto& local = doc.at("setups")[0];
    REQUIRE(local.at("ran").get<bool>());
    CHECK(local.at("by_request").size() == 6);
    CHECK(local.at("by_request")[2].at("name") == "browseProduct");
    CHECK(local.at("by_request")[2].at("ok").get<uint64_t>() > 0);
    // A setup this build or machine cannot run is skipped with a reason, not a failure.
    const auto& second = doc.at("setups")[1];
    if (!second.at("ran").get<bool>())
      CHECK(!second.at("skipped").get<std::string>().empty());
  }
  {
    auto [code, text] = run_spry({"bench", examples + "/parking/parking.bench.yaml", "--setups",
                                  "local", "--period", "400ms", "--burst", "12", "-d", "1s",
                                  "--idle", "0ms", "-o", dir.path + "/parking"},
                                 dir.path);
    INFO(text);
    REQUIRE(code == 0);
    const auto doc = json::parse(read_file(dir.path + "/parking/results.json"));
    CHECK(doc.at("setups")[0].at("ok").get<uint64_t>() == 36); // bursts at 0, 400 and 800 ms
  }
}

TEST_CASE("spry audit: no copy inside the chain on shared transports, copies on tcp", "[integration][workloads]") {
  temp_dir dir;
  std::string setups = "local,tcp";
  if (geteuid() == 0)
    setups += ",shm-skmsg";
  else
    WARN("SKIPPED: shm-skmsg needs root to load its eBPF program; audited local and tcp only");
  auto [code, text] = run_spry({"audit", fs::path(SPRY_HELLO_YAML).parent_path().string() + "/hello.bench.yaml",
                                "--setups", setups, "-d", "1s", "--warmup", "300ms", "-o", dir.path + "/audit"},
                               dir.path);
  INFO(text);
  REQUIRE(code == 0);
  CHECK(fs::exists(dir.path + "/audit/audit.md"));
  const auto rows = json::parse(read_file(dir.path + "/audit/audit.json"));
  for (const auto& r : rows) {
    INFO(r.at("setup"));
    REQUIRE(r.at("ran").get<bool>());
    CHECK(r.at("requests").get<uint64_t>() > 0);
    const auto& chain = r.at("chain");
    const auto& edge = r.at("edge");
    // The gateway takes the body in and writes the answer out on every transport.
    CHECK(edge.at("copies").at("per_request").get<double>() > 0);
    CHECK(r.at("context_switches").at("per_request").get<double>() > 0);
    CHECK(r.at("syscalls").at("total").get<uint64_t>() > 0);
    if (r.at("setup") == "tcp") {
      CHECK(chain.at("copies").at("per_request").get<double>() > 0);
      CHECK(chain.at("serializations").at("per_request").get<double>() > 0);
      CHECK(chain.at("deserializations").at("per_request").get<double>() > 0);
      CHECK(chain.at("protocol_messages").at("per_request").get<double>() > 0);
    } else {
      CHECK(chain.at("copies").at("total").get<uint64_t>() == 0);
      CHECK(chain.at("serializations").at("total").get<uint64_t>() == 0);
      CHECK(chain.at("protocol_messages").at("total").get<uint64_t>() == 0);
    }
  }
}
