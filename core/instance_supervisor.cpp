#include "core/instance_supervisor.hpp"

#include "core/clock.hpp"
#include "core/control_channel.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace spry::core {

namespace {

constexpr int child_control_fd = 3;
constexpr int child_listen_fd = 4;
constexpr size_t stderr_tail_lines = 20;

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

int make_listener(uint16_t& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, SOMAXCONN) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

} // namespace

struct instance_supervisor::child {
  endpoint_id endpoint;
  function_id function;
  pid_t pid = 0;
  int control = -1;
  int err = -1;
  int listen_fd = -1;        // owned by the agent across restarts (tcp)
  std::string address;       // where the instance listens (from `ready`, or the owned socket)
  bool ready = false;
  bool running = false;
  uint32_t restarts = 0;
  bool crash_looping = false;
  uint64_t ready_deadline_ns = 0;
  uint64_t restart_at_ns = 0;
  uint32_t backoff_ms = 0;
  std::deque<uint64_t> crashes;  // times of recent crashes
  std::deque<std::string> tail;  // last stderr lines
  std::string partial;           // stderr bytes after the last newline
  control_reader reader;
  std::string exit_reason;       // why it last stopped (for start-up errors)
};

instance_supervisor::instance_supervisor(const app_spec& app, launch_spec launch,
                                         std::string gateway_address,
                                         bool listen_socket_per_endpoint, hooks h)
  : app_(app),
    launch_(std::move(launch)),
    gateway_address_(std::move(gateway_address)),
    own_listeners_(listen_socket_per_endpoint),
    hooks_(std::move(h)) {
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
    wake_[0] = wake_[1] = -1;
}

instance_supervisor::~instance_supervisor() {
  stop();
  for (int fd : wake_)
    if (fd >= 0)
      close(fd);
}

status_or_error instance_supervisor::start(const std::vector<planned>& plan) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& p : plan) {
      auto c = std::make_unique<child>();
      c->endpoint = p.endpoint;
      c->function = p.function;
      c->backoff_ms = app_.instances.restart_backoff_ms;
      if (own_listeners_) {
        uint16_t port = 0;
        c->listen_fd = make_listener(port);
        if (c->listen_fd < 0)
          return make_error(std::string("cannot open a loopback listening socket for an "
                                        "instance: ") + strerror(errno));
        c->address = "127.0.0.1:" + std::to_string(port);
      }
      if (auto ok = spawn(*c); !ok)
        return ok;
      children_.push_back(std::move(c));
    }
  }
  monitor_ = std::thread([this] { monitor(); });
  // Readiness, not a sleep, gates traffic: wait for every `ready`, or the first failure.
  std::unique_lock<std::mutex> lock{mtx_};
  const auto timeout = std::chrono::milliseconds(app_.instances.ready_timeout_ms);
  std::string failure;
  const bool done = cv_.wait_for(lock, timeout, [&] {
    for (const auto& c : children_) {
      if (!c->exit_reason.empty()) {
        failure = "instance " + std::to_string(c->endpoint) + " of function '" +
                  app_.functions[c->function].name + "' " + c->exit_reason +
                  " before it was ready" + tail_of(*c);
        return true;
      }
    }
    for (const auto& c : children_)
      if (!c->ready)
        return false;
    return true;
  });
  if (!done) {
    for (const auto& c : children_)
      if (!c->ready) {
        failure = "instance " + std::to_string(c->endpoint) + " of function '" +
                  app_.functions[c->function].name + "' did not become ready within " +
                  std::to_string(app_.instances.ready_timeout_ms) + " ms" + tail_of(*c);
        break;
      }
  }
  if (failure.empty())
    serving_ = true;
  lock.unlock();
  if (!failure.empty()) {
    stop(0);
    return make_error(failure);
  }
  return {};
}

std::string instance_supervisor::tail_of(const child& c) const {
  if (c.tail.empty() && c.partial.empty())
    return " (it wrote nothing to stderr)";
  std::string out = "; the end of its stderr:";
  for (const auto& l : c.tail)
    out += "\n    " + l;
  if (!c.partial.empty())
    out += "\n    " + c.partial;
  return out;
}

status_or_error instance_supervisor::spawn(child& c) {
  int ctl[2], err[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0)
    return make_error(std::string("socketpair: ") + strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(ctl[0]);
    close(ctl[1]);
    return make_error(std::string("pipe: ") + strerror(errno));
  }
  // Everything the child needs is prepared before fork: after fork in a threaded process only
  // async-signal-safe calls are allowed until exec.
  const std::string role = "SPRY_INSTANCE=endpoint=" + std::to_string(c.endpoint) +
                           ";function=" + app_.functions[c.function].name +
                           ";control_fd=" + std::to_string(child_control_fd) +
                           ";listen_fd=" + std::to_string(c.listen_fd >= 0 ? child_listen_fd : -1) +
                           ";parent=" + std::to_string(getpid());
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "SPRY_INSTANCE=", 14) != 0)
      env_store.emplace_back(*e);
  env_store.push_back(role);
  std::vector<char*> envp;
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_store = launch_.argv;
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const int listen_fd = c.listen_fd;

  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(ctl[0]);
    close(ctl[1]);
    close(err[0]);
    close(err[1]);
    return make_error(std::string("fork: ") + strerror(e));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(111);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr); // the gateway blocks SIGINT/SIGTERM for sigwait
    dup2(err[1], STDERR_FILENO);
    dup2(err[1], STDOUT_FILENO); // a function's prints are forwarded with the instance's name
    dup2(ctl[1], child_control_fd);
    if (listen_fd >= 0)
      dup2(listen_fd, child_listen_fd);
    execve(launch_.executable.c_str(), argv.data(), envp.data());
    const char msg[] = "spry: exec of the instance program failed\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  close(ctl[1]);
  close(err[1]);
  set_nonblocking(ctl[0]);
  set_nonblocking(err[0]);
  c.pid = pid;
  c.control = ctl[0];
  c.err = err[0];
  c.running = true;
  c.ready = false;
  c.exit_reason.clear();
  c.reader = control_reader{};
  c.ready_deadline_ns = now_ns() + uint64_t{app_.instances.ready_timeout_ms} * 1000000;
  spdlog::debug("instance {} of '{}' started as pid {}", c.endpoint,
                app_.functions[c.function].name, pid);
  return {};
}

void instance_supervisor::read_stderr(child& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(c.err, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(c.err);
        c.err = -1;
      }
      return;
    }
    c.partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = c.partial.find('\n')) != std::string::npos) {
      std::string line = c.partial.substr(0, nl);
      c.partial.erase(0, nl + 1);
      std::fprintf(stderr, "[%s#%u] %s\n", app_.functions[c.function].name.c_str(), c.endpoint,
                   line.c_str());
      c.tail.push_back(std::move(line));
      if (c.tail.size() > stderr_tail_lines)
        c.tail.pop_front();
    }
    if (c.partial.size() > 4096)
      c.partial.erase(0, c.partial.size() - 4096);
  }
}

void instance_supervisor::read_control(child& c) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(c.control, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      on_exit(c, "");
      return;
    }
    if (n < 0)
      break;
    c.reader.feed(buf, static_cast<size_t>(n));
  }
  while (auto m = c.reader.next()) {
    if (!*m) {
      spdlog::error("instance {}: {}; stopping it", c.endpoint, m->err().message);
      kill(c.pid, SIGKILL);
      return;
    }
    const control_message& msg = **m;
    if (msg.type == control_message::kind::ready && msg.endpoint == c.endpoint) {
      c.ready = true;
      if (!own_listeners_)
        c.address = msg.address;
      spdlog::debug("instance {} of '{}' is ready at {}", c.endpoint,
                    app_.functions[c.function].name, c.address);
      publish_locked();
      cv_.notify_all();
    }
  }
}

void instance_supervisor::on_exit(child& c, const std::string& why_override) {
  if (!c.running)
    return;
  // The control socket closed: the process is exiting or gone. Make sure, then reap it.
  int status = 0;
  pid_t r = waitpid(c.pid, &status, WNOHANG);
  for (int i = 0; r == 0 && i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    r = waitpid(c.pid, &status, WNOHANG);
  }
  if (r == 0) {
    kill(c.pid, SIGKILL);
    waitpid(c.pid, &status, 0);
  }
  if (c.err >= 0) {
    read_stderr(c);
    if (c.err >= 0)
      close(c.err);
    c.err = -1;
  }
  close(c.control);
  c.control = -1;
  c.running = false;
  const bool was_ready = c.ready;
  c.ready = false;
  c.pid = 0;
  c.exit_reason = why_override.empty() ? describe_status(status) : why_override;
  const std::string fname = app_.functions[c.function].name;
  const std::string why = "instance " + std::to_string(c.endpoint) + " of function '" + fname +
                          "' " + c.exit_reason;
  cv_.notify_all();
  if (stopping_.load())
    return;
  if (!serving_)
    return; // start() reports it
  spdlog::warn("{}; restarting it", why);
  if (was_ready)
    publish_locked();
  if (hooks_.on_down)
    hooks_.on_down(c.endpoint, why);
  const uint64_t now = now_ns();
  c.crashes.push_back(now);
  while (!c.crashes.empty() &&
         now - c.crashes.front() > uint64_t{app_.instances.crash_loop_window_ms} * 1000000)
    c.crashes.pop_front();
  if (c.crashes.size() >= app_.instances.crash_loop_restarts) {
    if (!c.crash_looping)
      spdlog::error("function '{}' instance {} is crash-looping ({} exits within {} ms); "
                    "restarting it at most every {} ms{}",
                    fname, c.endpoint, c.crashes.size(), app_.instances.crash_loop_window_ms,
                    app_.instances.restart_backoff_max_ms, tail_of(c));
    c.crash_looping = true;
    c.backoff_ms = app_.instances.restart_backoff_max_ms;
  } else if (c.crashes.size() <= 1) {
    c.crash_looping = false;
    c.backoff_ms = app_.instances.restart_backoff_ms;
  }
  c.restart_at_ns = now + uint64_t{c.backoff_ms} * 1000000;
  c.backoff_ms = std::min(c.backoff_ms * 2, app_.instances.restart_backoff_max_ms);
}

void instance_supervisor::publish_locked() {
  endpoint_directory dir;
  dir.instances.resize(app_.functions.size());
  endpoint_id max_ep = 0;
  for (const auto& c : children_)
    max_ep = std::max(max_ep, c->endpoint);
  dir.function_of.assign(max_ep + 1, no_function);
  std::vector<std::pair<endpoint_id, std::string>> peers;
  peers.emplace_back(gateway_endpoint, gateway_address_);
  for (const auto& c : children_) {
    dir.function_of[c->endpoint] = c->function;
    if (!c->ready)
      continue;
    dir.instances[c->function].push_back(c->endpoint);
    peers.emplace_back(c->endpoint, c->address);
  }
  control_message pm;
  pm.type = control_message::kind::peers;
  pm.peers = peers;
  control_message dm;
  dm.type = control_message::kind::directory;
  dm.directory = dir.instances;
  for (const auto& c : children_)
    if (c->running && c->control >= 0) {
      write_control(c->control, pm);
      write_control(c->control, dm);
    }
  if (hooks_.on_topology)
    hooks_.on_topology(dir, peers);
}

void instance_supervisor::monitor() {
  std::vector<pollfd> fds;
  std::vector<std::pair<child*, bool>> owners; // (child, is_control)
  while (!stopping_.load()) {
    int timeout_ms = 1000;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      const uint64_t now = now_ns();
      for (auto& c : children_) {
        if (!c->running && c->restart_at_ns && now >= c->restart_at_ns) {
          c->restart_at_ns = 0;
          c->restarts++;
          if (auto ok = spawn(*c); !ok) {
            spdlog::error("cannot restart instance {}: {}", c->endpoint, ok.err().message);
            c->restart_at_ns = now + uint64_t{app_.instances.restart_backoff_max_ms} * 1000000;
          }
        }
        if (c->running && !c->ready && now >= c->ready_deadline_ns && serving_) {
          spdlog::error("instance {} of '{}' did not become ready within {} ms; killing it{}",
                        c->endpoint, app_.functions[c->function].name,
                        app_.instances.ready_timeout_ms, tail_of(*c));
          kill(c->pid, SIGKILL);
          c->ready_deadline_ns = UINT64_MAX;
        }
        auto until = [&](uint64_t t) {
          if (t > now)
            timeout_ms = std::min<int>(timeout_ms, static_cast<int>((t - now) / 1000000 + 1));
        };
        if (!c->running && c->restart_at_ns)
          until(c->restart_at_ns);
        if (c->running && !c->ready && c->ready_deadline_ns != UINT64_MAX)
          until(c->ready_deadline_ns);
      }
      fds.clear();
      owners.clear();
      fds.push_back({wake_[0], POLLIN, 0});
      owners.emplace_back(nullptr, false);
      for (auto& c : children_) {
        if (c->control >= 0) {
          fds.push_back({c->control, POLLIN, 0});
          owners.emplace_back(c.get(), true);
        }
        if (c->err >= 0) {
          fds.push_back({c->err, POLLIN, 0});
          owners.emplace_back(c.get(), false);
        }
      }
    }
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n <= 0)
      continue;
    std::lock_guard<std::mutex> guard{mtx_};
    if (fds[0].revents) {
      char drain[64];
      while (read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    // stderr first, so an exit's reason comes with its last words.
    for (size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents && !owners[i].second && owners[i].first->err == fds[i].fd)
        read_stderr(*owners[i].first);
    for (size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents && owners[i].second && owners[i].first->control == fds[i].fd)
        read_control(*owners[i].first);
  }
}

void instance_supervisor::stop(unsigned grace_ms) {
  if (stopping_.exchange(true))
    return;
  if (wake_[1] >= 0)
    (void)!write(wake_[1], "x", 1);
  if (monitor_.joinable())
    monitor_.join();
  std::lock_guard<std::mutex> guard{mtx_};
  control_message stop_msg;
  stop_msg.type = control_message::kind::stop;
  for (auto& c : children_)
    if (c->running && c->control >= 0)
      write_control(c->control, stop_msg);
  const uint64_t deadline = now_ns() + uint64_t{grace_ms} * 1000000;
  for (auto& c : children_) {
    if (!c->running)
      continue;
    int status = 0;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    while (r == 0 && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      r = waitpid(c->pid, &status, WNOHANG);
    }
    if (r == 0) {
      spdlog::warn("instance {} did not stop within {} ms; killing it", c->endpoint, grace_ms);
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &status, 0);
    }
    c->running = false;
    if (c->control >= 0)
      close(c->control);
    if (c->err >= 0) {
      read_stderr(*c);
      if (c->err >= 0)
        close(c->err);
    }
    c->control = c->err = -1;
  }
  for (auto& c : children_)
    if (c->listen_fd >= 0) {
      close(c->listen_fd);
      c->listen_fd = -1;
    }
}

std::vector<instance_status> instance_supervisor::status() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<instance_status> out;
  for (const auto& c : children_)
    out.push_back({c->endpoint, c->function, c->pid, c->ready, c->restarts, c->crash_looping,
                   c->address});
  return out;
}

std::optional<expected<instance_role>> instance_role_from_env() {
  const char* v = std::getenv("SPRY_INSTANCE");
  if (!v)
    return std::nullopt;
  instance_role r;
  std::string s(v);
  size_t pos = 0;
  try {
    while (pos < s.size()) {
      const auto end = s.find(';', pos);
      const auto item = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? s.size() : end + 1;
      const auto eq = item.find('=');
      if (eq == std::string::npos)
        throw std::invalid_argument(item);
      const auto key = item.substr(0, eq), val = item.substr(eq + 1);
      if (key == "endpoint")
        r.endpoint = static_cast<endpoint_id>(std::stoul(val));
      else if (key == "function")
        r.function = val;
      else if (key == "control_fd")
        r.control_fd = std::stoi(val);
      else if (key == "listen_fd")
        r.listen_fd = std::stoi(val);
      else if (key == "parent")
        r.parent = static_cast<pid_t>(std::stol(val));
    }
  } catch (const std::exception&) {
    return expected<instance_role>(make_error("SPRY_INSTANCE is malformed: '" + s + "'"));
  }
  if (r.endpoint == no_endpoint || r.function.empty() || r.control_fd < 0)
    return expected<instance_role>(make_error("SPRY_INSTANCE lacks endpoint, function or control_fd: '" + s + "'"));
  return expected<instance_role>(r);
}

} // namespace spry::core
