#include "bench/load/child_process.hpp"

#include "bench/load/proc_stats.hpp"

#include <csignal>
#include <map>
#include <regex>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace spry::bench {

child_process::child_process(std::vector<std::string> argv, std::string stderr_file) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return;
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // A test runner killed by a timeout must not leave its servers behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    if (!stderr_file.empty()) {
      int e = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (e >= 0)
        dup2(e, STDERR_FILENO);
    }
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  out_fd_ = fds[0];
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) {
    if (!stop(SIGTERM, std::chrono::seconds(10)))
      stop(SIGKILL, std::chrono::seconds(10));
  }
  if (out_fd_ >= 0)
    close(out_fd_);
}

std::optional<uint16_t> child_process::wait_for_http_port(std::chrono::milliseconds timeout) {
  const auto line = wait_for_line("listening on http://", timeout);
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex(R"(listening on http://[^:\s]+:(\d+))")))
    return std::nullopt;
  return static_cast<uint16_t>(std::stoul(m[1]));
}

std::optional<std::string> child_process::wait_for_line(const std::string& needle,
                                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t nl;
    while ((nl = pending_.find('\n')) != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      if (line.find(needle) != std::string::npos)
        return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return std::nullopt;
    char buf[4096];
    const ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0)
      return std::nullopt;
    pending_.append(buf, static_cast<size_t>(n));
  }
}

bool child_process::running() {
  if (pid_ <= 0 || status_)
    return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

std::optional<int> child_process::stop(int sig, std::chrono::milliseconds timeout) {
  if (status_)
    return status_;
  if (pid_ <= 0)
    return std::nullopt;
  kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = st;
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& p : all_processes())
    if (p.ppid == parent && p.state != 'Z')
      out.push_back(p.pid);
  return out;
}

bool alive(pid_t pid) {
  if (kill(pid, 0) != 0)
    return false;
  for (const auto& p : all_processes())
    if (p.pid == pid)
      return p.state != 'Z';
  return false;
}

double tree_cpu_seconds(pid_t root) {
  const auto rows = all_processes();
  std::map<pid_t, pid_t> parent;
  for (const auto& p : rows)
    parent[p.pid] = p.ppid;
  double total = 0;
  for (const auto& p : rows)
    for (pid_t a = p.pid; a > 1; a = parent.count(a) ? parent[a] : 0)
      if (a == root) {
        total += p.cpu_seconds;
        break;
      }
  return total;
}

} // namespace spry::bench
