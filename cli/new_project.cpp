#include "cli/new_project.hpp"

#include "core/version.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string_view>
#include <utility>
#include <vector>

namespace spry::cli {
namespace {

namespace fs = std::filesystem;

// The templates: @NAME@, @LISTEN@ and @VERSION@ (MAJOR.MINOR) are replaced.

constexpr std::string_view cmake_lists = R"(# @NAME@: a spry app built against an installed spry (`cmake --install` of spry, or a
# package). Configure with -DCMAKE_PREFIX_PATH=<spry's prefix> unless it is in a standard place.
cmake_minimum_required(VERSION 3.22)
project(@NAME@ LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)

find_package(spry @VERSION@ CONFIG REQUIRED)

# The function library `spry run @NAME@.yaml` loads (the app file's `libraries:`).
add_library(@NAME@_functions SHARED @NAME@_functions.cpp)
target_link_libraries(@NAME@_functions PRIVATE spry::function)

# The same chain composed in C++: one program, no YAML, no library to load.
add_executable(@NAME@_app @NAME@_app.cpp)
target_link_libraries(@NAME@_app PRIVATE spry::app)

# The app file and the bench workload sit next to the library they name, so
# `spry run build/@NAME@.yaml` works from anywhere.
configure_file(@NAME@.yaml ${CMAKE_CURRENT_BINARY_DIR}/@NAME@.yaml COPYONLY)
configure_file(@NAME@.bench.yaml ${CMAKE_CURRENT_BINARY_DIR}/@NAME@.bench.yaml COPYONLY)
)";

constexpr std::string_view functions_hpp = R"(#pragma once
// The functions of @NAME@'s chain. Header-only, so the function library (for the app file) and
// the C++ program share them. A function is any callable taking spry::core::message&: it reads
// the request payload in place, writes its answer (or fails it with a status) and returns.

#include <spry/core/message.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace @NAME@ {

/// Trims leading and trailing whitespace in place (the payload is the shared buffer: no copy);
/// the next function sees the trimmed payload.
struct trim {
  void operator()(spry::core::message& m) const {
    const auto in = m.payload();
    size_t b = 0, e = in.size();
    while (b < e && is_space(in[b]))
      ++b;
    while (e > b && is_space(in[e - 1]))
      --e;
    std::memmove(m.data(), m.data() + b, e - b);
    m.set_length(static_cast<uint32_t>(e - b));
  }
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
};

/// Answers {"text": ..., "bytes": N} as JSON. Bytes outside printable ASCII are escaped as
/// \u00XX, so the answer is valid JSON whatever the request carried.
struct answer {
  void operator()(spry::core::message& m) const {
    const auto in = m.payload();
    if (in.empty()) {
      m.fail("send some text in the request body", 400);
      return;
    }
    std::string out = "{\"text\":\"";
    for (unsigned char c : in) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c >= 0x7f) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", c);
        out += esc;
      } else {
        out += static_cast<char>(c);
      }
    }
    out += "\",\"bytes\":" + std::to_string(in.size()) + "}";
    m.write(out);
    m.set_content_type("application/json");
  }
};

} // namespace @NAME@
)";

constexpr std::string_view functions_cpp = R"(// @NAME@'s function library: the handler names below are what @NAME@.yaml's `handler:` fields
// refer to. `spry run` loads it through the app file's `libraries:`.
#include "@NAME@_functions.hpp"

#include <spry/core/function_library.hpp>

SPRY_FUNCTION_LIBRARY(registry) {
  registry.add("@NAME@.trim", @NAME@::trim{});
  registry.add("@NAME@.answer", @NAME@::answer{});
}
)";

constexpr std::string_view app_cpp = R"(// @NAME@ as one C++ program: the chain of @NAME@.yaml composed in code.
//
//   ./@NAME@_app --listen @LISTEN@
//   curl -d '  hello  ' http://@LISTEN@/@NAME@
#include "@NAME@_functions.hpp"

#include <spry/core/app.hpp>
#include <spry/gateway/run.hpp>

int main(int argc, char** argv) {
  spry::core::app app("@NAME@");
  app.function("trim", @NAME@::trim{});
  app.function("answer", @NAME@::answer{});
  app.chain("@NAME@").http("POST", "/@NAME@").then("trim").then("answer");
  return spry::gateway::run(app, argc, argv);
}
)";

constexpr std::string_view app_yaml = R"(# @NAME@: POST text to /@NAME@; `trim` trims it, `answer` answers with JSON.
#   spry run @NAME@.yaml     (the copy in the build directory, next to the library)
app: @NAME@
transport: local            # local, shm-skmsg, shm-dpdk or tcp: `spry transports` lists them
libraries: [lib@NAME@_functions.so]

gateway:
  listen: @LISTEN@

functions:
  - { name: trim, handler: @NAME@.trim }
  - { name: answer, handler: @NAME@.answer }

chains:
  - name: @NAME@
    http: { method: POST, path: /@NAME@ }
    functions: [trim, answer]
)";

constexpr std::string_view bench_yaml = R"(# `spry bench @NAME@.bench.yaml` (req/s, latency, CPU per setup) and
# `spry audit @NAME@.bench.yaml` (what each request costs the machine).
app: @NAME@.yaml
requests:
  - { name: @NAME@, method: POST, path: /@NAME@, body: "  hello from @NAME@  " }
load:
  users: 16
  duration: 5s
  warmup: 1s
setups: [local, shm-skmsg, tcp]
baseline: tcp
)";

constexpr std::string_view readme = R"(# @NAME@

A spry app: a chain of two functions (`trim`, then `answer`) behind `POST /@NAME@`.

    cmake -S . -B build -DCMAKE_PREFIX_PATH=<spry's install prefix>
    cmake --build build
    spry check build/@NAME@.yaml
    spry run build/@NAME@.yaml &
    curl -d '  hello  ' http://@LISTEN@/@NAME@

The same chain as one program: `build/@NAME@_app --listen @LISTEN@`.
Compare transports: `spry bench build/@NAME@.bench.yaml`.

- `@NAME@_functions.hpp`: the functions (any callable taking `spry::core::message&`).
- `@NAME@_functions.cpp`: the library `spry run` loads; its handler names are what
  `@NAME@.yaml` refers to.
- `@NAME@.yaml`: the app file (transport, gateway, functions, chains).
)";

std::string fill(std::string_view tpl, const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string out(tpl);
  for (const auto& [key, value] : vars)
    for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + value.size()))
      out.replace(at, key.size(), value);
  return out;
}

std::string major_minor(const std::string& v) {
  const auto first = v.find('.');
  const auto second = first == std::string::npos ? first : v.find('.', first + 1);
  return second == std::string::npos ? v : v.substr(0, second);
}

} // namespace

int new_project(const new_project_options& o) {
  static const std::regex valid("[a-z][a-z0-9_]{0,62}");
  if (!std::regex_match(o.name, valid)) {
    std::cerr << "spry new: '" << o.name << "' is not a usable name: use lower-case letters, "
              << "digits and '_', starting with a letter (it becomes a C++ namespace and file "
              << "names)\n";
    return 2;
  }
  const fs::path dir = o.directory.empty() ? fs::path(o.name) : fs::path(o.directory);
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    std::cerr << "spry new: " << dir.string() << " exists and is not an empty directory; "
              << "nothing was written\n";
    return 2;
  }
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << "spry new: cannot create " << dir.string() << ": " << ec.message() << "\n";
    return 1;
  }
  const std::vector<std::pair<std::string, std::string>> vars{
    {"@NAME@", o.name}, {"@LISTEN@", o.listen}, {"@VERSION@", major_minor(core::version())}};
  const std::vector<std::pair<std::string, std::string_view>> files{
    {"CMakeLists.txt", cmake_lists},
    {o.name + "_functions.hpp", functions_hpp},
    {o.name + "_functions.cpp", functions_cpp},
    {o.name + "_app.cpp", app_cpp},
    {o.name + ".yaml", app_yaml},
    {o.name + ".bench.yaml", bench_yaml},
    {"README.md", readme},
  };
  for (const auto& [file, tpl] : files) {
    const auto path = dir / file;
    std::ofstream out(path);
    out << fill(tpl, vars);
    out.close();
    if (!out) {
      std::cerr << "spry new: cannot write " << path.string() << ": " << std::strerror(errno)
                << "\n";
      return 1;
    }
  }
  std::cout << "spry new: wrote " << dir.string() << "/ (" << files.size() << " files)\n"
            << "  cmake -S " << dir.string() << " -B " << (dir / "build").string()
            << " -DCMAKE_PREFIX_PATH=<spry's install prefix>\n"
            << "  cmake --build " << (dir / "build").string() << "\n"
            << "  spry run " << (dir / "build" / (o.name + ".yaml")).string() << "\n";
  return 0;
}

} // namespace spry::cli
