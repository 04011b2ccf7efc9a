#include "cluster/commands.hpp"

#include "cluster/controller.hpp"
#include "cluster/messages.hpp"
#include "cluster/node_agent.hpp"
#include "cluster/tls.hpp"
#include "core/config.hpp"
#include "core/instance_process.hpp"
#include "core/version.hpp"
#include "gateway/app_policies.hpp"
#include "gateway/server.hpp"

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace spry::cluster {

const char* version() { return core::version(); }

core::expected<std::vector<unsigned>> parse_cpu_list(const std::string& s) {
  std::vector<unsigned> out;
  size_t i = 0;
  try {
    while (i < s.size()) {
      const auto comma = s.find(',', i);
      const std::string part = s.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      const auto dash = part.find('-');
      const unsigned lo = static_cast<unsigned>(std::stoul(part.substr(0, dash)));
      const unsigned hi = dash == std::string::npos ? lo
                                                    : static_cast<unsigned>(std::stoul(part.substr(dash + 1)));
      if (hi < lo || hi > 4095)
        throw std::out_of_range(part);
      for (unsigned c = lo; c <= hi; ++c)
        out.push_back(c);
      if (comma == std::string::npos)
        break;
      i = comma + 1;
    }
  } catch (const std::exception&) {
    return core::make_error("--cpus: expected a CPU list like 0-3 or 0,2,4, got '" + s + "'");
  }
  if (out.empty())
    return core::make_error("--cpus: the CPU list '" + s + "' is empty");
  return out;
}

core::expected<std::pair<std::string, uint16_t>> parse_address(const std::string& s,
                                                               const char* what, bool allow_zero) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return core::make_error(std::string(what) + ": expected HOST:PORT, got '" + s + "'");
  try {
    const auto port = std::stoul(s.substr(colon + 1));
    if (port > 65535 || (!allow_zero && port == 0))
      throw std::out_of_range("port");
    return std::make_pair(s.substr(0, colon), static_cast<uint16_t>(port));
  } catch (const std::exception&) {
    return core::make_error(std::string(what) + ": port must be " + (allow_zero ? "0" : "1") +
                            "..65535, got '" + s.substr(colon + 1) + "'");
  }
}

commands::commands(CLI::App& cli) {
  controller_cmd_ = cli.add_subcommand(
    "controller", "Run a cluster's controller: nodes join it (mutual TLS over CAF's middleman); "
                  "it places the app's instances on them and publishes the routing directory");
  auto* c = controller_cmd_;
  c->add_option("app", app_file_, "App file (YAML); every node runs the same file")
    ->required()
    ->check(CLI::ExistingFile);
  c->add_option("--listen", listen_, "HOST:PORT nodes join at")->required();
  c->add_option("--ca", ca_, "The cluster CA's certificate (PEM; scripts/cluster-certs)")->required();
  c->add_option("--cert", cert_, "This controller's certificate (PEM), signed by the CA")->required();
  c->add_option("--key", key_, "Its private key (PEM)")->required();
  c->add_flag("--spread-chains", spread_chains_,
              "Place each function on its own, not a chain's functions together on one node");
  c->add_option("--min-nodes", min_nodes_, "Place nothing until this many nodes have joined")
    ->check(CLI::Range(1, 4096));
  c->add_option("--log-level", o_.log_level, "trace, debug, info, warn, error, critical, off")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  node_cmd_ = cli.add_subcommand(
    "node", "Run a cluster node: join the controller, host the instances it places here, take "
            "requests at this node's gateway");
  auto* n = node_cmd_;
  n->add_option("app", app_file_, "App file (YAML), the same as the controller's")
    ->required()
    ->check(CLI::ExistingFile);
  n->add_option("--join", join_, "The controller's HOST:PORT")->required();
  n->add_option("--name", name_, "This node's name in the cluster (unique)")->required();
  n->add_option("--ca", ca_, "The cluster CA's certificate (PEM; scripts/cluster-certs)")->required();
  n->add_option("--cert", cert_, "This node's certificate (PEM), signed by the CA")->required();
  n->add_option("--key", key_, "Its private key (PEM)")->required();
  n->add_option("--cpus", cpus_, "CPUs instances may use, e.g. 0-3 (default: all); its capacity");
  n->add_option("--cpu-capacity", cpu_capacity_,
                 "Cores placement may give instances here (default: how many --cpus, or all "
                 "CPUs); above the CPU count overcommits, as Kubernetes requests may")
    ->check(CLI::Range(0.01, 4096.0));
  n->add_option("--memory", memory_, "Memory instances may use, e.g. 4GiB (default: 4GiB)");
  n->add_option("--speed", speed_, "Relative CPU speed for placement (1 = reference)")
    ->check(CLI::Range(0.01, 1000.0));
  n->add_option("--data", data_, "HOST:PORT for the data link from other nodes (default: the "
                                 "--listen host, a free port)");
  n->add_option("--as-version", as_version_, "Testing only: claim another spry version")
    ->group("");
  gateway::add_overrides(*n, o_);
}

std::optional<int> commands::run(int argc, char** argv) {
  if (controller_cmd_->parsed())
    return run_controller();
  if (node_cmd_->parsed())
    return run_node(argc, argv);
  return std::nullopt;
}

int commands::run_controller() {
  gateway::setup_logging(o_.log_level);
  auto app = gateway::load_checked_app(app_file_);
  if (!app) {
    std::cerr << "spry: " << app.err().message << "\n";
    return 2;
  }
  auto addr = parse_address(listen_, "--listen", true);
  if (!addr) {
    std::cerr << "spry: " << addr.err().message << "\n";
    return 2;
  }
  tls_files tls{ca_, cert_, key_};
  if (auto ok = check(tls); !ok) {
    std::cerr << "spry: " << ok.err().message << "\n";
    return 2;
  }
  const sigset_t stop_signals = gateway::block_stop_signals();
  caf::actor_system_config cfg;
  configure(cfg, tls);
  add_message_types(cfg);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  controller_options opts;
  opts.app = *app;
  opts.app_digest = app_digest_of_file(app_file_);
  opts.version = version();
  opts.chain_aware = !spread_chains_;
  opts.min_nodes = min_nodes_;
  auto ctrl = spawn_controller(sys, std::move(opts));
  if (!ctrl) {
    std::cerr << "spry: " << ctrl.err().message << "\n";
    return 2;
  }
  auto port = caf::openssl::publish(*ctrl, addr->second, addr->first.c_str(), true);
  if (!port) {
    std::cerr << "spry: cannot listen on " << listen_ << ": " << sys.render(port.error()) << "\n";
    caf::anon_send_exit(*ctrl, caf::exit_reason::user_shutdown);
    return 1;
  }
  std::printf("spry: controller of app '%s' listening on %s:%u (mutual TLS; %s placement)\n",
              app->name.c_str(), addr->first.c_str(), *port,
              spread_chains_ ? "per-function" : "chain-aware");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("controller: received {}, stopping (nodes keep serving)", strsignal(sig));
  caf::anon_send_exit(*ctrl, caf::exit_reason::user_shutdown);
  return 0;
}

int commands::run_node(int argc, char** argv) {
  auto app = core::load_app_file(app_file_, gateway::transports());
  if (!app) {
    std::cerr << "spry: " << app.err().message << "\n";
    return 2;
  }
  if (auto ok = gateway::apply_overrides(*app, o_); !ok) {
    std::cerr << "spry: " << ok.err().message << "\n";
    return 2;
  }
  core::function_registry functions;
  // Instance processes this node starts run the same command line: be that instance.
  if (auto code = gateway::run_process_role(*app, functions))
    return *code;
  gateway::setup_logging(o_.log_level);
  // The same checks as every command that takes an app file, after the overrides applied.
  if (auto compiled = core::compile(*app); !compiled) {
    std::cerr << "spry: " << compiled.err().message << "\n";
    return 2;
  }
  if (auto p = gateway::make_app_policies(*app); !p) {
    std::cerr << "spry: " << p.err().message << "\n";
    return 2;
  }
  if (!app->mqtt.broker.empty()) {
    // Every node's gateway is a client of the same broker: its own client id (one id per broker
    // connection, or they take each other's session over), and the cluster's shared subscription,
    // so each message is processed by one node, not by every node.
    app->mqtt.client_id += "-" + name_;
    app->mqtt.share_group = "spry-" + app->name;
  }
  node_options opts;
  auto join = parse_address(join_, "--join", false);
  if (!join) {
    std::cerr << "spry: " << join.err().message << "\n";
    return 2;
  }
  opts.controller_host = join->first;
  opts.controller_port = join->second;
  opts.name = name_;
  opts.tls = {ca_, cert_, key_};
  opts.version = as_version_.empty() ? version() : as_version_;
  opts.app_digest = app_digest_of_file(app_file_);
  opts.speed = speed_;
  opts.cpu_capacity = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  if (!cpus_.empty()) {
    auto cpus = parse_cpu_list(cpus_);
    if (!cpus) {
      std::cerr << "spry: " << cpus.err().message << "\n";
      return 2;
    }
    opts.cpu_capacity = static_cast<double>(cpus->size());
    // Instances of this node run on these CPUs: the app's one node is this machine's share.
    app->nodes = {core::node_spec{name_, *cpus, 0, speed_, 0, {}}};
  }
  if (cpu_capacity_ > 0)
    opts.cpu_capacity = cpu_capacity_;
  opts.memory_mb = 4096;
  if (!memory_.empty()) {
    auto bytes = core::parse_size(memory_);
    if (!bytes || *bytes == 0) {
      std::cerr << "spry: --memory: expected a size like 4GiB, got '" << memory_ << "'\n";
      return 2;
    }
    opts.memory_mb = static_cast<double>(*bytes) / 1048576.0;
  }
  opts.data_host = app->gateway.host;
  if (!data_.empty()) {
    auto d = parse_address(data_, "--data", true);
    if (!d) {
      std::cerr << "spry: " << d.err().message << "\n";
      return 2;
    }
    opts.data_host = d->first;
    opts.data_port = d->second;
  }
  const sigset_t stop_signals = gateway::block_stop_signals();
  core::launch_spec launcher;
  for (int i = 0; i < argc; ++i)
    launcher.argv.emplace_back(argv[i]);
  opts.launcher = std::move(launcher);
  const std::string http_host = app->gateway.host;
  opts.app = std::move(*app);
  opts.functions = std::move(functions);
  auto agent = node_agent::start(std::move(opts));
  if (!agent) {
    std::cerr << "spry: " << agent.err().message << "\n";
    return 1;
  }
  std::printf("spry: node '%s' listening on http://%s:%u, data link %s; joining %s\n",
              name_.c_str(), http_host.c_str(),
              (*agent)->http_port(), (*agent)->data_address().c_str(), join_.c_str());
  std::fflush(stdout);
  // A refusal for good (another version, another app) ends the node with the reason.
  std::thread watch([&] {
    const auto why = (*agent)->refused(30000);
    if (!why.empty()) {
      std::fprintf(stderr, "spry: the controller refused this node: %s\n", why.c_str());
      kill(getpid(), SIGTERM);
    }
  });
  int sig = 0;
  sigwait(&stop_signals, &sig);
  const bool refused = !(*agent)->refused(0).empty();
  spdlog::info("node '{}': received {}, shutting down (draining up to {} ms)", name_,
               strsignal(sig), o_.drain_ms);
  (*agent)->stop(o_.drain_ms);
  watch.join();
  agent->reset();
  return refused ? 3 : 0;
}

} // namespace spry::cluster
