#include "core/role_env.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace spry::core;

TEST_CASE("a list of paths survives the role variable's format", "[core][role_env]") {
  const std::vector<std::string> paths{"/a/lib.so", "/odd;dir/x,y%z.so", ""};
  const auto value = role_list(paths);
  CHECK(value.find(';') == std::string::npos);
  CHECK(parse_role_list(value) == paths);
  CHECK(parse_role_list(role_list({})).empty());
  CHECK(parse_role_list(role_list({"/one.so"})) == std::vector<std::string>{"/one.so"});

  // Inside a whole role variable, next to other keys.
  const std::string env = "function=f;libraries=" + role_list({"/x;y.so", "/z.so"}) + ";endpoint=3";
  setenv("SPRY_ROLE_ENV_TEST", env.c_str(), 1);
  const auto role = read_role_env("SPRY_ROLE_ENV_TEST");
  unsetenv("SPRY_ROLE_ENV_TEST");
  REQUIRE(role.error.empty());
  CHECK(parse_role_list(role.values.at("libraries")) == std::vector<std::string>{"/x;y.so", "/z.so"});
  CHECK(role_number(role.values, "endpoint") == 3);
}
