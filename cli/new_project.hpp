#pragma once
// `spry new NAME`: scaffolds a project that builds against an installed spry
// (find_package(spry)) and serves as generated:
//
//   NAME/CMakeLists.txt        find_package(spry), the function library, the C++ app
//   NAME/NAME_functions.hpp    two functions (header-only: library and app share them)
//   NAME/NAME_functions.cpp    SPRY_FUNCTION_LIBRARY: the handler names the app file uses
//   NAME/NAME_app.cpp          the same chain composed in C++ (spry::app)
//   NAME/NAME.yaml             the app file (`spry run build/NAME.yaml`)
//   NAME/NAME.bench.yaml       a `spry bench` / `spry audit` workload for it
//   NAME/README.md             how to build, run, call and benchmark it

#include <string>

namespace spry::cli {

struct new_project_options {
  std::string name;        // [a-z][a-z0-9_]*: a C++ namespace, file names, the app's name
  std::string directory;   // where to write; default ./NAME
  std::string listen = "127.0.0.1:8080";
};

/// Writes the project. Refuses (exit code 2, the reason on stderr) a bad name, or a directory
/// that exists and is not empty; nothing is written then. 0 on success, 1 on an I/O error.
int new_project(const new_project_options& o);

} // namespace spry::cli
