// The YAML app loader (core/config.cpp, config_mqtt.cpp): the whole app file as `spry run` /
// `spry check` read it, plus the size and duration parsers its values go through. Every input
// must give an app or a core::error: an exception escaping parse_app_yaml is a finding.
//
// Input: the app file's text.
#include "core/app_spec.hpp"
#include "core/config.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto app = spry::core::parse_app_yaml(text, "fuzz.yaml");
  if (!app && app.err().message.empty())
    abort(); // every error says what was wrong
  // What run/check do next with a file that parsed: names to ids, the route table.
  if (app) {
    auto compiled = spry::core::compile(*app);
    if (!compiled && compiled.err().message.empty())
      abort();
  }
  // The scalar parsers on the first line (values such as "64KiB", "10s" reach them).
  const std::string first = text.substr(0, text.find('\n')).substr(0, 64);
  (void)spry::core::parse_size(first);
  (void)spry::core::parse_duration_ms(first);
  return 0;
}
