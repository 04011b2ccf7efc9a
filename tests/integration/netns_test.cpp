// Integration: `spry run --namespaces` on transport tcp, the gateway and each instance in a
// network namespace of its own, driven from the client node's namespace, with
// tcp.xdp_tc_redirect off and on. Needs root: says so and does not run otherwise (label netns).
#include "bench/load/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <regex>

using namespace std::chrono_literals;
using spry::bench::child_process;

namespace {

struct namespaced_answer {
  std::string body;        // of POST /hello
  std::string status_line;
  uint64_t redirected = 0; // from the shutdown line
  uint64_t passed = 0;
  std::string leftovers;   // after exit
};

namespaced_answer run_namespaced(bool redirect, const std::string& text) {
  namespaced_answer out;
  std::vector<std::string> argv{SPRY_BINARY, "run", SPRY_HELLO_YAML, "--transport", "tcp",
                                "--listen", "127.0.0.1:0", "--namespaces"};
  if (redirect)
    argv.insert(argv.end(), {"--xdp-tc-redirect", "on"});
  pid_t pid = 0;
  {
    child_process spry(argv);
    pid = spry.pid();
    auto line = spry.wait_for_line("listening on http://", 60s);
    REQUIRE(line);
    std::smatch m;
    REQUIRE(std::regex_search(*line, m, std::regex(R"((10\.213\.\d+\.\d+):(\d+))")));
    const std::string ip = m[1];
    const auto port = static_cast<uint16_t>(std::stoul(m[2]));
    auto pods = spry.wait_for_line("spry: pods:", 5s);
    REQUIRE(pods);
    REQUIRE(std::regex_search(*pods, m, std::regex(R"(clients from namespace (\S+))")));
    const std::string client_ns = m[1];
    std::string raw;
    for (int i = 0; i < 20; ++i) // a few, so the counters have something to count
      REQUIRE(spry::test::in_namespace(client_ns, [&] { raw = spry::test::raw_http(ip, port, "POST", "/hello", text); }));
    out.status_line = raw.substr(0, raw.find("\r\n"));
    out.body = spry::test::body_of(raw);
    REQUIRE(spry.stop(SIGTERM, 20s));
    auto counters = spry.wait_for_line("xdp_tc_redirect counters:", 5s);
    REQUIRE(counters);
    REQUIRE(std::regex_search(*counters, m, std::regex(R"(redirected=(\d+) passed=(\d+))")));
    out.redirected = std::stoull(m[1]);
    out.passed = std::stoull(m[2]);
  }
  out.leftovers = spry::test::netns_leftovers(pid);
  return out;
}

} // namespace

TEST_CASE("namespaced hello chain answers byte-identical with xdp_tc_redirect off and on",
          "[integration][netns]") {
  if (auto missing = spry::test::netns_missing(); !missing.empty()) {
    WARN("SKIPPED: tcp.namespaces did not run: " << missing);
    return;
  }
  const std::string text = "hello from the client node";
  // The reference: the same app on transport local, on loopback.
  std::string reference;
  {
    child_process spry({SPRY_BINARY, "run", SPRY_HELLO_YAML, "--listen", "127.0.0.1:0"});
    const auto port = spry::test::port_of(spry);
    auto r = spry::test::http_request(port, "POST", "/hello", text);
    REQUIRE(r);
    reference = r->body;
  }
  REQUIRE_FALSE(reference.empty());
  const int programs_before = spry::test::forwarding_programs_loaded();

  const auto off = run_namespaced(false, text);
  CHECK(off.status_line == "HTTP/1.1 200 OK");
  CHECK(off.body == reference);
  CHECK(off.redirected == 0);
  CHECK(off.passed == 0);
  CHECK(off.leftovers.empty());

  const auto on = run_namespaced(true, text);
  CHECK(on.status_line == "HTTP/1.1 200 OK");
  CHECK(on.body == reference);
  CHECK(on.redirected > 0);
  CHECK(on.leftovers.empty());
  CHECK(spry::test::wait_for_programs(programs_before) == programs_before);
}

TEST_CASE("spry run --namespaces refuses sidecars and other transports with a clear message",
          "[integration][netns]") {
  auto [rc, out] = spry::test::run_command(std::string(SPRY_BINARY) + " run " + SPRY_HELLO_YAML +
                                           " --transport local --namespaces");
  CHECK(rc == 2);
  CHECK(out.find("apply to transport tcp only") != std::string::npos);
}
