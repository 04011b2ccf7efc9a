// Integration: the real `spry` binary and the C++ hello program as child processes, driven over
// real HTTP, stopped by PID.

#include "bench/load/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sys/wait.h>

using namespace spry::test;
using spry::bench::child_process;
using spry::bench::read_file;
namespace fs = std::filesystem;

namespace {

std::string hello_yaml(const std::string& extra_gateway = {}) {
  const auto lib = (fs::path(SPRY_HELLO_YAML).parent_path() / "libspry_hello.so").string();
  return "app: hello\ntransport: local\nlibraries: [" + lib +
         "]\ngateway:\n  listen: 127.0.0.1:0\n  body_limit: 8KiB\n" + extra_gateway +
         "functions:\n  - { name: upper, handler: hello.uppercase }\n"
         "  - { name: count, handler: hello.count }\n"
         "chains:\n  - name: hello\n    http: { method: POST, path: /hello }\n"
         "    functions: [upper, count]\n    pool: { buffers: 64, buffer_size: 16KiB }\n";
}


} // namespace

TEST_CASE("spry run serves the hello chain and handles bad input", "[integration]") {
  temp_dir dir;
  const auto app = dir.file("hello.yaml", hello_yaml("  header_timeout: 500ms\n"));
  child_process spry({SPRY_BINARY, "run", app, "--log-level", "warn"}, dir.path + "/stderr");
  const uint16_t port = port_of(spry);

  auto ok = http_request(port, "POST", "/hello", "hello spry");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(ok->header("content-type") == "application/json");
  CHECK(ok->body == R"({"text":"HELLO SPRY","words":2,"bytes":10})");

  http_connection keep(port);
  for (int i = 0; i < 50; ++i) {
    auto r = keep.request("POST", "/hello", "request " + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->body == "{\"text\":\"REQUEST " + std::to_string(i) + "\",\"words\":2,\"bytes\":" +
                       std::to_string(8 + std::to_string(i).size()) + "}");
  }

  auto empty = http_request(port, "POST", "/hello", "");
  REQUIRE(empty);
  CHECK(empty->status == 400);
  CHECK_THAT(empty->body, Catch::Contains("send some text"));

  auto unknown = http_request(port, "POST", "/goodbye", "x");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);

  auto oversized = http_request(port, "POST", "/hello", std::string(9000, 'o'));
  REQUIRE(oversized);
  CHECK(oversized->status == 413);

  {
    http_connection bad(port);
    REQUIRE(bad.send_raw("POST /hello HTTP/1.1\r\nContent-Length: -5\r\n\r\n"));
    auto r = bad.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  {
    http_connection bad(port);
    REQUIRE(bad.send_raw("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n"));
    auto r = bad.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  {
    http_connection slow(port);
    REQUIRE(slow.send_raw("POST /hello HTTP/1.1\r\n"));
    auto r = slow.read_response(std::chrono::seconds(5));
    REQUIRE(r);
    CHECK(r->status == 408);
  }

  auto metrics = http_request(port, "GET", "/metrics");
  REQUIRE(metrics);
  CHECK(metric_value(metrics->body, "spry_pool_buffers{chain=\"hello\",state=\"in_use\"}") == 0.0);
  CHECK(metric_value(metrics->body, "spry_pool_buffers{chain=\"hello\",state=\"free\"}") == 64.0);
  CHECK(metric_value(metrics->body, "spry_requests_total{chain=\"hello\",code=\"200\"}") == 51.0);
  CHECK(metric_value(metrics->body, "spry_in_flight_requests") == 0.0);

  auto status = spry.stop(SIGTERM, std::chrono::seconds(10));
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("hello's count answers valid JSON whatever bytes the body holds", "[integration]") {
  temp_dir dir;
  const auto app = dir.file("hello.yaml", hello_yaml());
  child_process spry({SPRY_BINARY, "run", app, "--log-level", "warn"}, dir.path + "/stderr");
  const uint16_t port = port_of(spry);
  // UTF-8 stays as it is (upper only changes ASCII); bytes that are not UTF-8 (a lone 0x80, 0xFF,
  // a truncated sequence, an overlong form, a surrogate) become \u00XX escapes.
  auto r = http_request(port, "POST", "/hello",
                        "caf\xc3\xa9 \xe2\x82\xac \x80\xff \xe2\x82 \xc0\xaf \xed\xa0\x80 q\"\\");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-type") == "application/json");
  CHECK(r->body == "{\"text\":\"CAF\xc3\xa9 \xe2\x82\xac \\u0080\\u00ff \\u00e2\\u0082 "
                   "\\u00c0\\u00af \\u00ed\\u00a0\\u0080 Q\\\"\\\\\",\"words\":7,\"bytes\":26}");
  CHECK(spry.stop(SIGTERM, std::chrono::seconds(10)) == 0);
}

TEST_CASE("the C++ hello program answers exactly like the YAML app", "[integration]") {
  temp_dir dir;
  const auto app = dir.file("hello.yaml", hello_yaml());
  child_process yaml({SPRY_BINARY, "run", app, "--log-level", "warn"});
  child_process cpp({SPRY_HELLO_APP_BINARY, "--listen", "127.0.0.1:0", "--log-level", "warn"});
  const uint16_t yport = port_of(yaml);
  const uint16_t cport = port_of(cpp);
  for (const std::string body : {"a", "Two Words", "tab\tand\nnewline \"quoted\" \\"}) {
    auto a = http_request(yport, "POST", "/hello", body);
    auto b = http_request(cport, "POST", "/hello", body);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->status == 200);
    CHECK(a->status == b->status);
    CHECK(a->body == b->body);
  }
  CHECK(cpp.stop(SIGINT, std::chrono::seconds(10)) == 0);
  CHECK(yaml.stop(SIGINT, std::chrono::seconds(10)) == 0);
}

TEST_CASE("spry explains bad app files and bad arguments", "[integration]") {
  temp_dir dir;
  const auto bad = dir.file("bad.yaml", "functions: [a]\nchains:\n  - name: c\n    http: {path: /c}\n"
                                        "    functions: [b]\n");
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " run " + bad);
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains(bad + ":3:5: chain 'c': unknown function 'b'"));

  const auto nolib = dir.file("nolib.yaml", "libraries: [./missing.so]\nfunctions: [a]\nchains:\n"
                                            "  - {name: c, http: {path: /c}, functions: [a]}\n");
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " run " + nolib);
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("cannot load function library"));

  const auto nohandler = dir.file("nohandler.yaml", "functions: [a]\nchains:\n"
                                                    "  - {name: c, http: {path: /c}, functions: [a]}\n");
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " run " + nohandler);
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("nohandler.yaml:1:13: function 'a': no handler named 'a'"));

  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " run /nonexistent.yaml");
  CHECK(code != 0);
  CHECK_THAT(out, Catch::Contains("/nonexistent.yaml"));

  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " check " + dir.file("ok.yaml", hello_yaml()));
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("ok: app 'hello'"));

  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " run " + dir.file("t.yaml", hello_yaml()) +
                                    " --transport warp-drive");
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("unknown transport 'warp-drive' (available in this build: local"));

  // Policies are made from the registries before anything starts: a typo in a name or a
  // parameter is refused at its line.
  const auto policy = [&](const std::string& p) {
    return dir.file("p.yaml", "functions: [a]\nchains: [{name: c, http: {path: /c}, functions: [a]}]\n"
                              "policies:\n  " + p + "\n");
  };
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " check " + policy("autoscaler: kpb"));
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("p.yaml:4:15: policies.autoscaler: unknown autoscaler 'kpb' (available: "));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " check " +
                                    policy("autoscaler: {name: kpa, params: {target: 3}}"));
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("autoscaler 'kpa' has no parameter 'target' (it has: "));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " check " + policy("placement: fastest"));
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("p.yaml:4:14: policies.placement: unknown placement 'fastest'"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " check " + policy("load_balancer: rr"));
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("p.yaml:4:18: policies.load_balancer: unknown"));
}

TEST_CASE("spry lab runs an experiment file like spry-lab does", "[integration]") {
  temp_dir dir;
  const auto file = dir.file("tiny.yaml", R"(name: tiny
duration_s: 60
warmup_s: 5
seeds: [1]
cluster:
  nodes:
    - { count: 2, cpu: 4, memory_mb: 8192, speed: 1.0 }
function_defaults:
  slo_ms: 100
  service: { distribution: exponential, mean_ms: 10 }
policies:
  - { name: rr, load_balancer: round_robin, autoscaler: kpa, placement: spread }
  - { name: mu, load_balancer: mu, autoscaler: mu, placement: mu }
workloads:
  - { name: steady, kind: poisson, functions: 2, rate: 50 }
)");
  const std::string out_dir = dir.path + "/out";
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " lab " + file + " -q --no-plots -o " + out_dir);
  CHECK(code == 0);
  std::ifstream csv(out_dir + "/results.csv");
  REQUIRE(csv);
  size_t lines = 0;
  for (std::string l; std::getline(csv, l);)
    ++lines;
  CHECK(lines == 3); // header + 2 policies x 1 workload x 1 seed

  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " lab --help");
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("Usage: spry lab"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " lab " + dir.file("bad.yaml", "name: x\nbogus: 1\n"));
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("bad.yaml:"));
}

TEST_CASE("spry --help describes every subcommand", "[integration]") {
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " --help");
  CHECK(code == 0);
  for (const char* sub : {"run", "check", "transports", "policies", "version", "lab"})
    CHECK_THAT(out, Catch::Contains(sub));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " run --help");
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("--listen"));
  CHECK_THAT(out, Catch::Contains("--transport"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " policies");
  CHECK(code == 0);
  for (const char* kind : {"load_balancer", "autoscaler", "placement", "rate_predictor"})
    CHECK_THAT(out, Catch::Contains(kind));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " transports");
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("local"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY));
  CHECK(code != 0);
  std::tie(code, out) = run_command(std::string(SPRY_HELLO_APP_BINARY) + " --help");
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("--listen"));
}
