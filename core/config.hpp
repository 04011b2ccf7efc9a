#pragma once
// The YAML app file. Example (examples/hello/hello.yaml):
//
//   app: hello
//   transport: local                 # local | tcp | shm-skmsg | shm-dpdk
//   libraries: [libspry_hello.so]    # function libraries, relative to this file
//   gateway: { listen: 127.0.0.1:8080, io_threads: 1, body_limit: 1MiB,
//              header_timeout: 10s, body_timeout: 30s, idle_timeout: 60s }
//   dpdk: { lcores: 0-1, idle: adaptive }   # a transport's own section: parsed by the
//                                           # transport that registered it (config_section.hpp)
//   policies: { load_balancer: round_robin }
//   functions:
//     - { name: upper, handler: hello.uppercase }
//     - { name: count, handler: hello.count }
//   chains:
//     - name: hello
//       http: { method: POST, path: /hello }
//       functions: [upper, count]
//       pool: { buffers: 1024, buffer_size: 64KiB }
//       timeout: 10s
//
// Every error says file:line:column, which key, and what was expected. Unknown keys are errors
// (a misspelt key silently ignored is a configuration bug waiting to happen). The top-level keys
// are the app's own plus the sections registered in the transport registry passed in.

#include "core/app_spec.hpp"
#include "core/error.hpp"

#include <string>

namespace spry::core {

class transport_registry;

/// Parses an app from YAML text; `file` is used in error messages and to resolve libraries.
/// `transports`: whose registered sections (`tcp:`, ...) the file may have; with an empty
/// registry, every transport section is an unknown key.
expected<app_spec> parse_app_yaml(const std::string& text, const std::string& file,
                                  const transport_registry& transports);
/// Reads and parses an app file.
expected<app_spec> load_app_file(const std::string& path, const transport_registry& transports);

/// "64KiB" / "1MiB" / "512" -> bytes. Exposed for tests.
expected<uint64_t> parse_size(const std::string& s);
/// "10s" / "250ms" / "2m" / "1500" (ms) -> milliseconds. Exposed for tests.
expected<uint64_t> parse_duration_ms(const std::string& s);

} // namespace spry::core
