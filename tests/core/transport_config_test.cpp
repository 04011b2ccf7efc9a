// core/transport_config.cpp: the app keeps each transport's settings opaque, by section key, and
// copies them with the app.
#include "core/transport_config.hpp"

#include <catch2/catch.hpp>

using namespace spry::core;

namespace {

struct ring_config final : transport_config {
  unsigned size = 8;
  std::string section() const override { return "ring"; }
  std::unique_ptr<transport_config> clone() const override {
    return std::make_unique<ring_config>(*this);
  }
  std::string dump() const override { return "size: " + std::to_string(size) + "\n"; }
};

struct wire_config final : transport_config {
  std::string section() const override { return "wire"; }
  std::unique_ptr<transport_config> clone() const override {
    return std::make_unique<wire_config>(*this);
  }
  std::string dump() const override { return {}; }
};

} // namespace

TEST_CASE("transport settings are kept by section, replaced, and copied deeply",
          "[transport_config]") {
  transport_configs a;
  CHECK(a.empty());
  CHECK(a.find("ring") == nullptr);
  ring_config r;
  r.size = 16;
  a.set(r.clone());
  a.set(std::make_unique<wire_config>());
  a.set(nullptr); // ignored
  CHECK(a.keys() == std::vector<std::string>{"ring", "wire"});
  REQUIRE(a.get<ring_config>("ring"));
  CHECK(a.get<ring_config>("ring")->size == 16);
  CHECK(a.get<ring_config>("wire") == nullptr); // another type under that key
  CHECK(a.find("wire") != nullptr);

  transport_configs b = a;
  r.size = 32;
  a.set(r.clone()); // replaces "ring" in a only
  CHECK(a.get<ring_config>("ring")->size == 32);
  CHECK(b.get<ring_config>("ring")->size == 16);
  CHECK(b.get<ring_config>("ring") != a.get<ring_config>("ring"));
  b = a;
  CHECK(b.get<ring_config>("ring")->size == 32);
  CHECK(b.find("ring")->dump() == "size: 32\n");
  transport_configs c = std::move(b);
  CHECK(c.keys() == std::vector<std::string>{"ring", "wire"});
}
