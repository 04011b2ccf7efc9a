// The `spry` command line: one subcommand per role (run, check, status, adapter, library, bench,
// audit, lab, controller, node). It sits above gateway/, bench/, the lab and cluster/, and only
// parses: every subcommand's work lives in its library.
#include "bench/driver/commands.hpp"
#include "cli/new_project.hpp"
#include "cluster/commands.hpp"
#include "core/config.hpp"
#include "gateway/adapter_command.hpp"
#include "gateway/library_command.hpp"
#include "gateway/app_check.hpp"
#include "gateway/app_policies.hpp"
#include "gateway/exit_code.hpp"
#include "gateway/run.hpp"
#include "gateway/server.hpp"
#include "gateway/status_command.hpp"
#include "policies/autoscaling/autoscaler.hpp"
#include "policies/lab/lab_main.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "policies/placement/placement_engine.hpp"
#include "policies/prediction/rate_predictor.hpp"
#include "transports/register.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

namespace spry::cli {

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
  cli.footer(gateway::exit_codes_help());

  gateway::overrides o;
  std::string app_file;
  auto* run_cmd = cli.add_subcommand("run", "Start the gateway and the app's instances; serve "
                                            "until SIGINT/SIGTERM");
  run_cmd->add_option("app", app_file, "App file (YAML)")->required()->check(CLI::ExistingFile);
  gateway::add_overrides(*run_cmd, o);

  std::string check_file;
  auto* check_cmd = cli.add_subcommand("check", "Validate an app file and its function libraries "
                                                "without serving");
  check_cmd->add_option("app", check_file, "App file (YAML)")->required()->check(CLI::ExistingFile);
  bool check_dump = false;
  check_cmd->add_flag("--dump", check_dump,
                      "Also print the transport settings in effect as app file sections (the "
                      "app's own transport's with their defaults when the file leaves them out)");

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
  std::string library_action, library_address, library_path;
  auto* library_cmd = cli.add_subcommand("library", "Hot reload a running gateway's function "
                                                    "library: `spry library reload HOST:PORT PATH`");
  library_cmd->add_option("action", library_action, "reload")
    ->required()
    ->check(CLI::IsMember({"reload"}));
  library_cmd->add_option("address", library_address, "The gateway's HOST:PORT")->required();
  library_cmd->add_option("library", library_path, "The new function library's path")->required();
  cli.add_subcommand("lab", "Run a policy-lab experiment: `spry lab EXPERIMENT.yaml` "
                            "(see `spry lab --help`)");
  new_project_options new_opts;
  auto* new_cmd = cli.add_subcommand("new", "Scaffold an app: a function library, its app file, a "
                                            "bench workload and a CMake project that builds "
                                            "against the installed spry (find_package(spry))");
  new_cmd->add_option("name", new_opts.name, "The app's name: [a-z][a-z0-9_]*")->required();
  new_cmd->add_option("--dir", new_opts.directory, "Where to write it (default: ./NAME; must be "
                                                   "absent or empty)");
  new_cmd->add_option("--listen", new_opts.listen, "The address the app file and README use")
    ->capture_default_str();
  bench::commands bench_commands(cli); // spry bench, spry audit (bench/driver/)
  cluster::commands cluster_commands(cli); // spry controller, spry node (cluster/)

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's own codes (105 for a missing file, ...) would be a third kind of "wrong input".
    return cli.exit(e) == 0 ? gateway::exit_code::ok : gateway::exit_code::invalid;
  }

  if (new_cmd->parsed())
    return new_project(new_opts);
  if (status_cmd->parsed())
    return gateway::status_command(status_address, status_json);
  if (auto code = bench_commands.run())
    return *code;
  if (auto code = cluster_commands.run(argc, argv))
    return *code;
  if (adapter_cmd->parsed()) {
    if (adapter_action != "list" && adapter_name.empty()) {
      std::cerr << "spry adapter " << adapter_action << ": give the adapter's NAME\n";
      return gateway::exit_code::invalid;
    }
    if (adapter_action == "load" && adapter_library.empty()) {
      std::cerr << "spry adapter load: give the adapter library's PATH\n";
      return gateway::exit_code::invalid;
    }
    return gateway::adapter_command(adapter_action, adapter_address, adapter_name, adapter_library);
  }
  if (library_cmd->parsed())
    return gateway::library_command(library_action, library_address, library_path);
  if (cli.got_subcommand("version")) {
    std::printf("spry %s\n", cluster::version());
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
  gateway::setup_logging(run_cmd->parsed() ? o.log_level : "warn");
  const std::string& file = run_cmd->parsed() ? app_file : check_file;
  // The file's own errors first (names, routes, policies: file:line), then, for check, the same
  // check of libraries, handlers, transport and adapters that run does before it starts.
  auto app = gateway::load_checked_app(file);
  if (!app) {
    std::cerr << "spry: " << app.err().message << "\n";
    return gateway::exit_code::invalid;
  }
  if (check_cmd->parsed()) {
    auto checked = gateway::check_app(*app, core::function_registry{});
    if (!checked) {
      std::cerr << "spry: " << checked.err().message << "\n";
      return gateway::exit_code::invalid;
    }
    for (const auto& w : checked->warnings)
      std::cerr << "spry: " << w << "\n";
    if (!checked->note.empty())
      std::cerr << "spry: " << checked->note << "\n";
    if (check_dump)
      std::printf("%s", gateway::dump_transport_settings(*app).c_str());
    const auto warnings = checked->warnings.size();
    std::printf("%s: ok: app '%s', transport %s, %zu function(s), %zu chain(s)%s\n", file.c_str(),
                app->name.c_str(), app->transport.c_str(), app->functions.size(),
                app->chains.size(),
                warnings ? (", " + std::to_string(warnings) + " warning(s)").c_str() : "");
    return gateway::exit_code::ok;
  }
  return gateway::serve(std::move(*app), core::function_registry{}, o, argc, argv);
}

} // namespace spry::cli

int main(int argc, char** argv) { return spry::cli::spry_main(argc, argv); }
