#pragma once
// The exit codes of every spry program that takes an app file: `spry run`, `spry check`, a C++
// app's spry::gateway::run, and the subcommands built on them. Defined once here so scripts can
// tell "fix the file or the command line" from "it could not run here"; the README and `spry
// --help` list them.

namespace spry::gateway::exit_code {

/// Served until SIGINT/SIGTERM and stopped cleanly; `spry check`: the app is valid.
inline constexpr int ok = 0;
/// A valid app could not run here, or failed while serving: a transport missing privileges or
/// hugepages, a port in use, an instance that never became ready, an unreachable gateway
/// (`spry status`, `spry adapter`).
inline constexpr int failed = 1;
/// The input is wrong and running again will not help: a missing or invalid app file, a library
/// that does not load, a handler no library defines, an unknown transport or policy, a bad
/// command-line option. Everything `spry check` refuses; `spry run` refuses the same before
/// starting anything.
inline constexpr int invalid = 2;
/// A cluster node refused by its controller (another spry version or app file).
inline constexpr int refused = 3;

} // namespace spry::gateway::exit_code
