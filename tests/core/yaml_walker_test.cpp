// core/yaml_walker.cpp: every value of the app file goes through it, and so do the sections the
// transports register, the lab's experiments and the bench workloads; each error names the file,
// line, column and key.
#include "core/yaml_walker.hpp"

#include <catch2/catch.hpp>

using namespace spry::core;

namespace {

// The message the walker throws for `f`, or "" if it threw nothing.
template <class F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.message;
  }
  return {};
}

} // namespace

TEST_CASE("the walker reads scalars and says where and what was wrong", "[config][walker]") {
  const yaml_walker w("w.yaml");
  const auto root = YAML::Load("n: 42\nbig: 99999\nsize: 4KiB\nwait: 2s\nx: 0.5\nb: on\n"
                               "list: [a, b]\nmap: {k: v}\n");
  CHECK(w.file() == "w.yaml");
  CHECK(w.uint(root["n"], "n", 100) == 42);
  CHECK(w.size(root["size"], "size", 1 << 20) == 4096);
  CHECK(w.duration(root["wait"], "wait") == 2000);
  CHECK(w.number(root["x"], "x", 0, 1) == 0.5);
  CHECK(w.boolean(root["b"], "b", true));
  CHECK(w.str_list(root["list"], "list") == std::vector<std::string>{"a", "b"});
  CHECK(w.at(root["big"]).prefix() == "w.yaml:2:6: ");

  CHECK(thrown([&] { w.uint(root["big"], "big", 100); }) ==
        "w.yaml:2:6: big: 99999 is too large (at most 100)");
  CHECK(thrown([&] { w.uint(root["size"], "size", 100); }) ==
        "w.yaml:3:7: size: expected a non-negative integer, got '4KiB'");
  CHECK(thrown([&] { w.size(root["size"], "size", 1024); }) ==
        "w.yaml:3:7: size: 4KiB is too large (at most 1024 bytes)");
  CHECK(thrown([&] { w.duration(root["size"], "size"); }) ==
        "w.yaml:3:7: size: unknown duration unit 'KiB' in '4KiB' (use ms, s, m)");
  CHECK(thrown([&] { w.number(root["x"], "x", 1, 2); }) == "w.yaml:5:4: x: 0.5 is outside [1, 2]");
  CHECK(thrown([&] { w.boolean(root["b"], "b"); }) ==
        "w.yaml:6:4: b: expected true or false, got 'on'");
  CHECK(thrown([&] { w.str(root["list"], "list"); }) == "w.yaml:7:7: list: expected a string");
  CHECK(thrown([&] { w.str_list(root["n"], "n"); }) ==
        "w.yaml:1:4: n: expected a list, e.g. [a, b]");
}

TEST_CASE("the walker checks mappings and their keys", "[config][walker]") {
  const yaml_walker w("w.yaml");
  const auto root = YAML::Load("map: {k: v, odd: 1}\nlist: [1]\n");
  CHECK(thrown([&] { w.expect_map(root["map"], "map"); }).empty());
  CHECK(thrown([&] { w.expect_map(root["list"], "list"); }) ==
        "w.yaml:2:7: list: expected a mapping (key: value)");
  CHECK(thrown([&] { w.only_keys(root["map"], "map", {"k", "odd"}); }).empty());
  CHECK(thrown([&] { w.only_keys(root["map"], "map", {"k", "even"}); }) ==
        "w.yaml:1:13: map: unknown key 'odd' (expected one of: k, even)");
  CHECK(thrown([&] { w.fail(root["list"], "list: no"); }) == "w.yaml:2:7: list: no");
}

TEST_CASE("the walker reads lists, counts and whole documents", "[config][walker]") {
  const yaml_walker w("w.yaml");
  const auto root = YAML::Load("list: [1]\nmap: {k: v}\nn: 1e3\nhalf: 2.5\nneg: -7.5\n");
  CHECK(thrown([&] { w.expect_seq(root["list"], "list"); }).empty());
  CHECK(thrown([&] { w.expect_seq(root["map"], "map"); }) == "w.yaml:2:6: map: expected a list");
  CHECK(w.count(root["n"], "n", 1, 5000) == 1000);
  CHECK(thrown([&] { w.count(root["half"], "half", 0, 10); }) ==
        "w.yaml:4:7: half: expected a whole number, got '2.5'");
  CHECK(thrown([&] { w.count(root["n"], "n", 1, 10); }) == "w.yaml:3:4: n: 1e3 is outside [1, 10]");
  CHECK(w.number(root["neg"], "neg") == -7.5);
  CHECK(thrown([&] { w.number(root["map"], "map"); }) == "w.yaml:2:6: map: expected a number");
  // only_keys wants a mapping first.
  CHECK(thrown([&] { w.only_keys(root["list"], "list", {"a"}); }) ==
        "w.yaml:1:7: list: expected a mapping (key: value)");

  CHECK(yaml_walker::load_text("a: 1\n", "t.yaml")["a"].Scalar() == "1");
  CHECK_THAT(thrown([] { yaml_walker::load_text("a: [1\n", "t.yaml"); }),
             Catch::StartsWith("t.yaml:2:") && Catch::Contains("YAML syntax error"));
  CHECK_THAT(thrown([] { yaml_walker::load_file("/nonexistent/x.yaml"); }),
             Catch::StartsWith("/nonexistent/x.yaml: cannot open: "));
}
