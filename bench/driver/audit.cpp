#include "bench/driver/audit.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

namespace spry::bench {

namespace fs = std::filesystem;
namespace dp = core::data_path;

namespace {

// perf stat attached to the processes of a tree, counting every system call they enter.
class syscall_counter {
public:
  syscall_counter(const std::vector<pid_t>& pids, const std::string& out_file) : out_(out_file) {
    std::string list;
    for (pid_t p : pids)
      list += (list.empty() ? "" : ",") + std::to_string(p);
    proc_ = std::make_unique<child_process>(
      std::vector<std::string>{"/usr/bin/perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter",
                               "-o", out_, "-p", list},
      out_ + ".stderr");
    // perf attaches to every thread before it counts; give it that time on a busy machine.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  /// Stops perf and returns the count, or nullopt if perf did not count (not allowed, missing).
  std::optional<uint64_t> finish() {
    proc_->stop(SIGINT, std::chrono::seconds(10));
    const std::string text = read_file(out_);
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.find("raw_syscalls:sys_enter") == std::string::npos || line[0] == '#')
        continue;
      const auto value = line.substr(0, line.find(','));
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt; // "<not supported>" / "<not counted>"
      return std::stoull(value);
    }
    return std::nullopt;
  }

private:
  std::string out_;
  std::unique_ptr<child_process> proc_;
};

audit_row audit_one(const workload& w, const setup& s, const audit_settings& settings, size_t n) {
  audit_row row;
  row.config = s;
  const std::string counters = (fs::path(settings.run.work_dir) / ("counters-" + std::to_string(n))).string();
  if (auto ok = dp::create_counters_file(counters); !ok) {
    row.skipped = ok.err().message;
    return row;
  }
  run_settings rs = settings.run;
  rs.env[dp::counters_variable] = counters;
  auto tree = start_tree(w, s, rs);
  if (!tree) {
    row.skipped = tree.err().message;
    return row;
  }
  const pid_t root = tree->process->pid();
  load_options o = w.load;
  o.host = "127.0.0.1";
  o.port = tree->port;
  o.requests = w.requests;
  o.mode = load_mode::closed;
  o.connections = settings.users;
  o.spawn_rate = 0;
  o.think_min = o.think_max = std::chrono::milliseconds(0);
  o.max_requests = 0;
  o.warmup = std::chrono::milliseconds(0);
  o.duration = settings.warmup; // connections, caches, instance pools: not audited
  if (auto warm = run_load(o); !warm || warm->ok() == 0) {
    stop_tree(*tree);
    row.skipped = warm ? "no successful request during the warm-up: " + warm->summary()
                       : warm.err().message;
    return row;
  }

  std::unique_ptr<syscall_counter> perf;
  if (settings.use_perf && fs::exists("/usr/bin/perf"))
    perf = std::make_unique<syscall_counter>(process_tree(root),
                                             (fs::path(settings.run.work_dir) / ("perf-" + std::to_string(n))).string());
  const auto before = sample_tree(root);
  const auto c0 = dp::read_counters_file(counters);
  o.duration = settings.duration;
  auto r = run_load(o);
  const auto c1 = dp::read_counters_file(counters);
  const auto after = sample_tree(root);
  std::optional<uint64_t> syscalls;
  if (perf)
    syscalls = perf->finish();
  stop_tree(*tree);
  if (!r || !c0 || !c1) {
    row.skipped = !r ? r.err().message : (!c0 ? c0.err().message : c1.err().message);
    return row;
  }
  row.ran = true;
  row.requests = r->ok();
  row.errors = r->errors();
  row.counters = *c1 - *c0;
  row.processes = difference(after, before);
  uint64_t io_calls = 0;
  for (const auto& p : row.processes) {
    row.voluntary_switches += p.voluntary_switches;
    row.involuntary_switches += p.involuntary_switches;
    io_calls += p.read_syscalls + p.write_syscalls;
  }
  if (syscalls) {
    row.syscalls = *syscalls;
    row.syscall_source = "perf";
  } else {
    row.syscalls = io_calls;
    row.syscall_source = "/proc io (read/write family only)";
  }
  return row;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : "%.1f", v);
  return buf;
}

} // namespace

std::vector<audit_row> run_audit(const workload& w, const std::vector<setup>& setups,
                                 const audit_settings& settings) {
  std::vector<audit_row> rows;
  for (size_t i = 0; i < setups.size(); ++i) {
    std::fprintf(stderr, "spry audit: %s ...\n", setups[i].name.c_str());
    rows.push_back(audit_one(w, setups[i], settings, i));
    if (!rows.back().ran)
      std::fprintf(stderr, "spry audit: %s skipped: %s\n", setups[i].name.c_str(),
                   rows.back().skipped.c_str());
  }
  return rows;
}

std::string audit_markdown(const std::vector<audit_row>& rows, const workload& w) {
  std::vector<const audit_row*> ran;
  for (const auto& r : rows)
    if (r.ran)
      ran.push_back(&r);
  std::ostringstream md;
  md << "Per request, measured (" << w.requests.front().method << " " << w.requests.front().path
     << " on " << fs::path(w.app_file).filename().string()
     << "); published: SPRIGHT's audit of 1 broker + 2 functions.\n\n| per request |";
  for (const auto* r : ran)
    md << " " << r->config.name << " |";
  md << " published Knative | published SPRIGHT |\n|---|";
  for (size_t i = 0; i < ran.size(); ++i)
    md << "---:|";
  md << "---:|---:|\n";
  const auto line = [&](const std::string& what, auto value, const char* knative, const char* spright) {
    md << "| " << what << " |";
    for (const auto* r : ran)
      md << " " << num(r->per_request(value(*r))) << " |";
    md << " " << knative << " | " << spright << " |\n";
  };
  const auto total = [](dp::event e) {
    return [e](const audit_row& r) { return r.counters.at(dp::site::edge, e) + r.counters.at(dp::site::chain, e); };
  };
  const auto chain = [](dp::event e) {
    return [e](const audit_row& r) { return r.counters.at(dp::site::chain, e); };
  };
  line("payload copies", total(dp::event::copy), "15", "3");
  line("... inside the chain", chain(dp::event::copy), "", "0");
  line("context switches", [](const audit_row& r) { return r.voluntary_switches + r.involuntary_switches; }, "15", "7");
  line("system calls", [](const audit_row& r) { return r.syscalls; }, "", "");
  line("protocol messages (TCP stack)", total(dp::event::protocol_message), "12", "3");
  line("... inside the chain", chain(dp::event::protocol_message), "", "0");
  line("serializations", total(dp::event::serialization), "8", "2");
  line("... inside the chain", chain(dp::event::serialization), "", "0");
  line("deserializations", total(dp::event::deserialization), "7", "1");
  md << "\nMeasured over ";
  for (size_t i = 0; i < ran.size(); ++i)
    md << (i ? ", " : "") << ran[i]->requests << " requests on " << ran[i]->config.name
       << (ran[i]->errors ? " (" + std::to_string(ran[i]->errors) + " errors)" : "");
  md << ". Copies, protocol messages and (de)serializations are counted where spry's code does "
        "them, summed over every process; a socket read or write that carries the payload is one "
        "copy. Context switches: every thread of every process, from /proc. System calls: ";
  std::string sources;
  for (const auto* r : ran)
    if (sources.find(r->syscall_source) == std::string::npos)
      sources += (sources.empty() ? "" : "; ") + r->syscall_source;
  md << (sources.empty() ? "-" : sources)
     << ". The published protocol-processing count is the paper's; here one HTTP message through "
        "the loopback stack counts once. Interrupts are not measured (loopback raises none of its "
        "own).\n";
  for (const auto& r : rows)
    if (!r.ran)
      md << "- " << r.config.name << ": skipped: " << r.skipped << "\n";
  return md.str();
}

std::string audit_json(const std::vector<audit_row>& rows) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json o = {{"setup", r.config.name}, {"transport", r.config.transport}, {"ran", r.ran}};
    if (!r.ran) {
      o["skipped"] = r.skipped;
      a.push_back(o);
      continue;
    }
    o["requests"] = r.requests;
    o["errors"] = r.errors;
    for (auto s : {dp::site::edge, dp::site::chain}) {
      nlohmann::json c;
      for (auto e : {dp::event::copy, dp::event::serialization, dp::event::deserialization,
                     dp::event::protocol_message})
        c[dp::name_of(e)] = {{"total", r.counters.at(s, e)}, {"per_request", r.per_request(r.counters.at(s, e))}};
      o[dp::name_of(s)] = c;
    }
    o["context_switches"] = {{"voluntary", r.voluntary_switches},
                             {"involuntary", r.involuntary_switches},
                             {"per_request", r.per_request(r.voluntary_switches + r.involuntary_switches)}};
    o["syscalls"] = {{"total", r.syscalls}, {"per_request", r.per_request(r.syscalls)}, {"source", r.syscall_source}};
    nlohmann::json procs = nlohmann::json::array();
    for (const auto& p : r.processes)
      procs.push_back({{"label", p.label},
                       {"role", p.role},
                       {"cpu_seconds", p.cpu_seconds},
                       {"voluntary_switches", p.voluntary_switches},
                       {"involuntary_switches", p.involuntary_switches},
                       {"read_syscalls", p.read_syscalls},
                       {"write_syscalls", p.write_syscalls}});
    o["processes"] = procs;
    a.push_back(o);
  }
  return a.dump(2);
}

} // namespace spry::bench
