#include "core/utf8.hpp"

#include <catch2/catch.hpp>

#include <string>

using spry::core::well_formed_utf8;

TEST_CASE("well_formed_utf8: RFC 3629 only", "[core]") {
  CHECK(well_formed_utf8(""));
  CHECK(well_formed_utf8("plain ascii"));
  CHECK(well_formed_utf8("K\xc3\xbc" "che \xe2\x82\xac \xf0\x9f\x9a\xaa")); // Küche € 🚪
  CHECK(well_formed_utf8(std::string("a\0b", 3)));                         // U+0000 is UTF-8
  CHECK(well_formed_utf8("\xf4\x8f\xbf\xbf"));                             // U+10FFFF
  CHECK_FALSE(well_formed_utf8("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(well_formed_utf8("\xe0\x80\xaf"));     // overlong, three bytes
  CHECK_FALSE(well_formed_utf8("\xed\xa0\x80"));     // a surrogate (U+D800)
  CHECK_FALSE(well_formed_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  CHECK_FALSE(well_formed_utf8("\x80"));             // a continuation byte first
  CHECK_FALSE(well_formed_utf8("\xe2\x82"));         // cut short
  CHECK_FALSE(well_formed_utf8("\xe2\x28\xa1"));     // a bad continuation
  CHECK_FALSE(well_formed_utf8("\xff"));
}
