#include "bench/load/proc_stats.hpp"

#include "bench/load/child_process.hpp"

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

namespace spry::bench {

namespace {

double tick() {
  static const double t = static_cast<double>(sysconf(_SC_CLK_TCK));
  return t;
}

// Fields of a stat line after "(comm)", and comm itself.
bool parse_stat(const std::string& line, std::string& comm, std::vector<std::string>& f) {
  const auto open = line.find('(');
  const auto paren = line.rfind(')'); // the command name may contain spaces and parens
  if (open == std::string::npos || paren == std::string::npos || paren + 2 >= line.size())
    return false;
  comm = line.substr(open + 1, paren - open - 1);
  std::istringstream rest(line.substr(paren + 2));
  f.clear();
  std::string field;
  while (rest >> field)
    f.push_back(field);
  return f.size() >= 13;
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

uint64_t status_value(const std::string& text, const std::string& key) {
  const auto at = text.find("\n" + key + ":");
  if (at == std::string::npos)
    return 0;
  return std::strtoull(text.c_str() + at + key.size() + 2, nullptr, 10);
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = opendir(path.c_str())) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.')
        out.emplace_back(e->d_name);
    closedir(d);
  }
  return out;
}

// The value of `key` in a SPRY_* role variable "k=v;k=v" in /proc/PID/environ.
std::string role_value(const std::string& environ, const std::string& variable,
                       const std::string& key) {
  const std::string prefix = variable + "=";
  size_t pos = 0;
  while (pos < environ.size()) {
    const auto end = environ.find('\0', pos);
    const std::string entry = environ.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (entry.compare(0, prefix.size(), prefix) == 0) {
      std::string rest = ";" + entry.substr(prefix.size()) + ";";
      const auto k = rest.find(";" + key + "=");
      if (k == std::string::npos)
        return {};
      const auto v = k + key.size() + 2;
      return rest.substr(v, rest.find(';', v) - v);
    }
    if (end == std::string::npos)
      break;
    pos = end + 1;
  }
  return {};
}

bool has_variable(const std::string& environ, const std::string& variable) {
  return environ.compare(0, variable.size() + 1, variable + "=") == 0 ||
         environ.find(std::string(1, '\0') + variable + "=") != std::string::npos;
}

} // namespace

std::vector<proc_row> all_processes() {
  std::vector<proc_row> out;
  std::string comm;
  std::vector<std::string> f;
  for (const auto& name : list_dir("/proc")) {
    const pid_t pid = static_cast<pid_t>(std::atoi(name.c_str()));
    if (pid <= 0 || !parse_stat(first_line("/proc/" + name + "/stat"), comm, f))
      continue;
    out.push_back({pid, static_cast<pid_t>(std::stol(f[1])), f[0][0],
                   (std::stod(f[11]) + std::stod(f[12])) / tick()});
  }
  return out;
}

std::vector<pid_t> process_tree(pid_t root) {
  const auto rows = all_processes();
  std::map<pid_t, pid_t> parent;
  for (const auto& p : rows)
    parent[p.pid] = p.ppid;
  std::vector<pid_t> out{root};
  for (const auto& p : rows) {
    if (p.pid == root || p.state == 'Z')
      continue;
    for (pid_t a = p.ppid; a > 1; a = parent.count(a) ? parent[a] : 0)
      if (a == root) {
        out.push_back(p.pid);
        break;
      }
  }
  return out;
}

std::vector<process_sample> sample_tree(pid_t root) {
  std::vector<process_sample> out;
  std::string comm;
  std::vector<std::string> f;
  for (pid_t pid : process_tree(root)) {
    const std::string dir = "/proc/" + std::to_string(pid);
    if (!parse_stat(first_line(dir + "/stat"), comm, f))
      continue;
    process_sample s;
    s.pid = pid;
    s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / tick();
    const std::string env = read_file(dir + "/environ");
    if (pid == root) {
      s.role = "gateway";
      s.label = "gateway";
    } else if (has_variable(env, "SPRY_SIDECAR")) {
      s.role = "sidecar";
      const auto name = role_value(env, "SPRY_SIDECAR", "name");
      s.function = name.substr(0, name.find('#'));
      s.label = "queue-proxy " + name;
    } else if (has_variable(env, "SPRY_INSTANCE")) {
      s.role = "instance";
      s.function = role_value(env, "SPRY_INSTANCE", "function");
      s.label = s.function + "#" + role_value(env, "SPRY_INSTANCE", "endpoint");
    } else if (comm == "nginx") {
      s.role = "nginx";
      s.label = "nginx";
    } else {
      s.role = "other";
      s.label = comm;
    }
    for (const auto& tid : list_dir(dir + "/task")) {
      const std::string tdir = dir + "/task/" + tid;
      const std::string status = "\n" + read_file(tdir + "/status");
      s.voluntary_switches += status_value(status, "voluntary_ctxt_switches");
      s.involuntary_switches += status_value(status, "nonvoluntary_ctxt_switches");
      std::string tcomm;
      if (parse_stat(first_line(tdir + "/stat"), tcomm, f) &&
          tcomm.find("poll") != std::string::npos)
        s.poller_cpu_seconds += (std::stod(f[11]) + std::stod(f[12])) / tick();
    }
    const std::string io = "\n" + read_file(dir + "/io");
    s.read_syscalls = status_value(io, "syscr");
    s.write_syscalls = status_value(io, "syscw");
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<process_sample> difference(const std::vector<process_sample>& later,
                                       const std::vector<process_sample>& earlier) {
  std::map<pid_t, const process_sample*> before;
  for (const auto& s : earlier)
    before[s.pid] = &s;
  std::vector<process_sample> out;
  for (const auto& s : later) {
    process_sample d = s;
    if (auto i = before.find(s.pid); i != before.end()) {
      const auto& e = *i->second;
      d.cpu_seconds -= e.cpu_seconds;
      d.poller_cpu_seconds -= e.poller_cpu_seconds;
      // Thread counts can go down when a thread exits: clamp at zero.
      d.voluntary_switches = s.voluntary_switches > e.voluntary_switches ? s.voluntary_switches - e.voluntary_switches : 0;
      d.involuntary_switches = s.involuntary_switches > e.involuntary_switches ? s.involuntary_switches - e.involuntary_switches : 0;
      d.read_syscalls -= e.read_syscalls;
      d.write_syscalls -= e.write_syscalls;
    }
    out.push_back(std::move(d));
  }
  return out;
}

} // namespace spry::bench
