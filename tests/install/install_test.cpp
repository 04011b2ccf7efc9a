// Using spry from a project of one's own: `cmake --install` into a fresh prefix, `spry new`
// there, the scaffold configured and built outside the tree with find_package(spry) (and a
// function library built with pkg-config alone), then served by the installed `spry run` and
// as the scaffold's own C++ program. Real cmake, compiler, processes and HTTP. One test case
// with plain blocks rather than SECTIONs: Catch2 would install and build again per section.

#include "bench/load/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <string>

using namespace spry::test;
using spry::bench::child_process;
namespace fs = std::filesystem;

namespace {

// The answer the scaffold's chain gives: trimmed, bytes outside ASCII escaped (valid JSON).
constexpr const char* request_body = "  caf\xc3\xa9 \"au lait\"  ";
constexpr const char* expected_answer =
  R"({"text":"caf\u00c3\u00a9 \"au lait\"","bytes":15})";

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void serves(child_process& p, const std::string& path) {
  const uint16_t port = port_of(p);
  auto r = http_request(port, "POST", path, request_body);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-type") == "application/json");
  CHECK(r->body == expected_answer);
  auto bad = http_request(port, "POST", path, "   ");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  const auto st = p.stop(SIGTERM, std::chrono::seconds(20));
  REQUIRE(st);
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == 0);
}

} // namespace

TEST_CASE("an installed spry builds and serves a project made by spry new", "[install]") {
  temp_dir dir;
  const auto prefix = dir.path + "/prefix";
  const auto libdir = prefix + "/" SPRY_INSTALL_LIBDIR;
  auto [installed, install_log] =
    run_command("cmake --install " + sh_quote(SPRY_BUILD_DIR) + " --prefix " + sh_quote(prefix));
  INFO(install_log);
  REQUIRE(installed == 0);
  const auto spry = prefix + "/bin/spry";
  for (const auto& f : {spry, prefix + "/include/spry/core/function_library.hpp",
                        prefix + "/include/spry/gateway/run.hpp",
                        libdir + "/cmake/spry/spryConfig.cmake",
                        libdir + "/cmake/spry/spryConfigVersion.cmake",
                        libdir + "/pkgconfig/spry.pc", libdir + "/pkgconfig/spry-function.pc",
                        libdir + "/spry/adapters/libspry_adapter_cloudevents.so"})
    CHECK(fs::exists(f));
  // Nothing of the bench, the lab or the tests is installed.
  CHECK_FALSE(fs::exists(prefix + "/include/spry/bench"));
  CHECK_FALSE(fs::exists(prefix + "/include/spry/policies/lab"));

  { // the runtime libraries hold no bench or lab code
    auto [rc, syms] = run_command("nm -DC --defined-only " + sh_quote(libdir) + "/libspry_*.so");
    REQUIRE(rc == 0);
    CHECK_THAT(syms, Catch::Contains("spry::gateway::run"));
    CHECK_THAT(syms, !Catch::Contains("spry::bench::"));
    CHECK_THAT(syms, !Catch::Contains("lab_main"));
  }

  const auto project = dir.path + "/demo";
  auto [made, made_log] = run_command(sh_quote(spry) + " new demo --dir " + sh_quote(project) +
                                      " --listen 127.0.0.1:0");
  INFO(made_log);
  REQUIRE(made == 0);
  for (const auto* f : {"CMakeLists.txt", "demo_functions.hpp", "demo_functions.cpp",
                        "demo_app.cpp", "demo.yaml", "demo.bench.yaml", "README.md"})
    CHECK(fs::exists(project + "/" + f));
  // A second time the directory is not empty: refused, nothing overwritten.
  CHECK(run_command(sh_quote(spry) + " new demo --dir " + sh_quote(project)).first == 2);
  CHECK(run_command(sh_quote(spry) + " new Bad-Name --dir " + sh_quote(dir.path + "/x")).first ==
        2);
  CHECK_FALSE(fs::exists(dir.path + "/x"));

  // Out of the tree: only the prefix is named; no spry source or build directory is visible.
  const auto build = project + "/build";
  auto [configured, configure_log] =
    run_command("cmake -S " + sh_quote(project) + " -B " + sh_quote(build) +
                " -DCMAKE_PREFIX_PATH=" + sh_quote(prefix) + " -DCMAKE_BUILD_TYPE=Release");
  INFO(configure_log);
  REQUIRE(configured == 0);
  auto [built, build_log] = run_command("cmake --build " + sh_quote(build) + " --parallel 2");
  INFO(build_log);
  REQUIRE(built == 0);

  { // the function library links the shared runtime, not a copy of it
    auto [rc, dyn] = run_command("readelf -d " + sh_quote(build + "/libdemo_functions.so"));
    REQUIRE(rc == 0);
    CHECK_THAT(dyn, Catch::Contains("libspry_core.so"));
    auto [rc2, own] =
      run_command("nm -C --defined-only " + sh_quote(build + "/libdemo_functions.so"));
    REQUIRE(rc2 == 0);
    CHECK_THAT(own, !Catch::Contains("spry::core::message::write"));
  }

  { // the installed spry checks and serves the app file
    auto [checked, check_log] = run_command(sh_quote(spry) + " check " + sh_quote(build + "/demo.yaml"));
    INFO(check_log);
    REQUIRE(checked == 0);
    child_process run({spry, "run", build + "/demo.yaml", "--log-level", "warn"},
                      dir.path + "/run.stderr");
    serves(run, "/demo");
  }

  { // the scaffold's C++ program serves the same chain
    child_process app({build + "/demo_app", "--listen", "127.0.0.1:0", "--log-level", "warn"},
                      dir.path + "/app.stderr");
    serves(app, "/demo");
  }

  { // a function library built with pkg-config alone loads
    const auto lib = dir.path + "/libpc_functions.so";
    auto [rc, log] = run_command(
      "PKG_CONFIG_PATH=" + sh_quote(libdir + "/pkgconfig") + " sh -c " +
      sh_quote("c++ -std=c++17 -shared -fPIC -o " + sh_quote(lib) + " " +
               sh_quote(project + "/demo_functions.cpp") + " -I" + sh_quote(project) +
               " $(pkg-config --cflags --libs spry-function)"));
    INFO(log);
    REQUIRE(rc == 0);
    const auto app = dir.file("pc.yaml",
                              "app: pc\ntransport: local\nlibraries: [" + lib +
                                "]\ngateway: { listen: 127.0.0.1:0 }\n"
                                "functions:\n  - { name: trim, handler: demo.trim }\n"
                                "  - { name: answer, handler: demo.answer }\n"
                                "chains:\n  - { name: pc, http: { method: POST, path: /pc }, "
                                "functions: [trim, answer] }\n");
    child_process run({spry, "run", app, "--log-level", "warn"}, dir.path + "/pc.stderr");
    serves(run, "/pc");
  }
}
