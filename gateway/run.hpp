#pragma once
// Entry points for programs: `spry` itself (spry_main.cpp) and user programs that compose an
// app in C++ and call run(app, argc, argv) from their main.

#include "core/app.hpp"

namespace spry::gateway {

/// Runs a C++-composed app until SIGINT/SIGTERM, with the same command-line options as
/// `spry run` (--listen, --transport, --io-threads, --workers, --log-level; --help).
int run(core::app& app, int argc, char** argv);

/// The `spry` command line.
int spry_main(int argc, char** argv);

} // namespace spry::gateway
