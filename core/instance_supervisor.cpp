#include "core/instance_supervisor.hpp"

#include "core/clock.hpp"
#include "core/instance_child.hpp"
#include "core/control_channel.hpp"
#include "core/role_env.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>


namespace spry::core {

namespace {

constexpr size_t stderr_tail_lines = 20;
// How long nothing must have started or become ready before a spare is forked (see monitor()):
// longer than a cold start and its first request take, short next to a scale-to-zero cycle.
constexpr uint64_t spare_refill_quiet_ms = 100;

std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

} // namespace

instance_supervisor::instance_supervisor(const app_spec& app, launch_spec launch,
                                         std::string gateway_address,
                                         bool listen_socket_per_endpoint,
                                         std::optional<sidecar_kind> sidecar,
                                         std::vector<int> pool_fds, hooks h,
                                         std::string transport_parameters, int transport_fd)
  : app_(app),
    network_(launch.network),
    launcher_(launch_program{launch.executable, launch.argv, std::move(launch.forker)}),
    gateway_address_(std::move(gateway_address)),
    own_listeners_(listen_socket_per_endpoint),
    sidecars_(sidecar && sidecar->role_env && listen_socket_per_endpoint),
    sidecar_(sidecar ? std::move(*sidecar) : sidecar_kind{}),
    hooks_(std::move(h)),
    transport_parameters_(std::move(transport_parameters)),
    transport_fd_(transport_fd),
    coming_(new std::atomic<uint32_t>[app.functions.size()]()) {
  if (!pool_fds.empty()) {
    board_fd_ = pool_fds.front();
    pool_fds_.assign(pool_fds.begin() + 1, pool_fds.end());
  }
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
      auto c = make_child(p);
      if (!c)
        return c.err();
      children_.push_back(std::move(*c));
    }
    if (own_listeners_ && hooks_.front_end) {
      std::vector<std::pair<endpoint_id, std::string>> sockets;
      for (const auto& c : children_)
        sockets.emplace_back(c->endpoint, c->address);
      auto fe = hooks_.front_end(app_, sockets);
      if (!fe)
        return fe.err();
      front_end_ = std::move(*fe);
      if (front_end_)
        for (auto& c : children_)
          c->advertised = front_end_->advertised(c->endpoint, c->address);
    }
    std::vector<child*> all;
    for (auto& c : children_)
      all.push_back(c.get());
    for (auto& ok : spawn(all))
      if (!ok)
        return ok;
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
  if (failure.empty()) {
    // Ready is not enough for direct routing: every instance must also use the final topology
    // (where its next hops are) before the gateway lets traffic in.
    const bool applied = cv_.wait_for(lock, timeout, [&] {
      for (const auto& c : children_)
        if (c->applied < topology_version_)
          return false;
      return true;
    });
    if (!applied)
      failure = "instances did not confirm the final topology within " +
                std::to_string(app_.instances.ready_timeout_ms) + " ms";
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

status_or_error instance_supervisor::add(const planned& p) {
  return add(std::vector<planned>{p}).front();
}

std::vector<status_or_error> instance_supervisor::add(const std::vector<planned>& plan) {
  std::vector<status_or_error> out(plan.size());
  if (front_end_) {
    for (auto& o : out)
      o = make_error("instances cannot be added while the transport's front end sits between "
                     "endpoints: it is configured once, at start");
    return out;
  }
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::unique_ptr<child>> fresh(plan.size());
  std::vector<child*> batch;
  for (size_t k = 0; k < plan.size(); ++k) {
    const planned& p = plan[k];
    if (stopping_.load()) {
      out[k] = make_error("the node is stopping");
      continue;
    }
    bool in_use = false;
    for (const auto& c : children_)
      in_use = in_use || c->endpoint == p.endpoint;
    for (size_t j = 0; j < k; ++j)
      in_use = in_use || (fresh[j] && plan[j].endpoint == p.endpoint);
    if (in_use) {
      out[k] = make_error("endpoint " + std::to_string(p.endpoint) + " is in use");
      continue;
    }
    auto c = make_child(p);
    if (!c) {
      out[k] = c.err();
      continue;
    }
    fresh[k] = std::move(*c);
    batch.push_back(fresh[k].get());
  }
  const auto spawned = spawn(batch);
  for (size_t k = 0, b = 0; k < plan.size(); ++k) {
    if (!fresh[k])
      continue;
    if (auto ok = spawned[b++]; !ok) {
      for (int fd : {fresh[k]->listen_fd, fresh[k]->private_fd})
        if (fd >= 0)
          close(fd);
      if (network_) {
        netns_.erase(plan[k].endpoint);
        network_->close(plan[k].endpoint);
      }
      out[k] = ok;
      continue;
    }
    children_.push_back(std::move(fresh[k]));
  }
  count_coming_locked();
  if (wake_[1] >= 0)
    (void)!write(wake_[1], "x", 1); // poll their control sockets from now on
  return out;
}

void instance_supervisor::retire(endpoint_id endpoint) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& c : children_)
    if (c->endpoint == endpoint && !c->retiring) {
      c->retiring = true;
      publish_locked();
      c->retired_version = topology_version_;
    }
}

bool instance_supervisor::retired_everywhere(endpoint_id endpoint) const {
  std::lock_guard<std::mutex> guard{mtx_};
  uint64_t version = 0;
  for (const auto& c : children_)
    if (c->endpoint == endpoint)
      version = c->retired_version;
  if (version == 0)
    return true; // not ours (any more)
  for (const auto& c : children_)
    if (c->endpoint != endpoint && c->running && c->ready && c->applied < version)
      return false;
  return true;
}

void instance_supervisor::remove(endpoint_id endpoint) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& c : children_) {
    if (c->endpoint != endpoint || c->removing)
      continue;
    c->retiring = c->removing = true;
    c->restart_at_ns = 0;
    c->remove_deadline_ns = now_ns() + 2000000000ull; // then SIGKILL
    if (c->running && c->main.control >= 0) {
      control_message stop_msg;
      stop_msg.type = control_message::kind::stop;
      write_control(c->main.control, stop_msg);
    } else {
      c->gone = true;
    }
  }
  count_coming_locked();
  if (wake_[1] >= 0)
    (void)!write(wake_[1], "x", 1);
}

int instance_supervisor::netns_of(endpoint_id e) const {
  auto i = netns_.find(e);
  return i == netns_.end() ? -1 : i->second;
}

bool instance_supervisor::in_chain(function_id f, size_t chain) const {
  const auto& ch = app_.chains[chain];
  const auto& name = app_.functions[f].name;
  if (ch.head == name || std::find(ch.functions.begin(), ch.functions.end(), name) != ch.functions.end())
    return true;
  for (const auto& r : ch.routes)
    if (r.from == name || r.to == name)
      return true;
  return false;
}

std::string instance_supervisor::label_of(const child& c) const {
  return app_.functions[c.function].name + "#" + std::to_string(c.endpoint);
}

std::string instance_supervisor::tail_of(const child& c) const {
  std::string out;
  for (const proc* p : {&c.main, &c.side}) {
    for (const auto& l : p->tail)
      out += "\n    " + l;
    if (!p->partial.empty())
      out += "\n    " + p->partial;
  }
  return out.empty() ? std::string(" (it wrote nothing to stderr)") : "; the end of its stderr:" + out;
}

void instance_supervisor::read_stderr(proc& p, const std::string& label) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(p.err, buf, sizeof buf);
    if (n <= 0) {
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(p.err);
        p.err = -1;
      }
      return;
    }
    p.partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = p.partial.find('\n')) != std::string::npos) {
      std::string line = p.partial.substr(0, nl);
      p.partial.erase(0, nl + 1);
      std::fprintf(stderr, "[%s] %s\n", label.c_str(), line.c_str());
      p.tail.push_back(std::move(line));
      if (p.tail.size() > stderr_tail_lines)
        p.tail.pop_front();
    }
    if (p.partial.size() > 4096)
      p.partial.erase(0, p.partial.size() - 4096);
  }
}

void instance_supervisor::read_control(child& c) {
  std::vector<int> fds;
  const bool open = read_control_socket(c.main.control, c.main.reader, fds);
  auto close_all = [&] {
    for (int fd : fds)
      close(fd);
    fds.clear();
  };
  if (!open) {
    close_all();
    on_exit(c, "");
    return;
  }
  while (auto m = c.main.reader.next()) {
    if (!*m) {
      spdlog::error("instance {}: {}; stopping it", c.endpoint, m->err().message);
      kill(c.main.pid, SIGKILL);
      close_all();
      return;
    }
    const control_message& msg = **m;
    if (msg.type == control_message::kind::ready && msg.endpoint == c.endpoint) {
      if (!fds.empty() && hooks_.on_handover) {
        // Registered before the topology names the instance: nobody can send to it earlier.
        if (auto ok = hooks_.on_handover(c.endpoint, fds.front()); !ok) {
          spdlog::error("instance {}: {}; stopping it", c.endpoint, ok.err().message);
          close_all();
          kill(c.main.pid, SIGKILL);
          return;
        }
      }
      close_all();
      c.ready = true;
      start_activity_ns_ = now_ns();
      if (!own_listeners_)
        c.address = msg.address;
      spdlog::debug("instance {} of '{}' is ready{}{}", c.endpoint,
                    app_.functions[c.function].name, c.address.empty() ? "" : " at ", c.address);
      // Published once the monitor has read every socket of this round (publish_readied_locked):
      // a chain warming up has its instances ready together, and each publish goes to every
      // instance, so one per instance would cost n publishes and n wake-ups of each instance.
      c.ready_ns = now_ns();
      readied_.push_back(c.endpoint);
    } else if (msg.type == control_message::kind::applied) {
      c.applied = std::max(c.applied, msg.version);
      cv_.notify_all();
    }
  }
}

void instance_supervisor::on_exit(child& c, const std::string& why_override) {
  if (!c.running)
    return;
  // A control socket closed: that process is exiting or gone. The instance and its sidecar
  // live and die together: make sure both are gone, then reap them.
  const std::string label = label_of(c);
  auto reap = [&](proc& p, bool first) {
    int status = 0;
    if (p.pid <= 0)
      return std::string();
    pid_t r = waitpid(p.pid, &status, WNOHANG);
    for (int i = 0; first && r == 0 && i < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      r = waitpid(p.pid, &status, WNOHANG);
    }
    if (r == 0) {
      kill(p.pid, SIGKILL);
      waitpid(p.pid, &status, 0);
    }
    if (p.err >= 0) {
      read_stderr(p, label);
      if (p.err >= 0)
        close(p.err);
    }
    if (p.control >= 0)
      close(p.control);
    p.err = p.control = -1;
    p.pid = 0;
    return describe_status(status);
  };
  auto exited = [](pid_t pid) {
    siginfo_t info{};
    return pid > 0 && waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
  };
  const bool sidecar_died = why_override.empty() && exited(c.side.pid) && !exited(c.main.pid);
  std::string reason = reap(c.main, true);
  const std::string side_reason = reap(c.side, false);
  if (sidecar_died)
    reason = "lost its " + sidecar_.name + " sidecar, which " + side_reason;
  c.running = false;
  const bool was_ready = c.ready;
  c.ready = false;
  c.exit_reason = why_override.empty() ? reason : why_override;
  const std::string fname = app_.functions[c.function].name;
  const std::string why = "instance " + std::to_string(c.endpoint) + " of function '" + fname +
                          "' " + c.exit_reason;
  cv_.notify_all();
  if (stopping_.load())
    return;
  if (c.removing) { // scaled down: expected, never restarted
    spdlog::debug("{} stopped after scale-down ({})", label, c.exit_reason);
    c.gone = true;
    return;
  }
  if (!serving_)
    return; // start() reports it
  spdlog::warn("{}; restarting it", why);
  if (was_ready)
    publish_locked();
  if (hooks_.on_down)
    hooks_.on_down(c.endpoint, why);
  const auto next = c.backoff.on_exit(now_ns());
  if (next.started_looping)
    spdlog::error("function '{}' instance {} is crash-looping ({} exits within {} ms); "
                  "restarting it at most every {} ms{}",
                  fname, c.endpoint, next.exits_in_window, app_.instances.crash_loop_window_ms,
                  app_.instances.restart_backoff_max_ms, tail_of(c));
  c.restart_at_ns = next.restart_at_ns;
  count_coming_locked(); // crash-looping now, or not any more
}

uint32_t instance_supervisor::coming(function_id f) const noexcept {
  return f < app_.functions.size() ? coming_[f].load(std::memory_order_acquire) : 0;
}

void instance_supervisor::count_coming_locked(bool only_raise) {
  std::vector<uint32_t> n(app_.functions.size(), 0);
  for (const auto& c : children_)
    if (!c->ready && !c->retiring && !c->removing && !c->gone && !c->backoff.crash_looping() &&
        c->function < n.size())
      n[c->function]++;
  for (size_t f = 0; f < n.size(); ++f)
    if (!only_raise || n[f] > coming_[f].load(std::memory_order_relaxed))
      coming_[f].store(n[f], std::memory_order_release);
}

std::vector<std::pair<endpoint_id, uint64_t>> instance_supervisor::publish_readied_locked() {
  std::vector<std::pair<endpoint_id, uint64_t>> out;
  if (readied_.empty())
    return out;
  publish_locked();
  for (const endpoint_id e : readied_)
    for (const auto& c : children_)
      if (c->endpoint == e && c->ready)
        out.emplace_back(e, c->ready_ns - c->started_ns);
  readied_.clear();
  cv_.notify_all();
  return out;
}

void instance_supervisor::publish_locked() {
  // A count rises before the directory goes out and falls after it: a sender that finds no
  // ready instance of a function must see that one is coming back (the gateway holds the
  // request instead of failing it), whether the directory it read is the one without the
  // instance that just died or the one before the instance that just became ready.
  count_coming_locked(/*only_raise=*/true);
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
    if (!c->retiring) // a retiring instance still gets its in-flight replies (peer), no new work
      dir.instances[c->function].push_back(c->endpoint);
    peers.emplace_back(c->endpoint, c->advertised.empty() ? c->address : c->advertised);
  }
  control_message pm;
  pm.type = control_message::kind::peers;
  pm.peers = peers;
  control_message dm;
  dm.type = control_message::kind::directory;
  dm.directory = dir.instances;
  dm.version = ++topology_version_;
  // Encoded once for all, and both in one write: the peers the directory names arrive with it.
  const std::string frames = encode_control(pm) + encode_control(dm);
  for (const auto& c : children_)
    if (c->running && c->main.control >= 0)
      write_control_frames(c->main.control, frames);
  if (hooks_.on_topology)
    hooks_.on_topology(dir, peers);
  count_coming_locked(); // the instances that became ready are in the directory now
}

void instance_supervisor::monitor() {
  std::vector<pollfd> fds;
  std::vector<std::pair<child*, proc*>> owners;
  while (!stopping_.load()) {
    int timeout_ms = 1000;
    std::shared_ptr<instance_template> refill; // its spares, after the lock is released
    {
      std::lock_guard<std::mutex> guard{mtx_};
      const uint64_t now = now_ns();
      const size_t before = children_.size();
      for (auto it = children_.begin(); it != children_.end();) {
        child& c = **it;
        if (!c.gone) {
          ++it;
          continue;
        }
        for (int* fd : {&c.listen_fd, &c.private_fd})
          if (*fd >= 0) {
            close(*fd);
            *fd = -1;
          }
        if (network_) { // its processes are reaped and its socket closed: the pod goes
          netns_.erase(c.endpoint);
          network_->close(c.endpoint);
        }
        it = children_.erase(it);
      }
      if (children_.size() != before)
        publish_locked(); // peers: forget the removed endpoints
      for (auto& c : children_) {
        if (c->removing && c->running && now >= c->remove_deadline_ns) {
          spdlog::warn("{} did not stop within 2 s of scale-down; killing it", label_of(*c));
          kill(c->main.pid, SIGKILL);
          if (c->side.pid > 0)
            kill(c->side.pid, SIGKILL);
          c->remove_deadline_ns = UINT64_MAX;
        }
        if (c->removing && c->running && c->remove_deadline_ns != UINT64_MAX)
          timeout_ms = std::min<int>(timeout_ms, 100);
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
          kill(c->main.pid, SIGKILL);
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
      // Spares: a fork takes CPU that starting instances (a chain warming up on two cores) and
      // the first request right after them need more; so only once nothing started or became
      // ready for a while. Every pass also reaps a spare that died while waiting (the 1 s
      // timeout at the latest), which the refill then replaces.
      if (const auto& forker = launcher_.forker(); forker && !spares_failed_ && serving_) {
        bool starting = false;
        for (const auto& c : children_)
          starting = starting || (c->running && !c->ready);
        const uint64_t quiet_at = start_activity_ns_ + spare_refill_quiet_ms * 1000000;
        if (!starting && now >= quiet_at)
          refill = forker;
        else if (!starting)
          timeout_ms = std::min<int>(timeout_ms, static_cast<int>((quiet_at - now) / 1000000 + 1));
      }
      fds.clear();
      owners.clear();
      fds.push_back({wake_[0], POLLIN, 0});
      owners.emplace_back(nullptr, nullptr);
      for (auto& c : children_)
        for (proc* p : {&c->main, &c->side}) {
          if (p->control >= 0) {
            fds.push_back({p->control, POLLIN, 0});
            owners.emplace_back(c.get(), p);
          }
          if (p->err >= 0) {
            fds.push_back({p->err, POLLIN, 0});
            owners.emplace_back(c.get(), p);
          }
        }
    }
    if (refill) {
      // One spare per pass, without the supervisor's lock: a scale-up meanwhile waits for one
      // template round at most, not for the whole set.
      if (!refill->refill_spares())
        spares_failed_ = true; // the template is gone: the next start finds out and execs
      else if (refill->spares_missing())
        timeout_ms = 0;
    }
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n <= 0)
      continue;
    std::vector<std::pair<endpoint_id, uint64_t>> readied;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (fds[0].revents) {
        char drain[64];
        while (read(wake_[0], drain, sizeof drain) > 0) {
        }
      }
      // stderr first, so an exit's reason comes with its last words.
      for (size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents && owners[i].second->err == fds[i].fd)
          read_stderr(*owners[i].second, label_of(*owners[i].first));
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents)
          continue;
        child& c = *owners[i].first;
        proc& p = *owners[i].second;
        if (&p == &c.main && p.control == fds[i].fd)
          read_control(c);
        else if (&p == &c.side && p.control == fds[i].fd) {
          char drain[256];
          const ssize_t n = read(p.control, drain, sizeof drain);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            on_exit(c, "");
        }
      }
      readied = publish_readied_locked();
    }
    // Outside the lock: the gateway sends the requests held for these instances from here,
    // which may ask the supervisor again (coming(), when a send fails).
    if (hooks_.on_ready)
      for (const auto& [e, ns] : readied)
        hooks_.on_ready(e, ns);
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
  if (const auto& forker = launcher_.forker())
    forker->drop_spares(); // no instance starts any more: the spares go first
  control_message stop_msg;
  stop_msg.type = control_message::kind::stop;
  for (auto& c : children_)
    if (c->running && c->main.control >= 0)
      write_control(c->main.control, stop_msg);
  const uint64_t deadline = now_ns() + uint64_t{grace_ms} * 1000000;
  for (auto& c : children_) {
    if (!c->running)
      continue;
    for (proc* p : {&c->main, &c->side}) {
      if (p->pid <= 0)
        continue;
      if (p == &c->side && p->control >= 0) { // EOF tells the sidecar to go
        close(p->control);
        p->control = -1;
      }
      int status = 0;
      pid_t r = waitpid(p->pid, &status, WNOHANG);
      while (r == 0 && now_ns() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        r = waitpid(p->pid, &status, WNOHANG);
      }
      if (r == 0) {
        spdlog::warn("{} did not stop within {} ms; killing it", label_of(*c), grace_ms);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
      }
      if (p->control >= 0)
        close(p->control);
      if (p->err >= 0) {
        read_stderr(*p, label_of(*c));
        if (p->err >= 0)
          close(p->err);
      }
      p->control = p->err = -1;
      p->pid = 0;
    }
    c->running = false;
  }
  for (auto& c : children_)
    for (int* fd : {&c->listen_fd, &c->private_fd})
      if (*fd >= 0) {
        close(*fd);
        *fd = -1;
      }
  if (network_) {
    for (auto& c : children_)
      network_->close(c->endpoint);
    netns_.clear();
  }
  front_end_.reset(); // stops the front-end process
}

std::vector<instance_status> instance_supervisor::status() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<instance_status> out;
  for (const auto& c : children_)
    out.push_back({c->endpoint, c->function, c->main.pid, c->ready, c->restarts,
                   c->backoff.crash_looping(), c->advertised.empty() ? c->address : c->advertised});
  return out;
}

} // namespace spry::core
