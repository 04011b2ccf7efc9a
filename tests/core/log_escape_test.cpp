#include "core/log_escape.hpp"
#include "core/log_limiter.hpp"

#include <catch2/catch.hpp>

using namespace spry::core;

TEST_CASE("log text: UTF-8 kept, other bytes and control characters escaped", "[log]") {
  CHECK(log_clean("plain ascii, caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80"));
  CHECK(escape_for_log("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK_FALSE(log_clean("a\x80"));
  CHECK(escape_for_log("a\x80\xff") == "a\\x80\\xff");
  CHECK(escape_for_log("line\nbreak\ttab\x7f") == "line\\x0abreak\\x09tab\\x7f");
  // truncated, overlong, surrogate, above U+10FFFF: each byte escaped
  CHECK(escape_for_log("\xe2\x82") == "\\xe2\\x82");
  CHECK(escape_for_log("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(escape_for_log("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(escape_for_log("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
  CHECK(escape_for_log(std::string_view("\0x", 2)) == "\\x00x");
  CHECK(log_clean(""));
}

TEST_CASE("log limiter: the first line at once, the rest of the interval counted", "[log]") {
  // An interval no test run can outlast: everything after the first call is within it.
  log_limiter limit(uint64_t{3600} * 1000000000);
  uint64_t left_out = 99;
  CHECK(limit.allow(left_out));
  CHECK(left_out == 0);
  for (int i = 0; i < 24; ++i)
    CHECK_FALSE(limit.allow(left_out));
  // An interval of 0: every call is logged and reports what was left out before it.
  log_limiter every(0);
  CHECK(every.allow(left_out));
  CHECK(left_out == 0);
  CHECK(every.allow(left_out));
  CHECK(left_out == 0);
}
