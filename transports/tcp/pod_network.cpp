#include "transports/tcp/pod_network.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace spry::transports::tcp {

namespace {

constexpr unsigned max_slots = 64; // /30 per pod in a /24
constexpr const char* lock_path = "/run/lock/spry-pod-network.lock";

// -- running commands ----------------------------------------------------------------------------

struct command_result {
  int status = -1;
  std::string out; // stdout and stderr together
};

// Runs argv (searched in PATH, plus the sbin directories where iproute2 and iptables live) with
// `input` on stdin; in the calling thread's network namespace.
command_result run(const std::vector<std::string>& argv, const std::string& input = {}) {
  command_result r;
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return r;
  if (pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDERR_FILENO);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "PATH=", 5) != 0)
      env_store.emplace_back(*e);
  const char* path = std::getenv("PATH");
  env_store.push_back(std::string("PATH=") + (path ? path : "/usr/bin:/bin") +
                      ":/usr/sbin:/sbin");
  std::vector<char*> envp;
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  // posix_spawnp searches the PATH of the *caller*; give it the same extended PATH.
  std::string exe = argv[0];
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"})
    if (access((std::string(dir) + argv[0]).c_str(), X_OK) == 0) {
      exe = std::string(dir) + argv[0];
      break;
    }
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, cargv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    r.out = argv[0] + ": " + std::strerror(rc);
    return r;
  }
  // Inputs are a few KB at most: below the pipe buffer, so writing before reading cannot block.
  (void)!write(in[1], input.data(), input.size());
  ::close(in[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0)
    r.out.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

core::status_or_error run_ok(const std::vector<std::string>& argv, const std::string& input = {}) {
  auto r = run(argv, input);
  if (r.status == 0)
    return {};
  std::string cmd;
  for (const auto& a : argv)
    cmd += (cmd.empty() ? "" : " ") + a;
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == ' '))
    r.out.pop_back();
  return core::make_error("'" + cmd + "' failed: " + (r.out.empty() ? "exit " + std::to_string(r.status) : r.out));
}

// Runs f on a fresh thread inside the network namespace `fd` (the calling thread stays where
// it is): setns only ever moves one thread.
template <class F>
auto in_netns(int fd, F f) -> decltype(f()) {
  decltype(f()) result{};
  int err = 0;
  std::thread t([&] {
    if (setns(fd, CLONE_NEWNET) != 0)
      err = errno;
    else
      result = f();
  });
  t.join();
  if constexpr (std::is_same_v<decltype(f()), core::status_or_error>)
    if (err != 0)
      return core::make_error(std::string("cannot enter a network namespace: ") + std::strerror(err));
  return result;
}

bool write_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// Frames that reach a node's NIC from the wire carry complete checksums; a veth's sender leaves
// TCP checksums to "offload" (CHECKSUM_PARTIAL), which only the skb remembers. XDP redirects the
// raw frame without its skb, so the pod would get a wrong checksum and drop the segment. The
// client node therefore computes checksums itself, as a real client's NIC delivers them (in
// both modes, so off and on see the same client).
bool checksum_in_software(const char* dev) {
  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return false;
  ethtool_value v{ETHTOOL_STXCSUM, 0};
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&v);
  const bool ok = ioctl(s, SIOCETHTOOL, &ifr) == 0;
  ::close(s);
  return ok;
}

bool alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

bool has_capabilities() {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (syscall(SYS_capget, &h, d) != 0)
    return geteuid() == 0;
  auto has = [&](int cap) { return (d[cap / 32].effective >> (cap % 32)) & 1u; };
  return has(CAP_SYS_ADMIN) && has(CAP_NET_ADMIN);
}

// -- iptables ------------------------------------------------------------------------------------

// The CNI-like rule set of one run: what a pod-to-pod packet crosses in a cluster's root
// namespace (a policy chain in FORWARD with conntrack, filler rules the packet is compared
// against and does not match, kube-proxy-style service DNAT and a masquerade chain in nat).
// Filler rules use TEST-NET addresses (RFC 5737), which no packet of ours carries.
std::string rules_of(pid_t pid, const std::string& cidr) {
  const std::string p = std::to_string(pid), fwd = "SPRY-" + p + "-FWD",
                    svc = "SPRY-" + p + "-SVC", post = "SPRY-" + p + "-POST",
                    ifs = "sp" + p + "-+";
  std::ostringstream r;
  r << "*filter\n:" << fwd << " - [0:0]\n";
  r << "-A " << fwd << " -m conntrack --ctstate INVALID -j DROP\n";
  r << "-A " << fwd << " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
  for (int i = 1; i <= 16; ++i) // network policies of other tenants
    r << "-A " << fwd << " -s 192.0.2." << i << "/32 -p tcp -m tcp --dport 8080 -j DROP\n";
  for (int i = 1; i <= 8; ++i)
    r << "-A " << fwd << " -d 198.51.100." << i
      << "/32 -p tcp -m multiport --dports 80,443 -j REJECT --reject-with icmp-port-unreachable\n";
  r << "-A " << fwd << " -s " << cidr << " -j ACCEPT\n";
  r << "-A " << fwd << " -d " << cidr << " -j ACCEPT\n";
  r << "-I FORWARD 1 -i " << ifs << " -j " << fwd << "\n";
  r << "-I FORWARD 1 -o " << ifs << " -j " << fwd << "\n";
  r << "COMMIT\n*nat\n:" << svc << " - [0:0]\n:" << post << " - [0:0]\n";
  for (int i = 1; i <= 16; ++i) // cluster services that are not ours
    r << "-A " << svc << " -d 198.51.100." << (100 + i)
      << "/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.0.2." << (100 + i) << ":8080\n";
  r << "-A " << post << " -d 10.213.0.0/16 -j RETURN\n";
  r << "-A " << post << " -j MASQUERADE\n";
  r << "-I PREROUTING 1 -i " << ifs << " -j " << svc << "\n";
  r << "-I POSTROUTING 1 -s " << cidr << " -j " << post << "\n";
  r << "COMMIT\n";
  return r.str();
}

// From iptables-save output: the iptables-restore --noflush input that removes every chain
// SPRY-<pid>-* (and the rules jumping to it) of the pids `dead` accepts.
std::string removal_of(const std::string& saved, const std::function<bool(pid_t)>& dead,
                       std::vector<std::string>* what) {
  static const std::regex chain_re(R"(^:(SPRY-(\d+)-[A-Z]+) )");
  static const std::regex jump_re(R"(^-A (\S+) .*-j (SPRY-(\d+)-[A-Z]+)\s*$)");
  std::istringstream in(saved);
  std::string line, table, out;
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> per_table;
  std::smatch m;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '*') {
      table = line.substr(1);
      continue;
    }
    if (std::regex_search(line, m, chain_re) && dead(static_cast<pid_t>(std::stol(m[2]))))
      per_table[table].second.push_back(m[1]);
    else if (std::regex_search(line, m, jump_re) && dead(static_cast<pid_t>(std::stol(m[3]))) &&
             m[1].str().rfind("SPRY-", 0) != 0)
      per_table[table].first.push_back("-D" + line.substr(2));
  }
  for (auto& [t, v] : per_table) {
    out += "*" + t + "\n";
    for (auto& d : v.first)
      out += d + "\n";
    for (auto& c : v.second) {
      out += "-F " + c + "\n-X " + c + "\n";
      if (what)
        what->push_back("iptables " + t + " chain " + c);
    }
    out += "COMMIT\n";
  }
  return out;
}

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (auto* e = readdir(d))
      out.insert(e->d_name);
    closedir(d);
  }
  return out;
}

} // namespace

// -- construction ----------------------------------------------------------------------------------

pod_network::pod_network(const pod_network_options& opts)
  : opts_(opts), pid_(getpid()), slots_(max_slots, false) {}

core::expected<std::shared_ptr<pod_network>> pod_network::create(const pod_network_options& opts) {
  if (!has_capabilities())
    return core::make_error("tcp.namespaces: creating network namespaces, veths and iptables rules "
                            "needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); run spry as root or set "
                            "tcp.namespaces: false");
  for (const char* tool : {"ip", "iptables-restore", "iptables-save"})
    if (run({tool, "-V"}).status != 0)
      return core::make_error(std::string("tcp.namespaces: '") + tool + "' is missing (Debian "
                              "packages iproute2 and iptables; scripts/setup installs them)");
  for (const auto& line : sweep())
    spdlog::info("tcp.namespaces: removed leftover of a dead run: {}", line);
  std::shared_ptr<pod_network> net(new pod_network(opts));
  if (auto ok = net->start(); !ok)
    return ok.err(); // the destructor removes whatever start() created
  return net;
}

core::status_or_error pod_network::start() {
  root_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (root_fd_ < 0)
    return core::make_error(std::string("tcp.namespaces: cannot open this namespace: ") + strerror(errno));
  // Choose a free /24 while holding a machine-wide lock, until our addresses exist.
  const int lock = ::open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock >= 0)
    flock(lock, LOCK_EX);
  auto unlock = [lock] {
    if (lock >= 0)
      ::close(lock);
  };
  std::set<int> used;
  {
    const auto addrs = run({"ip", "-4", "-o", "addr", "show"});
    static const std::regex re(R"(10\.213\.(\d+)\.)");
    for (std::sregex_iterator i(addrs.out.begin(), addrs.out.end(), re), e; i != e; ++i)
      used.insert(std::stoi((*i)[1]));
  }
  for (int i = 0; i < 256 && slice_ < 0; ++i)
    if (!used.count((pid_ + i) % 256))
      slice_ = (pid_ + i) % 256;
  if (slice_ < 0) {
    unlock();
    return core::make_error("tcp.namespaces: every /24 of 10.213.0.0/16 is in use");
  }
  auto ok = add_pod(gateway_, "spry-" + std::to_string(pid_) + "-gateway", 0);
  if (ok)
    ok = add_pod(client_, "spry-" + std::to_string(pid_) + "-client", 1);
  unlock();
  if (ok && !in_netns(client_.netns_fd, [] { return checksum_in_software("eth0"); }))
    ok = core::make_error("tcp.namespaces: cannot turn off checksum offload in the client node");
  if (!ok)
    return ok;
  const std::string cidr = "10.213." + std::to_string(slice_) + ".0/24";
  auto rules = in_netns(root_fd_, [&] {
    return run_ok({"iptables-restore", "-w", "--noflush"}, rules_of(pid_, cidr));
  });
  if (!rules)
    return core::make_error("tcp.namespaces: installing the iptables rules: " + rules.err().message);
  rules_ = true;
  if (opts_.redirect) {
    auto progs = forward_programs::load();
    if (!progs)
      return progs.err();
    programs_ = std::move(*progs);
    auto attached = in_netns(root_fd_, [&]() -> core::status_or_error {
      if (auto added = programs_->add_port(gateway_.host_ifindex, forward_programs::port_role::exposed_pod); !added)
        return added;
      if (auto added = programs_->add_port(client_.host_ifindex, forward_programs::port_role::nic); !added)
        return added;
      if (auto a = programs_->attach_tc(gateway_.host_ifindex); !a)
        return a;
      return programs_->attach_xdp(client_.host_ifindex);
    });
    if (!attached)
      return attached;
    // The gateway pod receives the NIC's XDP-redirected frames (see spry_xdp_pass).
    attached = in_netns(gateway_.netns_fd, [&]() -> core::status_or_error {
      return programs_->attach_xdp_pass(static_cast<int>(if_nametoindex("eth0")));
    });
    if (!attached)
      return attached;
  }
  spdlog::info("tcp.namespaces: gateway pod {} at {}, client node {} at {}, iptables chains "
               "SPRY-{}-*, xdp_tc_redirect {}",
               gateway_.ns, gateway_.pod_ip, client_.ns, client_.pod_ip, pid_,
               programs_ ? "on" : "off");
  return {};
}

pod_network::~pod_network() {
  for (auto& [ep, p] : pods_)
    remove_pod(p);
  pods_.clear();
  remove_pod(client_);
  remove_pod(gateway_);
  if (rules_ && root_fd_ >= 0)
    in_netns(root_fd_, [&] {
      const auto saved = run({"iptables-save"});
      const pid_t me = pid_;
      const auto text = removal_of(saved.out, [me](pid_t p) { return p == me; }, nullptr);
      if (!text.empty())
        if (auto ok = run_ok({"iptables-restore", "-w", "--noflush"}, text); !ok)
          spdlog::warn("tcp.namespaces: removing the iptables rules: {}", ok.err().message);
      return 0;
    });
  programs_.reset(); // after the links: nothing refers to the programs any more
  if (root_fd_ >= 0)
    ::close(root_fd_);
}

std::string pod_network::ip_of(unsigned slot, unsigned host) const {
  return "10.213." + std::to_string(slice_) + "." + std::to_string(slot * 4 + host);
}

core::status_or_error pod_network::add_pod(pod_rec& p, const std::string& ns_name, unsigned slot) {
  p.slot = slot;
  p.ns = ns_name;
  p.host_veth = "sp" + std::to_string(pid_) + "-" + std::to_string(slot);
  p.host_ip = ip_of(slot, 1);
  p.pod_ip = ip_of(slot, 2);
  slots_[slot] = true;
  p.created = true; // from here on remove_pod() cleans up whatever part exists
  auto ok = in_netns(root_fd_, [&]() -> core::status_or_error {
    if (auto r = run_ok({"ip", "netns", "add", p.ns}); !r)
      return r;
    // One batch per namespace instead of a process per command.
    const std::string root_batch =
      "link add " + p.host_veth + " type veth peer name eth0 netns " + p.ns + "\n" +
      "addr add " + p.host_ip + "/30 dev " + p.host_veth + "\n" +
      "link set " + p.host_veth + " up\n";
    if (auto r = run_ok({"ip", "-batch", "-"}, root_batch); !r)
      return r;
    // A router between pods: forwarding on our own veths only, never machine-wide.
    if (!write_file("/proc/sys/net/ipv4/conf/" + p.host_veth + "/forwarding", "1"))
      return core::make_error("cannot enable forwarding on " + p.host_veth + ": " + strerror(errno));
    p.host_ifindex = static_cast<int>(if_nametoindex(p.host_veth.c_str()));
    const std::string pod_batch = "addr add " + p.pod_ip + "/30 dev eth0\n"
                                  "link set lo up\n"
                                  "link set eth0 up\n"
                                  "route add default via " + p.host_ip + "\n";
    return run_ok({"ip", "-n", p.ns, "-batch", "-"}, pod_batch);
  });
  if (!ok)
    return core::make_error("tcp.namespaces: creating pod " + p.ns + ": " + ok.err().message);
  p.netns_fd = ::open(("/run/netns/" + p.ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (p.netns_fd < 0)
    return core::make_error("tcp.namespaces: cannot open /run/netns/" + p.ns + ": " + strerror(errno));
  return {};
}

void pod_network::remove_pod(pod_rec& p) noexcept {
  if (!p.created)
    return;
  if (programs_ && p.host_ifindex > 0)
    programs_->remove_port(p.host_ifindex);
  in_netns(root_fd_, [&] {
    // Deleting the host side deletes the pair, the TC hook and any XDP program with it: the
    // namespace of the gateway pod outlives `ip netns del` while our threads are inside it,
    // so the link must go explicitly.
    if (p.host_ifindex > 0)
      run({"ip", "link", "del", p.host_veth});
    run({"ip", "netns", "del", p.ns});
    return 0;
  });
  if (p.netns_fd >= 0)
    ::close(p.netns_fd);
  if (p.slot < slots_.size())
    slots_[p.slot] = false;
  p = pod_rec{};
}

core::status_or_error pod_network::enter_gateway_pod() {
  if (setns(gateway_.netns_fd, CLONE_NEWNET) != 0)
    return core::make_error("tcp.namespaces: cannot enter the gateway pod " + gateway_.ns + ": " +
                            strerror(errno));
  return {};
}

forward_counters pod_network::counters() const {
  return programs_ ? programs_->counters() : forward_counters{};
}

// -- instance pods -----------------------------------------------------------------------------

core::expected<core::instance_network::pod> pod_network::open(core::endpoint_id endpoint) {
  auto it = pods_.find(endpoint);
  if (it == pods_.end()) {
    unsigned slot = 2;
    while (slot < max_slots && slots_[slot])
      ++slot;
    if (slot == max_slots)
      return core::make_error("tcp.namespaces: no address left (" + std::to_string(max_slots - 2) +
                              " instance pods per run)");
    pod_rec p;
    auto ok = add_pod(p, "spry-" + std::to_string(pid_) + "-e" + std::to_string(endpoint), slot);
    if (ok && programs_) // in the root namespace: the devmap resolves ifindexes in the caller's
      ok = in_netns(root_fd_, [&]() -> core::status_or_error {
        if (auto added = programs_->add_port(p.host_ifindex, forward_programs::port_role::pod); !added)
          return added;
        return programs_->attach_tc(p.host_ifindex);
      });
    if (!ok) {
      remove_pod(p);
      return ok.err();
    }
    it = pods_.emplace(endpoint, std::move(p)).first;
  }
  const pod_rec& p = it->second;
  // The listening socket is created inside the pod, so it belongs to the pod's namespace for
  // good; the instance process that inherits it enters the same namespace before exec.
  int err = 0;
  const int fd = in_netns(p.netns_fd, [&] {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
      return err = errno, -1;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, p.pod_ip.c_str(), &a.sin_addr);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, SOMAXCONN) != 0) {
      err = errno;
      ::close(s);
      return -1;
    }
    return s;
  });
  if (fd < 0)
    return core::make_error("tcp.namespaces: cannot listen in pod " + p.ns + ": " + strerror(err));
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return pod{p.netns_fd, fd, p.pod_ip + ":" + std::to_string(ntohs(a.sin_port))};
}

void pod_network::close(core::endpoint_id endpoint) noexcept {
  auto it = pods_.find(endpoint);
  if (it == pods_.end())
    return;
  remove_pod(it->second);
  pods_.erase(it);
}

// -- leftovers -----------------------------------------------------------------------------------

std::vector<std::string> pod_network::sweep() {
  std::vector<std::string> removed;
  auto dead = [](pid_t pid) { return pid > 0 && pid != getpid() && !alive(pid); };
  static const std::regex ns_re(R"(^spry-(\d+)-(gateway|client|e\d+)$)");
  static const std::regex link_re(R"(^\d+: (sp(\d+)-\d+)[@:])");
  std::smatch m;
  for (const auto& name : names_in("/run/netns"))
    if (std::regex_match(name, m, ns_re) && dead(static_cast<pid_t>(std::stol(m[1])))) {
      run({"ip", "netns", "del", name});
      removed.push_back("namespace " + name);
    }
  const auto links = run({"ip", "-o", "link", "show"});
  std::istringstream in(links.out);
  std::string line;
  while (std::getline(in, line))
    if (std::regex_search(line, m, link_re) && dead(static_cast<pid_t>(std::stol(m[2])))) {
      run({"ip", "link", "del", m[1]});
      removed.push_back("link " + m[1].str());
    }
  const auto saved = run({"iptables-save"});
  if (saved.status == 0) {
    const auto text = removal_of(saved.out, dead, &removed);
    if (!text.empty())
      run({"iptables-restore", "-w", "--noflush"}, text);
  }
  return removed;
}

} // namespace spry::transports::tcp
