#include "gateway/run.hpp"

#include "bench/driver/commands.hpp"
#include "core/config.hpp"
#include "core/instance_process.hpp"
#include "core/runtime.hpp"
#include "gateway/adapter_command.hpp"
#include "gateway/adapter_set.hpp"
#include "gateway/app_policies.hpp"
#include "gateway/server.hpp"
#include "gateway/status_command.hpp"
#include "policies/lab/lab_main.hpp"
#include "policies/autoscaling/autoscaler.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "policies/placement/placement_engine.hpp"
#include "policies/prediction/rate_predictor.hpp"
#include "transports/register.hpp"
#include "transports/tcp/pod_network.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace spry::gateway {

namespace {

struct overrides {
  std::string listen;
  std::string transport;
  unsigned io_threads = 0;
  unsigned workers = 0;
  std::string log_level = "info";
  unsigned drain_ms = 5000;
  std::string mqtt_broker;
  bool namespaces = false;
  std::string xdp_tc_redirect; // "", "on", "off"
};

void add_overrides(CLI::App& cmd, overrides& o) {
  cmd.add_option("--listen", o.listen, "Gateway address HOST:PORT (port 0 picks a free port)");
  cmd.add_option("--transport", o.transport, "Transport to use instead of the app's own "
                                             "(see `spry transports`)");
  cmd.add_option("--io-threads", o.io_threads, "Gateway HTTP I/O threads")->check(CLI::Range(1, 256));
  cmd.add_option("--workers", o.workers, "Actor scheduler threads (0 = one per core)");
  cmd.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, critical, off")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  cmd.add_option("--drain", o.drain_ms, "On shutdown, wait up to this many ms for in-flight requests");
  cmd.add_option("--mqtt-broker", o.mqtt_broker,
                 "MQTT broker tcp://HOST:PORT to use instead of the app's mqtt.broker");
  cmd.add_flag("--namespaces", o.namespaces,
               "tcp: run the gateway and every instance in a network namespace of its own (pods), "
               "as tcp.namespaces: true (needs root)");
  cmd.add_option("--xdp-tc-redirect", o.xdp_tc_redirect,
                 "tcp with namespaces: eBPF FIB-lookup redirect between pods, as "
                 "tcp.xdp_tc_redirect (on implies --namespaces)")
    ->check(CLI::IsMember({"on", "off"}));
}

void setup_logging(const std::string& level) {
  // stdout belongs to the program's own output (the "listening on" line); logs go to stderr.
  auto logger = spdlog::stderr_color_mt("spry");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

core::status_or_error apply(core::app_spec& app, const overrides& o) {
  if (!o.listen.empty()) {
    const auto colon = o.listen.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return core::make_error("--listen: expected HOST:PORT, got '" + o.listen + "'");
    try {
      const auto port = std::stoul(o.listen.substr(colon + 1));
      if (port > 65535)
        throw std::out_of_range("port");
      app.gateway.port = static_cast<uint16_t>(port);
    } catch (const std::exception&) {
      return core::make_error("--listen: port must be 0..65535, got '" + o.listen.substr(colon + 1) + "'");
    }
    app.gateway.host = o.listen.substr(0, colon);
  }
  if (!o.transport.empty()) {
    app.transport = o.transport;
    app.transport_where = {};
  }
  if (o.io_threads)
    app.gateway.io_threads = o.io_threads;
  if (!o.mqtt_broker.empty()) {
    if (app.mqtt.subscriptions.empty())
      return core::make_error("--mqtt-broker: the app has no `mqtt:` subscriptions");
    app.mqtt.broker = o.mqtt_broker;
  }
  if (o.workers)
    app.worker_threads = o.workers;
  if (o.namespaces || o.xdp_tc_redirect == "on")
    app.tcp.namespaces = true;
  if (!o.xdp_tc_redirect.empty())
    app.tcp.xdp_tc_redirect = o.xdp_tc_redirect == "on";
  if (app.tcp.namespaces && app.transport == "tcp" && (app.tcp.sidecar || app.tcp.front_end != "none"))
    return core::make_error("tcp.namespaces is not supported together with tcp.sidecar or "
                            "tcp.front_end yet (they listen on loopback outside the pods)");
  if ((o.namespaces || !o.xdp_tc_redirect.empty()) && app.transport != "tcp")
    return core::make_error("--namespaces and --xdp-tc-redirect apply to transport tcp only, not '" +
                            app.transport + "'");
  return {};
}

// Blocks SIGINT/SIGTERM in this thread before any other thread exists, so every thread inherits
// the mask and the signals are taken only by sigwait below.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int serve(core::app_spec app, core::function_registry functions, const overrides& o,
          int argc, char** argv) {
  if (auto ok = apply(app, o); !ok) {
    std::cerr << "spry: " << ok.err().message << "\n";
    return 2;
  }
  // Started in a transport's own role (tcp's queue-proxy sidecar): be that.
  for (const auto* e : transports().entries())
    if (e->role_main)
      if (auto code = e->role_main())
        return *code;
  // Started by the instance supervisor: be that instance instead of a gateway. The app went
  // through exactly the same parsing and overrides as in the gateway process.
  if (auto role = core::instance_role_from_env()) {
    if (!*role) {
      std::cerr << "spry: " << role->err().message << "\n";
      return 2;
    }
    core::runtime_options opts;
    opts.transports = &transports();
    opts.balancers = &balancers();
    return core::run_instance(std::move(app), std::move(functions), **role, opts);
  }
  const sigset_t stop_signals = block_stop_signals();
  core::launch_spec launcher;
  for (int i = 0; i < argc; ++i)
    launcher.argv.emplace_back(argv[i]);
  // Namespaces as pods: set up before any thread exists, then this (only) thread moves into the
  // gateway's pod, so every thread the gateway starts, and every socket, lives there.
  std::shared_ptr<spry::transports::tcp::pod_network> pods;
  if (app.transport == "tcp" && app.tcp.namespaces) {
    auto net = spry::transports::tcp::pod_network::create({app.tcp.xdp_tc_redirect});
    if (!net) {
      std::cerr << "spry: " << net.err().message << "\n";
      return 1;
    }
    pods = *net;
    if (auto in = pods->enter_gateway_pod(); !in) {
      std::cerr << "spry: " << in.err().message << "\n";
      return 1;
    }
    app.gateway.host = pods->gateway_ip();
    launcher.network = pods;
  }
  const std::string name = app.name;
  const std::string transport = app.transport;
  auto srv = server::start(std::move(app), std::move(functions), std::move(launcher));
  if (!srv) {
    std::cerr << "spry: " << srv.err().message << "\n";
    return 1;
  }
  auto& rt = (*srv)->runtime();
  std::printf("spry: app '%s' on transport %s: %zu instance(s) of %zu function(s), %zu chain(s); "
              "listening on http://%s:%u\n",
              name.c_str(), transport.c_str(), rt.instance_count(), rt.app().functions.size(),
              rt.app().chains.size(), rt.app().gateway.host.c_str(), (*srv)->port());
  for (const auto& c : rt.app().chains)
    if (!c.http.path.empty())
      std::printf("spry:   %s %s -> chain '%s'%s\n", c.http.method.c_str(), c.http.path.c_str(),
                c.name.c_str(), c.adapter.empty() ? "" : (" (adapter " + c.adapter + ")").c_str());
  for (const auto& s : rt.app().mqtt.subscriptions)
    std::printf("spry:   MQTT %s (QoS %d) at %s -> chain '%s'%s%s\n", s.filter.c_str(), s.qos,
                rt.app().mqtt.broker.c_str(), s.chain.c_str(),
                s.adapter.empty() ? "" : (" (adapter " + s.adapter + ")").c_str(),
                s.reply_topic.empty() ? "" : (", replies to " + s.reply_topic).c_str());
  if (pods)
    std::printf("spry: pods: gateway in namespace spry-%d-gateway, clients from namespace %s "
                "(%s), xdp_tc_redirect %s\n",
                static_cast<int>(getpid()), pods->client_namespace().c_str(),
                pods->client_ip().c_str(), pods->redirect() ? "on" : "off");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down (draining up to {} ms)", strsignal(sig), o.drain_ms);
  (*srv)->stop(o.drain_ms);
  srv->reset();
  if (pods) { // counted by the forwarding programs over the whole run (all zero when off)
    const auto c = pods->counters();
    std::printf("spry: xdp_tc_redirect counters: redirected=%llu passed=%llu (not_ipv4=%llu "
                "fragment=%llu ttl=%llu no_fib=%llu no_neigh=%llu foreign=%llu)\n",
                (unsigned long long)c.redirected, (unsigned long long)c.passed(),
                (unsigned long long)c.pass_not_ipv4, (unsigned long long)c.pass_fragment,
                (unsigned long long)c.pass_ttl, (unsigned long long)c.pass_no_fib,
                (unsigned long long)c.pass_no_neigh, (unsigned long long)c.pass_foreign);
    std::fflush(stdout);
  }
  spdlog::info("stopped");
  return 0;
}

} // namespace

int run(core::app& app, int argc, char** argv) {
  CLI::App cli{"spry app '" + app.spec().name + "': serves its chains behind the spry gateway"};
  overrides o;
  add_overrides(cli, o);
  CLI11_PARSE(cli, argc, argv);
  setup_logging(o.log_level);
  for (const auto& e : app.errors()) {
    std::cerr << "spry: " << e << "\n";
    return 2;
  }
  return serve(app.spec(), app.functions(), o, argc, argv);
}

int spry_main(int argc, char** argv) {
  // `spry lab ...` is the policy lab's own command line (its options, its --help); it is listed
  // below for `spry --help` but handed its arguments untouched here.
  if (argc >= 2 && std::string(argv[1]) == "lab") {
    std::string name = "spry lab";
    std::vector<char*> args{name.data()};
    args.insert(args.end(), argv + 2, argv + argc);
    args.push_back(nullptr);
    return policies::lab::lab_main(argc - 1, args.data());
  }
  CLI::App cli{"spry: serverless function chains on shared memory, eBPF and actors.\n"
               "Run an app described in YAML, check one, or list what this build contains."};
  cli.require_subcommand(1);

  overrides o;
  std::string app_file;
  auto* run_cmd = cli.add_subcommand("run", "Start the gateway and the app's instances; serve "
                                            "until SIGINT/SIGTERM");
  run_cmd->add_option("app", app_file, "App file (YAML)")->required()->check(CLI::ExistingFile);
  add_overrides(*run_cmd, o);

  std::string check_file;
  auto* check_cmd = cli.add_subcommand("check", "Validate an app file and its function libraries "
                                                "without serving");
  check_cmd->add_option("app", check_file, "App file (YAML)")->required()->check(CLI::ExistingFile);

  cli.add_subcommand("transports", "List the transports compiled into this build");
  cli.add_subcommand("policies", "List the policies compiled into this build");
  cli.add_subcommand("version", "Print the version");
  std::string status_address;
  bool status_json = false;
  auto* status_cmd = cli.add_subcommand("status", "Show a running gateway's functions, instances, "
                                                  "nodes and policy decisions (GET /status)");
  status_cmd->add_option("address", status_address, "The gateway's HOST:PORT")->required();
  status_cmd->add_flag("--json", status_json, "Print the raw JSON");
  std::string adapter_action, adapter_address, adapter_name, adapter_library;
  auto* adapter_cmd = cli.add_subcommand("adapter", "Load, replace, unload or list a running "
                                                    "gateway's protocol adapters");
  adapter_cmd->add_option("action", adapter_action, "list, load or unload")
    ->required()
    ->check(CLI::IsMember({"list", "load", "unload"}));
  adapter_cmd->add_option("address", adapter_address, "The gateway's HOST:PORT")->required();
  adapter_cmd->add_option("name", adapter_name, "Adapter name (load, unload)");
  adapter_cmd->add_option("library", adapter_library, "Adapter library path (load)");
  cli.add_subcommand("lab", "Run a policy-lab experiment: `spry lab EXPERIMENT.yaml` "
                            "(see `spry lab --help`)");
  bench::commands bench_commands(cli); // spry bench, spry audit (bench/driver/)

  CLI11_PARSE(cli, argc, argv);

  if (status_cmd->parsed())
    return status_command(status_address, status_json);
  if (auto code = bench_commands.run())
    return *code;
  if (adapter_cmd->parsed()) {
    if (adapter_action != "list" && adapter_name.empty()) {
      std::cerr << "spry adapter " << adapter_action << ": give the adapter's NAME\n";
      return 2;
    }
    if (adapter_action == "load" && adapter_library.empty()) {
      std::cerr << "spry adapter load: give the adapter library's PATH\n";
      return 2;
    }
    return adapter_command(adapter_action, adapter_address, adapter_name, adapter_library);
  }
  if (cli.got_subcommand("version")) {
    std::printf("spry 0.1.0\n");
    return 0;
  }
  if (cli.got_subcommand("transports")) {
    core::transport_registry reg;
    spry::transports::register_all(reg);
    for (const auto* e : reg.entries())
      std::printf("%-10s %s\n", e->name.c_str(), e->description.c_str());
    return 0;
  }
  if (cli.got_subcommand("policies")) {
    auto print = [](const char* kind, const std::vector<std::string>& names) {
      for (const auto& n : names)
        std::printf("%-16s %s\n", kind, n.c_str());
    };
    policies::load_balancing::load_balancer_registry lb;
    policies::load_balancing::register_all(lb);
    print("load_balancer", lb.names());
    policies::autoscaling::autoscaler_registry as;
    policies::autoscaling::register_all(as);
    print("autoscaler", as.names());
    policies::placement::placement_registry pl;
    policies::placement::register_all(pl);
    print("placement", pl.names());
    policies::prediction::rate_predictor_registry rp;
    policies::prediction::register_all(rp);
    print("rate_predictor", rp.names());
    return 0;
  }
  setup_logging(run_cmd->parsed() ? o.log_level : "warn");
  const std::string& file = run_cmd->parsed() ? app_file : check_file;
  auto app = core::load_app_file(file);
  if (!app) {
    std::cerr << "spry: " << app.err().message << "\n";
    return 2;
  }
  // Everything checkable without running is checked before anything starts (exit code 2, like
  // a syntax error), so a broken file never brings up half an app.
  if (auto compiled = core::compile(*app); !compiled) {
    std::cerr << "spry: " << compiled.err().message << "\n";
    return 2;
  }
  if (auto p = make_app_policies(*app); !p) {
    std::cerr << "spry: " << p.err().message << "\n";
    return 2;
  }
  if (check_cmd->parsed()) {
    core::function_registry fns;
    std::vector<std::shared_ptr<core::function_library>> libs;
    for (const auto& path : app->libraries) {
      auto lib = core::function_library::load(path, fns);
      if (!lib) {
        std::cerr << "spry: " << lib.err().message << "\n";
        return 2;
      }
      libs.push_back(*lib);
    }
    for (const auto& a : app->adapters) {
      adapter_set adapters;
      if (auto loaded = adapters.load(a.name, a.library); !loaded) {
        std::cerr << "spry: " << a.where.prefix() << loaded.err().message << "\n";
        return 2;
      }
    }
    for (const auto& f : app->functions)
      if (!fns.find(f.handler)) {
        std::cerr << "spry: " << f.where.prefix() << "function '" << f.name
                  << "': no handler named '" << f.handler << "' in the app's libraries\n";
        return 2;
      }
    std::printf("%s: ok: app '%s', transport %s, %zu function(s), %zu chain(s)\n", file.c_str(),
                app->name.c_str(), app->transport.c_str(), app->functions.size(),
                app->chains.size());
    return 0;
  }
  return serve(std::move(*app), core::function_registry{}, o, argc, argv);
}

} // namespace spry::gateway
