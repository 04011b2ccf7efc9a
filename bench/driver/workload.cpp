#include "bench/driver/workload.hpp"

#include "core/config.hpp"
// The app file's YAML walker: file:line:column errors, unknown keys refused, as everywhere.
#include "core/yaml_walker.hpp"

#include <filesystem>

namespace spry::bench {

namespace fs = std::filesystem;

namespace {

std::chrono::milliseconds duration(const core::yaml_walker& r, const YAML::Node& n, const std::string& path,
                                   bool zero_ok) {
  auto v = core::parse_duration_ms(r.str(n, path));
  if (!v)
    r.fail(n, path + ": " + v.err().message);
  if (*v == 0 && !zero_ok)
    r.fail(n, path + ": must be longer than 0");
  return std::chrono::milliseconds(*v);
}

request_spec parse_request(const core::yaml_walker& r, const YAML::Node& n, const std::string& path) {
  r.expect_map(n, path);
  r.only_keys(n, path, {"name", "method", "path", "body", "body_size", "content_type", "weight"});
  request_spec q;
  if (!n["path"])
    r.fail(n, path + ": needs a path (the HTTP target, e.g. /product/OLJCESPC7Z)");
  q.path = r.str(n["path"], path + ".path");
  if (q.path.empty() || q.path[0] != '/')
    r.fail(n["path"], path + ".path: must start with '/'");
  q.name = n["name"] ? r.str(n["name"], path + ".name") : q.path;
  if (q.name.empty() || q.name.find_first_of(",\"\n") != std::string::npos)
    r.fail(n["name"], path + ".name: must be non-empty, without commas, quotes or newlines");
  if (n["method"])
    q.method = r.str(n["method"], path + ".method");
  if (n["body"])
    q.body = r.str(n["body"], path + ".body");
  if (n["body_size"])
    q.body_size = static_cast<uint32_t>(r.count(n["body_size"], path + ".body_size", 1, 64u << 20));
  if (n["content_type"])
    q.content_type = r.str(n["content_type"], path + ".content_type");
  else if (q.body_size > 0)
    q.content_type = "application/octet-stream";
  if (n["weight"])
    q.weight = r.number(n["weight"], path + ".weight", 0, 1e9);
  return q;
}

void parse_load(const core::yaml_walker& r, const YAML::Node& n, load_options& o) {
  r.expect_map(n, "load");
  r.only_keys(n, "load", {"mode", "users", "connections", "spawn_rate", "think_time", "rate",
                          "period", "burst", "duration", "warmup", "requests"});
  if (n["mode"]) {
    const auto m = r.str(n["mode"], "load.mode");
    if (m == "closed")
      o.mode = load_mode::closed;
    else if (m == "open")
      o.mode = load_mode::open;
    else if (m == "bursts")
      o.mode = load_mode::bursts;
    else
      r.fail(n["mode"], "load.mode: expected closed, open or bursts, got '" + m + "'");
  }
  if (n["users"])
    o.connections = static_cast<unsigned>(r.count(n["users"], "load.users", 1, 100000));
  if (n["connections"])
    o.connections = static_cast<unsigned>(r.count(n["connections"], "load.connections", 1, 100000));
  if (n["spawn_rate"])
    o.spawn_rate = r.number(n["spawn_rate"], "load.spawn_rate", 0, 1e6);
  if (const auto& t = n["think_time"]) {
    if (t.IsSequence()) {
      if (t.size() != 2)
        r.fail(t, "load.think_time: expected a duration or [min, max]");
      o.think_min = duration(r, t[0], "load.think_time[0]", true);
      o.think_max = duration(r, t[1], "load.think_time[1]", true);
      if (o.think_max < o.think_min)
        r.fail(t, "load.think_time: max is below min");
    } else {
      o.think_min = o.think_max = duration(r, t, "load.think_time", true);
    }
  }
  if (n["rate"])
    o.rate = r.number(n["rate"], "load.rate", 0.001, 1e7);
  if (n["period"])
    o.period = duration(r, n["period"], "load.period", false);
  if (n["burst"])
    o.burst_size = static_cast<unsigned>(r.count(n["burst"], "load.burst", 1, 1000000));
  if (n["duration"])
    o.duration = duration(r, n["duration"], "load.duration", false);
  if (n["warmup"])
    o.warmup = duration(r, n["warmup"], "load.warmup", true);
  if (n["requests"])
    o.max_requests = r.count(n["requests"], "load.requests", 0, uint64_t{1} << 40);
  if (o.mode == load_mode::open && !(o.rate > 0))
    r.fail(n, "load: mode open needs a rate (requests per second)");
  if (o.mode == load_mode::bursts && (o.burst_size == 0 || o.period.count() == 0))
    r.fail(n, "load: mode bursts needs a period and a burst size");
}

} // namespace

core::expected<workload> load_workload_file(const std::string& path) {
  try {
    const YAML::Node root = core::yaml_walker::load_file(path);
    core::yaml_walker r(path);
    r.expect_map(root, "workload");
    r.only_keys(root, "workload", {"app", "env", "requests", "load", "idle", "setups", "baseline"});
    workload w;
    w.file = path;
    w.load.connections = 8;
    w.load.duration = std::chrono::milliseconds(10000);
    w.load.warmup = std::chrono::milliseconds(1000);
    if (!root["app"])
      r.fail(root, "workload: needs `app:` (the app file to run, relative to this file)");
    const auto app = r.str(root["app"], "app");
    w.app_file = fs::path(app).is_absolute() ? app : (fs::path(path).parent_path() / app).string();
    if (!fs::exists(w.app_file))
      r.fail(root["app"], "app: " + w.app_file + " does not exist");
    if (const auto& e = root["env"]) {
      r.expect_map(e, "env");
      for (const auto& kv : e) {
        const auto key = kv.first.as<std::string>();
        if (key.empty() || key.find('=') != std::string::npos)
          r.fail(kv.first, "env: '" + key + "' is not a variable name");
        w.env[key] = r.str(kv.second, "env." + key);
      }
    }
    if (!root["requests"])
      r.fail(root, "workload: needs `requests:` (at least one request to send)");
    r.expect_seq(root["requests"], "requests");
    for (size_t i = 0; i < root["requests"].size(); ++i)
      w.requests.push_back(parse_request(r, root["requests"][i], "requests[" + std::to_string(i) + "]"));
    if (w.requests.empty())
      r.fail(root["requests"], "requests: needs at least one request");
    double weights = 0;
    for (const auto& q : w.requests)
      weights += q.weight;
    if (!(weights > 0))
      r.fail(root["requests"], "requests: the weights add up to 0");
    if (root["load"])
      parse_load(r, root["load"], w.load);
    if (root["idle"])
      w.idle = duration(r, root["idle"], "idle", true);
    if (const auto& s = root["setups"]) {
      r.expect_seq(s, "setups");
      w.setups.clear();
      for (size_t i = 0; i < s.size(); ++i)
        w.setups.push_back(r.str(s[i], "setups[" + std::to_string(i) + "]"));
    }
    if (root["baseline"])
      w.baseline = r.str(root["baseline"], "baseline");
    return w;
  } catch (const core::config_error& e) {
    return core::make_error(e.message);
  } catch (const YAML::Exception& e) {
    return core::make_error(path + ": " + e.what());
  }
}

} // namespace spry::bench
