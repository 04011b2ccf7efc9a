#include "transports/shm-dpdk/eal.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <pthread.h>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace spry::transports::dpdk {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool address_sanitizer = true;
#else
constexpr bool address_sanitizer = false;
#endif
#else
constexpr bool address_sanitizer = false;
#endif

std::mutex acquire_mtx;
eal* the_eal = nullptr;               // never deleted: it lives until the process exits
std::string init_failure;             // rte_eal_init failed once: it is not retried
std::vector<std::string> argv_store;  // the EAL keeps pointers into its argv

constexpr uint64_t page_mb = 2;

// hugetlbfs mount points for 2 MB pages (the default size unless the mount says otherwise).
std::vector<std::string> hugetlbfs_mounts() {
  std::vector<std::string> out;
  std::ifstream mounts("/proc/mounts");
  std::string dev, dir, type, options;
  while (mounts >> dev >> dir >> type >> options) {
    std::string rest;
    std::getline(mounts, rest);
    if (type != "hugetlbfs")
      continue;
    const auto ps = options.find("pagesize=");
    if (ps != std::string::npos && options.compare(ps + 9, 2, "2M") != 0)
      continue; // a 1 GB mount: not the pages we count
    out.push_back(dir);
  }
  return out;
}

long free_2mb_pages() {
  std::ifstream f("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
  long n = -1;
  f >> n;
  return f ? n : -1;
}

std::string base_runtime_dir() {
  // As the EAL computes it (eal_create_runtime_dir): root uses /var/run, others
  // $XDG_RUNTIME_DIR or /tmp.
  std::string dir = "/var/run";
  if (getuid() != 0) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    dir = xdg && *xdg ? xdg : "/tmp";
  }
  return dir + "/dpdk";
}

// The pid holding the EAL's config lock for `prefix` (its primary), 0 if none, -1 if there is
// no config file at all.
pid_t config_lock_holder(const std::string& prefix) {
  const std::string path = base_runtime_dir() + "/" + prefix + "/config";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct flock lk{};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = 0;
  lk.l_len = 0; // the whole file: any lock the primary holds on it conflicts
  pid_t holder = 0;
  if (fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK)
    holder = lk.l_pid;
  close(fd);
  return holder;
}

bool process_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

// Removes <mount>/<prefix>map_* in every hugetlbfs mount; returns how many files went.
unsigned remove_hugepage_files(const std::string& prefix) {
  unsigned n = 0;
  const std::string stem = prefix + "map_";
  for (const auto& mount : hugetlbfs_mounts()) {
    std::error_code ec;
    for (fs::directory_iterator it(mount, ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      if (name.compare(0, stem.size(), stem) == 0 && fs::remove(it->path(), ec))
        ++n;
    }
  }
  return n;
}

bool parse_cpu_list(const std::string& list, cpu_set_t& out) {
  CPU_ZERO(&out);
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto dash = item.find('-');
    const unsigned a = static_cast<unsigned>(std::stoul(item.substr(0, dash)));
    const unsigned b =
      dash == std::string::npos ? a : static_cast<unsigned>(std::stoul(item.substr(dash + 1)));
    for (unsigned c = a; c <= b && c < CPU_SETSIZE; ++c)
      CPU_SET(c, &out);
  }
  return CPU_COUNT(&out) > 0;
}

std::string cpu_list_of(const cpu_set_t& set) {
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set))
      continue;
    int e = c;
    while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set))
      ++e;
    out += (out.empty() ? "" : ",") + std::to_string(c) + (e > c ? "-" + std::to_string(e) : "");
    c = e;
  }
  return out;
}

} // namespace

std::string default_file_prefix(const std::string& app_name) {
  std::string app;
  for (unsigned char c : app_name)
    if (std::isalnum(c) || c == '_')
      app += static_cast<char>(c);
  if (app.size() > 16)
    app.resize(16);
  return "spry-" + (app.empty() ? std::string("app") : app) + "-" + std::to_string(getpid());
}

std::string eal::runtime_dir(const std::string& file_prefix) {
  return base_runtime_dir() + "/" + file_prefix;
}

unsigned sweep_dead_runs() {
  // Prefixes this code generates end in the primary's pid; a run whose pid is gone and whose
  // config lock is free cannot be using its files any more.
  auto dead = [](const std::string& prefix) {
    if (prefix.compare(0, 5, "spry-") != 0)
      return false;
    const auto dash = prefix.rfind('-');
    const std::string pid = prefix.substr(dash + 1);
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), [](unsigned char c) { return std::isdigit(c); }))
      return false;
    return !process_alive(static_cast<pid_t>(std::stol(pid))) && config_lock_holder(prefix) <= 0;
  };
  std::vector<std::string> prefixes;
  std::error_code ec;
  for (fs::directory_iterator it(base_runtime_dir(), ec), end; !ec && it != end; it.increment(ec))
    prefixes.push_back(it->path().filename().string());
  for (const auto& mount : hugetlbfs_mounts())
    for (fs::directory_iterator it(mount, ec), end; !ec && it != end; it.increment(ec)) {
      const auto name = it->path().filename().string();
      const auto m = name.rfind("map_");
      if (m != std::string::npos)
        prefixes.push_back(name.substr(0, m));
    }
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  unsigned cleaned = 0;
  for (const auto& p : prefixes) {
    if (!dead(p))
      continue;
    const unsigned files = remove_hugepage_files(p);
    fs::remove_all(eal::runtime_dir(p), ec);
    spdlog::info("shm-dpdk: removed what a killed run (file prefix {}) left behind: {} hugepage "
                 "file(s) and its runtime directory", p, files);
    ++cleaned;
  }
  return cleaned;
}

std::string eal::missing_requirement(uint64_t memory_mb) {
  const auto mounts = hugetlbfs_mounts();
  if (mounts.empty())
    return "no hugetlbfs is mounted for 2 MB pages: mount one (mount -t hugetlbfs nodev "
           "/dev/hugepages; scripts/setup does)";
  if (access(mounts.front().c_str(), W_OK) != 0)
    return "no write access to " + mounts.front() +
           " (the DPDK primary creates its hugepage files there): run as root";
  const long free_pages = free_2mb_pages();
  const long need = static_cast<long>((memory_mb + page_mb - 1) / page_mb);
  if (free_pages < need)
    return std::to_string(std::max(free_pages, 0L)) + " free 2 MB hugepages, " +
           std::to_string(need) + " needed for dpdk.memory " + std::to_string(memory_mb) +
           "MiB: reserve more (echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; "
           "scripts/setup does) or lower dpdk.memory";
  const std::string base = base_runtime_dir();
  const std::string parent = fs::path(base).parent_path().string();
  if (access(base.c_str(), W_OK) != 0 && access(parent.c_str(), W_OK) != 0)
    return "no write access to " + base + " (the EAL's runtime directory): run as root";
  return {};
}

core::expected<eal*> eal::acquire(const eal_options& o) {
  std::lock_guard<std::mutex> guard{acquire_mtx};
  const char* role = o.primary ? "primary" : "secondary";
  if (the_eal) {
    const auto& have = the_eal->opts_;
    const std::string running = std::string("this process already runs DPDK's EAL as the ") +
                                (have.primary ? "primary" : "secondary") + " with file prefix '" +
                                have.file_prefix + "' and lcores '" + have.lcores + "'";
    const std::string why = " (DPDK 22.11 initialises its EAL once per process): ";
    if (have.primary != o.primary)
      return core::make_error(running + why + "it cannot also be a " + role +
                              "; run the other role in its own process");
    if (!o.file_prefix.empty() && o.file_prefix != have.file_prefix)
      return core::make_error(running + why + "give every app in this process the same "
                              "dpdk.file_prefix (or none), or run them as separate processes");
    if (o.lcores != have.lcores)
      return core::make_error(running + why + "give every app in this process the same "
                              "dpdk.lcores, or run them as separate processes");
    return the_eal;
  }
  if (!init_failure.empty())
    return core::make_error("DPDK's EAL failed to start earlier in this process and cannot be "
                            "started again in it: " + init_failure);
  eal_options opts = o;
  if (opts.file_prefix.empty()) {
    if (!opts.primary)
      return core::make_error("shm-dpdk: an EAL secondary needs its primary's file prefix");
    opts.file_prefix = default_file_prefix(opts.app_name);
  }

  // -- checks that turn the EAL's terse failures into instructions --------------------------
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  sched_getaffinity(0, sizeof allowed, &allowed);
  std::optional<cpu_set_t> pinned;
  if (!opts.lcores.empty()) {
    cpu_set_t want;
    if (!parse_cpu_list(opts.lcores, want))
      return core::make_error("dpdk.lcores: '" + opts.lcores + "' names no CPU");
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &want) && !CPU_ISSET(c, &allowed))
        return core::make_error("dpdk.lcores: CPU " + std::to_string(c) +
                                " is not available to this process (available: " +
                                cpu_list_of(allowed) + ")");
    pinned = want;
  }
  const pid_t holder = config_lock_holder(opts.file_prefix);
  if (opts.primary) {
    if (auto missing = missing_requirement(opts.memory_mb); !missing.empty())
      return core::make_error("transport shm-dpdk cannot start its DPDK primary: " + missing);
    if (holder > 0)
      return core::make_error("dpdk.file_prefix '" + opts.file_prefix + "' is in use by another DPDK "
                              "primary process (pid " + std::to_string(holder) + "): give this "
                              "app another dpdk.file_prefix (or none, for one unique to the run), "
                              "or stop that process");
    sweep_dead_runs();
  } else if (holder <= 0) {
    return core::make_error("no DPDK primary (the gateway) is running with file prefix '" +
                            opts.file_prefix + "' (" + runtime_dir(opts.file_prefix) + "/config " +
                            (holder < 0 ? "does not exist" : "is not locked") +
                            "); instances of shm-dpdk are started by the gateway");
  }

  // -- rte_eal_init ---------------------------------------------------------------------------
  // Every argument is built here from checked values: the EAL's parser may exit the process on
  // input it cannot handle, so no user text reaches it unchecked.
  argv_store = {"spry", "--file-prefix=" + opts.file_prefix,
                std::string("--proc-type=") + role,
                "--no-pci",       // no devices: rings only
                "--no-telemetry", // no extra thread and socket per process
                "--iova-mode=va", // no physical addresses needed (and no /proc/self/pagemap)
                "--log-level=lib.eal:warning",
                // One lcore, the main one, on the CPUs asked for or on every allowed CPU.
                "--lcores=0@(" + cpu_list_of(pinned ? *pinned : allowed) + ")"};
  if (opts.primary) {
    argv_store.push_back("-m");
    argv_store.push_back(std::to_string(opts.memory_mb));
    // Secondaries map the primary's memory at the primary's addresses. The EAL's default hint
    // (4 GiB) lies in AddressSanitizer's shadow gap, so an ASan build's primary would take
    // whatever mmap returns and its secondaries often find that range taken: give it a fixed
    // base above ASan's shadow and below its allocator instead.
    if (address_sanitizer)
      argv_store.push_back("--base-virtaddr=0x200000000000");
  }
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // rte_eal_init pins the calling thread to the main lcore; every thread this one starts later
  // would inherit that. Undo it: only the poller is meant to be pinned.
  cpu_set_t caller;
  CPU_ZERO(&caller);
  pthread_getaffinity_np(pthread_self(), sizeof caller, &caller);
  const int r = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
  const int err = rte_errno;
  pthread_setaffinity_np(pthread_self(), sizeof caller, &caller);
  if (r < 0) {
    std::string args;
    for (size_t i = 1; i < argv_store.size(); ++i)
      args += " " + argv_store[i];
    init_failure = std::string("rte_eal_init(") + args.substr(1) + ") failed: " +
                   (err ? rte_strerror(err) : "see the EAL's messages above") +
                   (opts.primary ? "" : "; a secondary must map the primary's memory at the same "
                                     "addresses, which address-space randomisation can prevent");
    return core::make_error("transport shm-dpdk: DPDK's EAL did not start as " + std::string(role) +
                            ": " + init_failure);
  }
  the_eal = new eal(opts);
  the_eal->cpus_ = pinned;
  the_eal->pid_ = getpid();
  std::atexit(&eal::at_exit);
  spdlog::debug("shm-dpdk: EAL {} up, file prefix {}", role, opts.file_prefix);
  return the_eal;
}

void eal::forget_secondary(pid_t pid) const {
  if (primary() && pid > 0)
    remove_secondary_files(pid);
}

void eal::remove_secondary_files(pid_t pid) const {
  // fbarray_memseg-2048k-0-0_<pid> ... and mp_socket_<pid>_<tsc>.
  const std::string suffix = "_" + std::to_string(pid);
  const std::string socket = "mp_socket_" + std::to_string(pid) + "_";
  std::error_code ec;
  for (fs::directory_iterator it(runtime_dir(file_prefix()), ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    const bool mine = name.rfind(socket, 0) == 0 ||
                      (name.size() > suffix.size() &&
                       name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0);
    if (mine)
      fs::remove(it->path(), ec);
  }
}

void eal::at_exit() noexcept {
  if (!the_eal || getpid() != the_eal->pid_)
    return;
  // No rte_eal_cleanup(), on purpose: see eal.hpp. Pollers may still run (a transport that was
  // never destroyed); the memory stays mapped until the process is gone.
  if (the_eal->primary()) {
    remove_hugepage_files(the_eal->file_prefix());
    std::error_code ec;
    fs::remove_all(runtime_dir(the_eal->file_prefix()), ec);
  } else {
    the_eal->remove_secondary_files(the_eal->pid_);
  }
}

} // namespace spry::transports::dpdk
