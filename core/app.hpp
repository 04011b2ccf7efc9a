#pragma once
// Composing an app in plain C++: register functions as lambdas or objects, declare chains and
// routes, then hand the app to spry::gateway::run (gateway/run.hpp).
//
//   spry::core::app app("hello");
//   app.function("upper", [](spry::core::message& m) { ... }).instances(0, 4).concurrency(8);
//   app.function("count", count_words{}).resources(0.5, 64 << 20).slo(50);
//   app.chain("hello").http("POST", "/hello").then("upper").then("count");
//   app.autoscaler("kpa", {{"target", "10"}}).placement("mu").load_balancer("least_connections");
//   app.mqtt("tcp://127.0.0.1:1883").subscribe("sensors/#", "hello");
//   return spry::gateway::run(app, argc, argv);
//
// The builder writes the same app_spec the YAML file does (config.hpp), so both are checked and
// run by the same code: every key of the app file has a call here, named as in the file (the
// table in the README maps one to the other). A setting left alone keeps the app file's default.
// Mistakes are reported when the app starts (or by compile()), by the same rules and in the same
// words as for the file (core/app_rules.hpp: "chains[0].pool.buffers: must be at least 1"), only
// without a file:line.
//
// Contract of every builder call: it records what it is given and returns at once; it checks
// nothing (so calls may come in any order) and is not thread-safe (build the app on one thread,
// before run()). A builder returned by app::function/chain/mqtt stays valid while its app lives;
// its calls write into that app.

#include "core/app_spec.hpp"
#include "core/function.hpp"

#include <string>
#include <utility>
#include <vector>

namespace spry::core {

class app;

/// `key: value` knobs of a policy chosen by name (`params:` in the app file).
using policy_params = std::vector<std::pair<std::string, std::string>>;

/// A function's settings (`functions[i]` in the app file). Returned by app::function.
class function_builder {
public:
  /// Instances the autoscaler keeps between `min` (0: scale to zero) and `max`.
  function_builder& instances(uint32_t min, uint32_t max);
  /// Requests one instance runs at once (`concurrency`).
  function_builder& concurrency(uint32_t n);
  /// Cores and memory bytes one instance is budgeted (`cpu`, `memory`).
  function_builder& resources(double cpu, uint64_t memory_bytes);
  /// Response-time objective: `percentile` of requests within `ms` (`slo`).
  function_builder& slo(uint32_t ms, double percentile = 0.95);
  /// Share under overload (`weight`).
  function_builder& weight(double w);
  /// The name the function's body is registered under (`handler`), when it differs from the
  /// function's name: a body a library of the app defines (app::library), or another function's.
  function_builder& handler(std::string name);

private:
  friend class app;
  function_builder(app* owner, size_t index) : owner_(owner), index_(index) {}
  function_spec& spec();
  app* owner_;
  size_t index_;
};

/// A chain (`chains[i]`). Returned by app::chain.
class chain_builder {
public:
  /// The HTTP method and path prefix that enter the chain (default POST /NAME).
  chain_builder& http(std::string method, std::string path);
  /// Appends a function to the linear sequence (`functions:`).
  chain_builder& then(const std::string& function);
  /// Adds a topic route (`routes:`): after `from`, a message with `topic` (any_topic, "*", for
  /// every topic) goes to `to`, a function or "end" to finish the chain.
  chain_builder& route(std::string from, std::string topic, std::string to);
  /// No HTTP route (an app file chain without `http:`): only an MQTT subscription starts it.
  chain_builder& no_http();
  /// The entry function when the chain is given by routes only (`head`).
  chain_builder& head(std::string function);
  /// The chain's buffers (`pool: {buffers, buffer_size}`); buffer_size is also the largest answer.
  chain_builder& pool(uint32_t buffers, uint32_t buffer_size);
  /// Whole-chain deadline (`timeout`); 504 past it.
  chain_builder& timeout_ms(uint32_t ms);
  /// HTTP requests of this chain go through the protocol adapter named `name` (`adapter`).
  chain_builder& adapter(std::string name);

private:
  friend class app;
  chain_builder(app* owner, size_t index) : owner_(owner), index_(index) {}
  chain_spec& spec();
  app* owner_;
  size_t index_;
};

/// MQTT ingress (`mqtt:`). Returned by app::mqtt.
class mqtt_builder {
public:
  /// Maps a topic filter to a chain (`mqtt.subscriptions`); answers go to `reply_topic` if set.
  mqtt_builder& subscribe(std::string filter, std::string chain, int qos = 1,
                          std::string reply_topic = {}, int reply_qos = 0,
                          std::string adapter = {});
  /// A subscription with every key of `mqtt.subscriptions[i]` (content_mode too); its `where`
  /// is ignored.
  mqtt_builder& subscribe(mqtt_subscription s);
  /// `client_id`; default "spry-APP".
  mqtt_builder& client_id(std::string id);
  /// `persistent_session`; default: on when any subscription has QoS 1 (as in the file).
  mqtt_builder& persistent_session(bool on);
  /// Every filter as the shared subscription "$share/GROUP/FILTER" (`share_group`).
  mqtt_builder& share_group(std::string group);
  mqtt_builder& keepalive_ms(uint32_t ms);
  /// `reconnect_min` and `reconnect_max`: first delay after the broker went away, doubling up to
  /// the second.
  mqtt_builder& reconnect_ms(uint32_t min_ms, uint32_t max_ms);
  /// `backpressure_wait`.
  mqtt_builder& backpressure_wait_ms(uint32_t ms);
  /// `max_message_size` in bytes.
  mqtt_builder& max_message_size(uint32_t bytes);

private:
  friend class app;
  explicit mqtt_builder(app* owner) : owner_(owner) {}
  mqtt_spec& spec();
  app* owner_;
};

class app {
public:
  explicit app(std::string name);

  /// Registers a function under `name` (also its handler name), with min = max = `instances`
  /// (the app file's default is 1); the returned builder sets the rest.
  function_builder function(const std::string& name, function_body body, uint32_t instances = 1);
  /// Declares a function whose body the app's libraries define (app::library), registered there
  /// under `handler` (`- {name: NAME, handler: HANDLER}` in the file; empty: NAME). min = max =
  /// 1 as in the file.
  function_builder function(const std::string& name, std::string handler = {});
  chain_builder chain(std::string name);
  app& transport(std::string name);
  app& listen(std::string host, uint16_t port);
  /// The gateway's settings (`gateway:`): threads, body limit, timeouts. Keeps what listen() set
  /// when `g` leaves host and port at their defaults.
  app& gateway(const gateway_spec& g);
  /// `policies.load_balancer`.
  app& load_balancer(std::string name);
  /// `policies.autoscaler`: by name with its params, one decision every `interval_ms`; at most
  /// `hold_limit` requests wait per function at zero instances (`hold_limit`).
  app& autoscaler(std::string name, policy_params params = {}, uint32_t interval_ms = 2000,
                  uint32_t hold_limit = 1024);
  /// `policies.placement`.
  app& placement(std::string name, policy_params params = {});
  /// A node of this machine (`nodes:`): CPUs (empty: all), memory bytes (0: unbounded), speed,
  /// and the cores each instance placed on it may use (`instance_cpu_limit`, 0: no limit).
  app& node(std::string name, std::vector<unsigned> cpus, uint64_t memory = 0, double speed = 1,
            double instance_cpu_limit = 0);
  /// A function library to load when the app starts (`libraries:`); a relative path is taken
  /// as is (the file resolves it against its own folder).
  app& library(std::string path);
  /// Actor scheduler threads (`workers`; 0: one per core).
  app& workers(unsigned n);
  /// A protocol adapter loaded from a shared library (`adapters:`).
  app& adapter(std::string name, std::string library);
  /// "direct" or "broker" (`routing:`); default: broker on tcp, direct elsewhere.
  app& routing(std::string mode);
  /// MQTT ingress through the broker at `broker` (tcp://HOST:PORT); client id "spry-APP" unless
  /// set. Calling it again keeps what was set and changes the broker.
  mqtt_builder mqtt(std::string broker);
  /// Instance process settings, as the app file's `instances:`.
  app& instances(const instances_spec& s);
  /// A transport's own settings, as its section of the app file: the transport's header makes
  /// them (e.g. spry::transports::tcp::tcp_config, the `tcp:` section). Replaces what an earlier
  /// call gave for the same section; checked with the rest when the app starts.
  app& configure(const transport_config& settings);

  app_spec& spec() noexcept { return spec_; }
  const app_spec& spec() const noexcept { return spec_; }
  function_registry& functions() noexcept { return functions_; }
  /// Errors from registration (duplicate names) surface when the app is started.
  const std::vector<std::string>& errors() const noexcept { return errors_; }

private:
  friend class function_builder;
  friend class chain_builder;
  friend class mqtt_builder;
  app_spec spec_;
  function_registry functions_;
  std::vector<std::string> errors_;
  bool mqtt_session_set_ = false; ///< persistent_session() was called: no QoS-based default
};

} // namespace spry::core
