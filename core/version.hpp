#pragma once
// The project's version, from CMake's project(VERSION): one place for `spry version`, the
// cluster's join check and the scaffolds `spry new` writes.

namespace spry::core {

/// "MAJOR.MINOR.PATCH" of the runtime library this process loaded.
const char* version();

} // namespace spry::core
