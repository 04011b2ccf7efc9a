#pragma once
// A child process started by a test or a benchmark and stopped by its PID, even when the test fails (the
// destructor sends SIGTERM, waits, then SIGKILLs). Its stdout is readable line by line so a
// test can wait for "listening on" instead of sleeping.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace spry::bench {

class child_process {
public:
  /// Starts argv[0] with arguments; stdout is piped to us, stderr goes to `stderr_file`
  /// (or is inherited when empty).
  child_process(std::vector<std::string> argv, std::string stderr_file = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  /// Reads stdout until a line contains `needle`; returns that line, or nullopt on EOF/timeout.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);
  /// For a `spry run` / `spry node` child: waits for its "listening on http://HOST:PORT" line
  /// and returns PORT, or nullopt on EOF/timeout or a line without a port.
  std::optional<uint16_t> wait_for_http_port(std::chrono::milliseconds timeout);
  /// Sends `sig` and waits up to `timeout` for exit; returns the exit status (as from waitpid),
  /// or nullopt if it did not exit in time.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);
  bool running();

private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string pending_;
  std::optional<int> status_;
};

/// Reads `path` into a string ("" if unreadable).
std::string read_file(const std::string& path);

/// Live (not zombie) children of `parent`, from /proc.
std::vector<pid_t> children_of(pid_t parent);
/// true if `pid` exists and is not a zombie.
bool alive(pid_t pid);
/// CPU seconds (user + system) used so far by `root` and all its live descendants.
double tree_cpu_seconds(pid_t root);

} // namespace spry::bench
