#include "transports/shm-dpdk/dpdk_config.hpp"

#include "core/yaml_walker.hpp"

#include <algorithm>
#include <cctype>

namespace spry::transports::dpdk {

namespace {

std::unique_ptr<core::transport_config> parse(const core::yaml_walker& w, const YAML::Node& n) {
  w.expect_map(n, "dpdk");
  w.only_keys(n, "dpdk", {"lcores", "ring_size", "memory", "file_prefix", "idle", "spin_us"});
  auto d = std::make_unique<dpdk_config>();
  auto check = [&](const char* key, const std::string& problem) {
    if (!problem.empty())
      w.fail(n[key], problem);
  };
  if (n["lcores"]) {
    // `lcores: 1` is read as a string too: a single CPU is a valid list.
    d->lcores = w.str(n["lcores"], "dpdk.lcores");
    check("lcores", lcores_problem(d->lcores));
  }
  if (n["ring_size"]) {
    const auto v = w.uint(n["ring_size"], "dpdk.ring_size", uint64_t{1} << 32);
    check("ring_size", ring_size_problem(v));
    d->ring_size = static_cast<uint32_t>(v);
  }
  if (n["memory"]) {
    d->memory = w.size(n["memory"], "dpdk.memory", uint64_t{1} << 40);
    check("memory", memory_problem(d->memory));
  }
  if (n["file_prefix"]) {
    d->file_prefix = w.str(n["file_prefix"], "dpdk.file_prefix");
    if (d->file_prefix.empty())
      w.fail(n["file_prefix"], "dpdk.file_prefix: must not be empty (leave it out for a "
                               "prefix unique to each run)");
    check("file_prefix", file_prefix_problem(d->file_prefix));
  }
  if (n["idle"]) {
    d->idle = w.str(n["idle"], "dpdk.idle");
    check("idle", idle_problem(d->idle));
  }
  if (n["spin_us"]) {
    const auto v = w.uint(n["spin_us"], "dpdk.spin_us", uint64_t{1} << 32);
    check("spin_us", spin_us_problem(v));
    d->spin_us = static_cast<uint32_t>(v);
    if (n["idle"] && d->idle != "adaptive")
      w.fail(n["spin_us"], "dpdk.spin_us: only an adaptive poller sleeps (idle is '" + d->idle +
                               "'); leave spin_us out or set idle: adaptive");
  }
  return d;
}

} // namespace

std::unique_ptr<core::transport_config> dpdk_config::clone() const {
  return std::make_unique<dpdk_config>(*this);
}

std::string dpdk_config::dump() const {
  // Reads back as the same settings: an empty lcores is written quoted; an unset file_prefix
  // (which the parser refuses as '') and spin_us beside a poller that never sleeps (refused
  // too) as comments.
  return "lcores: " + (lcores.empty() ? std::string("''") : lcores) +
         "\nring_size: " + std::to_string(ring_size) + "\nmemory: " +
         std::to_string(memory >> 20) + "MiB\n" +
         (file_prefix.empty() ? std::string("# file_prefix unset: spry-APP-PID, unique per run")
                              : "file_prefix: " + file_prefix) +
         "\nidle: " + idle + "\n" +
         (idle == "adaptive" ? "spin_us: " + std::to_string(spin_us)
                             : std::string("# spin_us: adaptive only")) + "\n";
}

const dpdk_config& dpdk_config_of(const core::app_spec& app) {
  static const dpdk_config defaults;
  const auto* c = app.transport_settings.get<dpdk_config>(dpdk_config::key);
  return c ? *c : defaults;
}

std::string lcores_problem(const std::string& lcores) {
  // A CPU list ("1", "0-1", "0,2-3"): the only user text that reaches the EAL's argv, so it is
  // checked here rather than left to the EAL's parser (which may exit the process).
  const std::string what = "dpdk.lcores: expected a CPU list such as 1, 0-1 or 0,2-3, got '" +
                           lcores + "'";
  if (lcores.empty())
    return {};
  size_t i = 0;
  auto number = [&](unsigned& out) {
    const size_t start = i;
    out = 0;
    while (i < lcores.size() && std::isdigit(static_cast<unsigned char>(lcores[i])) && i - start < 5)
      out = out * 10 + static_cast<unsigned>(lcores[i++] - '0');
    return i > start;
  };
  for (;;) {
    unsigned a = 0, b = 0;
    if (!number(a))
      return what;
    b = a;
    if (i < lcores.size() && lcores[i] == '-') {
      ++i;
      if (!number(b))
        return what;
    }
    if (b < a)
      return "dpdk.lcores: range " + std::to_string(a) + "-" + std::to_string(b) + " is backwards";
    if (b >= 1024)
      return "dpdk.lcores: CPU " + std::to_string(b) + " is out of range (at most 1023)";
    if (i == lcores.size())
      return {};
    if (lcores[i++] != ',')
      return what;
  }
}

std::string ring_size_problem(uint64_t n) {
  if (n == 0)
    return {};
  if (n < 64 || n > (1u << 20) || (n & (n - 1)) != 0)
    return "dpdk.ring_size: expected a power of two between 64 and 1048576 (or 0: sized to the "
           "pools), got " + std::to_string(n);
  return {};
}

std::string memory_problem(uint64_t bytes) {
  constexpr uint64_t mib = 1 << 20;
  if (bytes < 16 * mib || bytes > (64ull << 30) || bytes % (2 * mib) != 0)
    return "dpdk.memory: expected a multiple of 2MiB between 16MiB and 64GiB, got " +
           std::to_string(bytes) + " bytes";
  return {};
}

std::string file_prefix_problem(const std::string& prefix) {
  // It names files in hugetlbfs and a directory under /var/run/dpdk: no separators, no dots.
  if (prefix.size() > 40 ||
      !std::all_of(prefix.begin(), prefix.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-';
      }))
    return "dpdk.file_prefix: expected up to 40 letters, digits, '_' or '-', got '" + prefix + "'";
  return {};
}

std::string idle_problem(const std::string& idle) {
  if (idle != "adaptive" && idle != "spin" && idle != "yield")
    return "dpdk.idle: expected adaptive, spin or yield, got '" + idle + "'";
  return {};
}

std::string spin_us_problem(uint64_t spin_us) {
  // Beyond a second a poller is a spinning one that sometimes sleeps: say "spin" instead.
  if (spin_us > max_spin_us)
    return "dpdk.spin_us: expected at most " + std::to_string(max_spin_us) +
           " (one second; use idle: spin for a poller that never sleeps), got " +
           std::to_string(spin_us);
  return {};
}

core::status_or_error check_dpdk_config(const dpdk_config& c) {
  for (const auto& problem :
       {lcores_problem(c.lcores), ring_size_problem(c.ring_size), memory_problem(c.memory),
        file_prefix_problem(c.file_prefix), idle_problem(c.idle), spin_us_problem(c.spin_us)})
    if (!problem.empty())
      return core::make_error(c.where.prefix() + problem);
  return {};
}

core::config_section dpdk_config_section() {
  core::config_section s;
  s.key = dpdk_config::key;
  s.transport = "shm-dpdk";
  s.parse = parse;
  s.defaults = [] { return std::make_unique<dpdk_config>(); };
  s.check = [](const core::transport_config& c, const core::app_spec&) -> core::status_or_error {
    // The parser stores a dpdk_config; app::configure() takes whatever a C++ app passes.
    const auto* d = dynamic_cast<const dpdk_config*>(&c);
    if (!d)
      return core::make_error(c.where.prefix() + "dpdk: settings of another type than "
                                                  "spry::transports::dpdk::dpdk_config");
    return check_dpdk_config(*d);
  };
  return s;
}

} // namespace spry::transports::dpdk
