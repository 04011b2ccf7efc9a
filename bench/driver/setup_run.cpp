#include "bench/driver/setup_run.hpp"

#include "bench/load/child_process.hpp"

#include <csignal>
#include <cstdlib>
#include <optional>
#include <regex>
#include <thread>

namespace spry::bench {

namespace {

double sum_cpu(const std::vector<process_sample>& v) {
  double t = 0;
  for (const auto& s : v)
    t += s.cpu_seconds;
  return t;
}

// Sets variables for the children started while it lives, and puts the old values back.
class scoped_env {
public:
  explicit scoped_env(const std::map<std::string, std::string>& vars) {
    for (const auto& [k, v] : vars) {
      const char* old = std::getenv(k.c_str());
      saved_.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      setenv(k.c_str(), v.c_str(), 1);
    }
  }
  ~scoped_env() {
    for (const auto& [k, v] : saved_)
      if (v)
        setenv(k.c_str(), v->c_str(), 1);
      else
        unsetenv(k.c_str());
  }

private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The last `lines` non-empty lines of `text`, joined with "; ".
std::string tail(const std::string& text, size_t lines) {
  std::vector<std::string> all;
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos)
      nl = text.size();
    if (nl > pos)
      all.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += (out.empty() ? "" : "; ") + all[i];
  return out.empty() ? std::string("(nothing on stderr)") : out;
}

} // namespace

double setup_result::tree_cpu_seconds() const { return sum_cpu(busy); }
double setup_result::idle_cpu_seconds() const { return sum_cpu(idle); }
double setup_result::cpu_per_request() const {
  const auto ok = load.ok();
  return ok ? tree_cpu_seconds() / static_cast<double>(ok) : 0;
}

void merge_round(setup_result& into, const setup_result& round) {
  if (!round.ran)
    return;
  if (!into.ran) {
    into = round;
    return;
  }
  auto& a = into.load;
  const auto& b = round.load;
  a.latency_ns.merge(b.latency_ns);
  for (const auto& [code, n] : b.by_status)
    a.by_status[code] += n;
  a.transport_errors += b.transport_errors;
  a.unsent += b.unsent;
  a.seconds += b.seconds;
  for (size_t i = 0; i < a.by_request.size() && i < b.by_request.size(); ++i) {
    a.by_request[i].latency_ns.merge(b.by_request[i].latency_ns);
    for (const auto& [code, n] : b.by_request[i].by_status)
      a.by_request[i].by_status[code] += n;
    a.by_request[i].transport_errors += b.by_request[i].transport_errors;
  }
  // Each round's series starts at its own warm-up's end: append after the last full bin.
  const size_t full = a.bin_seconds > 0 ? static_cast<size_t>(into.busy_seconds / a.bin_seconds) : 0;
  a.ok_per_bin.resize(std::min(a.ok_per_bin.size(), full));
  a.errors_per_bin.resize(a.ok_per_bin.size(), 0);
  a.ok_per_bin.insert(a.ok_per_bin.end(), b.ok_per_bin.begin(), b.ok_per_bin.end());
  a.errors_per_bin.insert(a.errors_per_bin.end(), b.errors_per_bin.begin(), b.errors_per_bin.end());
  a.generator_cpu_seconds += b.generator_cpu_seconds;
  a.generator_wall_seconds += b.generator_wall_seconds;
  into.busy.insert(into.busy.end(), round.busy.begin(), round.busy.end());
  into.idle.insert(into.idle.end(), round.idle.begin(), round.idle.end());
  into.busy_seconds += round.busy_seconds;
  into.idle_seconds += round.idle_seconds;
}

core::expected<started_tree> start_tree(const workload& w, const setup& s,
                                        const run_settings& settings) {
  if (auto why = unavailable_reason(s); !why.empty())
    return core::make_error(why);
  auto app = write_setup_app(w.app_file, s, settings.work_dir);
  if (!app)
    return app.err();
  started_tree t;
  t.log = app->substr(0, app->size() - 5) + ".stderr";
  std::map<std::string, std::string> env = w.env;
  for (const auto& [k, v] : settings.env)
    env[k] = v;
  {
    scoped_env scope(env);
    t.process = std::make_unique<child_process>(
      std::vector<std::string>{settings.spry_binary, "run", *app, "--log-level", settings.log_level},
      t.log);
  }
  auto line = t.process->wait_for_line("listening on http://", settings.start_timeout);
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)"))) {
    stop_tree(t);
    return core::make_error("did not start: " + tail(read_file(t.log), 3));
  }
  t.port = static_cast<uint16_t>(std::stoul(m[1]));
  return t;
}

void stop_tree(started_tree& t) {
  if (t.process && !t.process->stop(SIGTERM, std::chrono::seconds(15)))
    t.process->stop(SIGKILL, std::chrono::seconds(5));
}

setup_result run_setup(const workload& w, const setup& s, const run_settings& settings) {
  setup_result out;
  out.config = s;
  auto tree = start_tree(w, s, settings);
  if (!tree) {
    out.skipped = tree.err().message;
    return out;
  }
  const pid_t root = tree->process->pid();

  load_options o = w.load;
  o.host = "127.0.0.1";
  o.port = tree->port;
  o.requests = w.requests;
  std::vector<process_sample> before;
  bool sampled = false;
  o.on_measure_start = [&] {
    before = sample_tree(root);
    sampled = true;
  };
  if (settings.on_progress)
    o.on_progress = [&](const load_progress& p) { settings.on_progress(s.name, p); };
  auto r = run_load(o);
  if (!sampled)
    before = sample_tree(root);
  const auto after = sample_tree(root);
  if (!r) {
    stop_tree(*tree);
    out.skipped = r.err().message;
    return out;
  }
  out.ran = true;
  out.load = std::move(*r);
  out.busy = difference(after, before);
  out.busy_seconds = out.load.seconds;

  // Quiet period: nothing is sent; whatever the tree burns now is its idle cost (pollers,
  // timers, sidecars). A short settle first, so the tail of the load is not counted.
  if (w.idle.count() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto idle0 = sample_tree(root);
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(w.idle);
    const auto idle1 = sample_tree(root);
    out.idle_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.idle = difference(idle1, idle0);
  }
  stop_tree(*tree);
  return out;
}

} // namespace spry::bench
