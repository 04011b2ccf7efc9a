#include "gateway/log_format.hpp"

#include <catch2/catch.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <sstream>

TEST_CASE("log lines escape bytes a client or a function wrote", "[log]") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log("test", sink);
  log.set_formatter(spry::gateway::make_log_formatter());
  log.warn("mqtt: message rejected on '{}': {}", "sensors/caf\xc3\xa9/motion", "not JSON: \x80\xff\n{");
  log.warn("plain {}", 42);
  const std::string text = out.str();
  // UTF-8 stays, everything else is \xNN; one line per message, with the level.
  CHECK_THAT(text, Catch::Contains(" warning mqtt: message rejected on 'sensors/caf\xc3\xa9/motion': "
                                   "not JSON: \\x80\\xff\\x0a{\n"));
  CHECK_THAT(text, Catch::Contains(" warning plain 42\n"));
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
}
