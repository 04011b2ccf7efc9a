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
