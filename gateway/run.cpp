#include "gateway/run.hpp"

#include "core/config.hpp"
#include "core/function_library.hpp"
#include "core/instance_process.hpp"
#include "core/node_preparation.hpp"
#include "core/instance_template.hpp"
#include "core/instance_actor_system.hpp"
#include "core/runtime.hpp"
#include "gateway/adapter_command.hpp"
#include "gateway/adapter_set.hpp"
#include "gateway/app_check.hpp"
#include "gateway/app_policies.hpp"
#include "gateway/exit_code.hpp"
#include "gateway/log_format.hpp"
#include "gateway/server.hpp"
#include "gateway/status_command.hpp"
#include "policies/autoscaling/autoscaler.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "policies/placement/placement_engine.hpp"
#include "policies/prediction/rate_predictor.hpp"
#include "transports/register.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace spry::gateway {

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
  // A transport's own options, as its section declares them: core and the CLI name no transport.
  for (const auto* section : transports().sections())
    for (const auto& opt : section->options) {
      auto& given = o.transport_options;
      const auto key = section->key;
      const auto name = opt.name;
      if (opt.choices.empty()) {
        cmd.add_flag_function(
          name, [&given, key, name](std::int64_t n) { given[key][name] = n > 0 ? "true" : "false"; },
          opt.help);
      } else {
        cmd
          .add_option_function<std::string>(
            name, [&given, key, name](const std::string& v) { given[key][name] = v; }, opt.help)
          ->check(CLI::IsMember(opt.choices));
      }
    }
}

std::string exit_codes_help() {
  return "Exit codes: " + std::to_string(exit_code::ok) + " served and stopped cleanly (check: valid); " +
         std::to_string(exit_code::failed) +
         " a valid app could not run here or failed while serving (privileges, port in use, an "
         "instance that never became ready); " +
         std::to_string(exit_code::invalid) +
         " the app file or the command line is wrong (everything `spry check` refuses; run "
         "refuses the same before starting); " +
         std::to_string(exit_code::refused) + " a cluster node refused by its controller.\n";
}

void setup_logging(const std::string& level) {
  // stdout belongs to the program's own output (the "listening on" line); logs go to stderr.
  auto logger = spdlog::stderr_color_mt("spry");
  spdlog::set_default_logger(logger);
  spdlog::set_formatter(make_log_formatter());
  spdlog::set_level(spdlog::level::from_str(level));
}

core::status_or_error apply_overrides(core::app_spec& app, const overrides& o) {
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
  for (const auto& [key, given] : o.transport_options) {
    const auto* section = transports().find_section(key);
    if (!section || !section->apply_options || given.empty())
      continue;
    if (app.transport != section->transport) {
      std::string names;
      for (size_t i = 0; i < section->options.size(); ++i)
        names += (i == 0 ? "" : i + 1 == section->options.size() ? " and " : ", ") +
                 section->options[i].name;
      return core::make_error(names + (section->options.size() > 1 ? " apply" : " applies") +
                              " to transport " + section->transport + " only, not '" +
                              app.transport + "'");
    }
    if (auto ok = section->apply_options(app, given); !ok)
      return ok;
  }
  return {};
}

core::expected<core::app_spec> load_checked_app(const std::string& file) {
  auto app = core::load_app_file(file, transports());
  if (!app)
    return app.err();
  if (auto compiled = core::compile(*app); !compiled)
    return compiled.err();
  if (auto p = make_app_policies(*app); !p)
    return p.err();
  return app;
}

sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

std::optional<int> run_process_role(core::app_spec& app, core::function_registry& functions) {
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
  return std::nullopt;
}

int serve(core::app_spec app, core::function_registry functions, const overrides& o,
          int argc, char** argv) {
  if (auto ok = apply_overrides(app, o); !ok) {
    std::cerr << "spry: " << ok.err().message << "\n";
    return exit_code::invalid;
  }
  if (auto code = run_process_role(app, functions))
    return *code;
  // Exactly what `spry check` checks, before anything starts: an app refused here is the file's
  // fault (exit 2), anything failing later is the machine's (exit 1).
  auto checked = check_app(app, functions);
  if (!checked) {
    std::cerr << "spry: " << checked.err().message << "\n";
    return exit_code::invalid;
  }
  for (const auto& w : checked->warnings)
    spdlog::warn("{}", w);
  const sigset_t stop_signals = block_stop_signals();
  core::launch_spec launcher;
  for (int i = 0; i < argc; ++i)
    launcher.argv.emplace_back(argv[i]);
  // What the transport sets up on this node (tcp.namespaces: pods): before any thread exists,
  // since it may move this (only) thread into the gateway's pod, so that every thread the
  // gateway starts, and every socket, lives there.
  std::unique_ptr<core::node_preparation> node;
  if (const auto* entry = transports().find(app.transport); entry && entry->prepare_node) {
    auto prepared = entry->prepare_node(app);
    if (!prepared) {
      std::cerr << "spry: " << prepared.err().message << "\n";
      return exit_code::failed;
    }
    node = std::move(*prepared);
    if (node)
      launcher.network = node->network();
  }
  // `instances: {start: fork}`: the template is forked here, the last point at which this
  // process still has one thread (server::start starts CAF, asio and the supervisor). It keeps
  // a copy of the parsed app and the loaded libraries; each instance it forks runs the
  // instance role on them, exactly as an exec'd instance does after parsing the same file.
  // The app's function libraries stay loaded from here on (in the gateway and so in the
  // template): an instance's own load of them then finds them mapped and relocated.
  // Only for transports whose instances are processes (the registry says which; run names none).
  core::function_registry preloaded = functions;
  const auto* transport_entry = transports().find(app.transport);
  if (app.instances.start == "fork" && transport_entry && !transport_entry->in_process_instances) {
    for (const auto& path : app.libraries)
      if (auto lib = core::function_library::load(path, preloaded); !lib)
        spdlog::warn("instances.start fork: cannot preload {}: {}", path, lib.err().message);
    auto forker = core::instance_template::start(
      [&app, &functions] {
        const auto code = run_process_role(app, functions);
        return code ? *code : exit_code::failed;
      },
      app.instances.spare, core::warm_up_actor_system,
      // A spare starts the actor system an instance of concurrency 1 runs before it is asked,
      // and does what its transport can do ahead (prepare_spare); not when instances enter a
      // network namespace of their own (pods): setns() moves only the calling thread, and the
      // threads and sockets made here would stay in the gateway's.
      launcher.network ? std::function<void()>{}
                       : std::function<void()>{[prepare = transport_entry->prepare_spare] {
                           core::prestart_actor_system();
                           if (prepare)
                             prepare();
                         }});
    if (forker)
      launcher.forker = std::move(*forker);
    else
      spdlog::warn("instances.start fork: {}; starting instances with exec", forker.err().message);
  }
  const std::string name = app.name;
  const std::string transport = app.transport;
  auto srv = server::start(std::move(app), std::move(functions), std::move(launcher));
  if (!srv) {
    std::cerr << "spry: " << srv.err().message << "\n";
    return exit_code::failed;
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
  if (node && !node->started().empty())
    std::printf("spry: %s\n", node->started().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down (draining up to {} ms)", strsignal(sig), o.drain_ms);
  (*srv)->stop(o.drain_ms);
  srv->reset();
  if (node && !node->stopped().empty()) {
    std::printf("spry: %s\n", node->stopped().c_str());
    std::fflush(stdout);
  }
  spdlog::info("stopped");
  return exit_code::ok;
}

int run(core::app& app, int argc, char** argv) {
  CLI::App cli{"spry app '" + app.spec().name + "': serves its chains behind the spry gateway"};
  overrides o;
  add_overrides(cli, o);
  cli.footer(exit_codes_help());
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? exit_code::ok : exit_code::invalid;
  }
  setup_logging(o.log_level);
  for (const auto& e : app.errors()) {
    std::cerr << "spry: " << e << "\n";
    return exit_code::invalid;
  }
  return serve(app.spec(), app.functions(), o, argc, argv);
}

} // namespace spry::gateway
