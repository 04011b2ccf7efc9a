#pragma once
// The app model: functions, chains, routes, gateway listeners, pools, transport, policies.
// Both ways of writing an app produce one: the YAML file (config.hpp) and the C++ builder
// (app.hpp). compile() applies the rules of every key (app_rules.hpp: validate()), checks the
// cross-references and turns names into ids and routes.
//
// Every element remembers where it was declared (file:line:col for YAML, nothing for C++), so a
// mistake is reported at the place the user has to fix.

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/route_table.hpp"
#include "core/source_location.hpp"
#include "core/transport_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace spry::core {

struct function_spec {
  std::string name;
  std::string handler;        ///< registered function body; defaults to name
  /// Instances the autoscaler keeps at least (0 allows scale to zero; keep-warm 1 is the
  /// default: on event-driven transports a warm, idle instance costs no CPU).
  uint32_t min_instances = 1;
  uint32_t max_instances = 1; ///< and at most (with `fixed` scaling: min_instances run)
  uint32_t concurrency = 1;   ///< requests one instance runs at once
  // What the control plane needs to size and place the function:
  double cpu = 1;                       ///< cores one instance gets at full size
  uint64_t memory = 128ull << 20;       ///< bytes one instance is budgeted on its node
  uint32_t slo_ms = 0;                  ///< response-time objective; 0 = none
  double slo_percentile = 0.95;         ///< fraction of requests that must meet it
  double weight = 1;                    ///< share under overload (fair share)
  source_location where;
};

/// A policy chosen by name, with its tuning knobs: `kpa`, or `{name: kpa, params: {k: v}}`.
/// Checked against the policy registries when the app starts (and by `spry check`).
struct policy_choice {
  std::string name;
  std::vector<std::pair<std::string, std::string>> params;
  source_location where;
};

/// How instance counts follow load (`policies.autoscaler`).
struct autoscaling_spec {
  /// "fixed" keeps every function at max_instances (what an app without the key gets).
  policy_choice policy{"fixed", {}, {}};
  uint32_t interval_ms = 2000; ///< one scaling decision per function every interval
  /// Requests waiting for a function at zero instances (held at the gateway until one is ready),
  /// per function; beyond it the gateway answers 503.
  uint32_t hold_limit = 1024;
};

/// A node of this machine: a set of CPUs and a memory budget. Instances placed on it are pinned
/// to its CPUs. Without `nodes:`, one node holds every CPU.
struct node_spec {
  std::string name;
  std::vector<unsigned> cpus; ///< CPU ids (sched affinity); empty = all
  uint64_t memory = 0;        ///< bytes; 0 = unbounded
  double speed = 1;           ///< relative CPU speed, for placement scoring
  /// Cores each instance process placed on this node may use (cgroup cpu.max / cfs quota, the
  /// mechanism LaSS's deflation uses); 0 = no limit. Makes a node really slower on a test
  /// machine (a heterogeneous cluster on one box), unlike `speed`, which only informs placement.
  double instance_cpu_limit = 0;
  source_location where;
};

struct route_spec {
  std::string from;
  std::string topic{any_topic};
  std::string to; ///< a function name or "end"
  source_location where;
};

struct http_binding {
  std::string method = "POST";
  std::string path; ///< prefix; "/hello" matches "/hello" and "/hello/..."
};

struct pool_spec {
  uint32_t buffers = 1024;
  uint32_t buffer_size = 64 * 1024; ///< payload bytes per buffer; also the largest response
};

struct chain_spec {
  std::string name;
  http_binding http;
  std::vector<std::string> functions; ///< linear chain sugar: each routes to the next, last to end
  std::string head;                   ///< entry function when only `routes` are given
  std::vector<route_spec> routes;
  pool_spec pool;
  uint32_t timeout_ms = 10000; ///< whole-chain deadline; 504 past it
  /// Protocol adapter (an `adapters:` name) HTTP requests of this chain go through; "" = none.
  std::string adapter;
  source_location where;
};

/// A protocol adapter loaded from a shared library when the gateway starts (`adapters:`).
struct adapter_spec {
  std::string name;    ///< the name the library registers it under
  std::string library; ///< path, resolved against the app file like `libraries:`
  source_location where;
};

/// One MQTT topic filter mapped to a chain (`mqtt.subscriptions`).
struct mqtt_subscription {
  std::string filter;      ///< MQTT topic filter; `+` and `#` wildcards
  std::string chain;       ///< chain name; the chain's first topic is the PUBLISH's topic
  int qos = 1;             ///< 0 or 1
  std::string adapter;     ///< an `adapters:` name; "" hands the raw payload to the chain
  /// Where the chain's result is published; "" = nowhere. `{topic}` is the topic the chain's last
  /// function set, `{1}`..`{9}` the levels of the incoming topic ("lights/{2}").
  std::string reply_topic;
  int reply_qos = 0;
  /// CloudEvents content mode of the messages on this filter: "" (the adapter decides per
  /// message), "structured" (every PUBLISH payload is a structured JSON event and the reply is
  /// one) or "binary" (MQTT 5 only: the attributes are User Properties, the Content Type property
  /// is datacontenttype, the payload is the data; the reply goes out the same way). MQTT 3.1.1
  /// has neither property, so there only "" and "structured" are accepted.
  std::string content_mode;
  source_location where;
};

/// MQTT ingress: the gateway is a client of a broker (`mqtt:`).
struct mqtt_spec {
  std::string broker; ///< tcp://HOST:PORT; "" = no MQTT
  /// Stable across restarts: a persistent session is found again by it. Default "spry-APP".
  std::string client_id;
  /// The MQTT protocol level the gateway speaks (`mqtt.protocol`): 4 = MQTT 3.1.1 (default), 5 =
  /// MQTT 5 (properties: binary CloudEvents, session expiry, reason codes).
  int protocol = 4;
  /// Non-clean session (MQTT 3.1.1 CleanSession=0; MQTT 5 Clean Start=0 with a Session Expiry
  /// Interval): the broker keeps the subscriptions and queues QoS 1 messages while the gateway is
  /// away, and redelivers what it did not acknowledge. Default: on when any subscription has QoS 1.
  bool persistent_session = false;
  /// MQTT 5 (`mqtt.session_expiry`): how long the broker keeps a persistent session after the
  /// connection ends, in seconds; 0xffffffff = for ever ("never"). Default 1 h.
  uint32_t session_expiry_s = 3600;
  /// A PUBLISH larger than this is not read into memory: it is skipped on the socket, counted as
  /// rejected and acknowledged (so it does not come back).
  uint32_t max_message_size = 1u << 20;
  /// Set (`mqtt.share_group`, or by the cluster for its nodes): every filter is subscribed as the
  /// MQTT shared subscription "$share/GROUP/FILTER", so the broker hands each message to one
  /// member of the group (mosquitto 2 does this for MQTT 3.1.1 clients too). "" = a plain
  /// subscription.
  std::string share_group;
  uint32_t keepalive_ms = 10000;
  uint32_t reconnect_min_ms = 100;  ///< first reconnect delay after the broker went away ...
  uint32_t reconnect_max_ms = 5000; ///< ... doubling up to this
  /// How long the MQTT client thread waits for a free pool buffer before it drops a message
  /// (backpressure: while it waits, the broker holds further messages).
  uint32_t backpressure_wait_ms = 1000;
  std::vector<mqtt_subscription> subscriptions;
  source_location where;
};

struct gateway_spec {
  std::string host = "127.0.0.1";
  uint16_t port = 8080; ///< 0 picks a free port (printed at start-up)
  unsigned io_threads = 1;
  uint64_t body_limit = 1 << 20;       ///< 413 above it
  uint32_t header_timeout_ms = 10000;  ///< 408 if the request head does not arrive in time
  uint32_t body_timeout_ms = 30000;    ///< 408 if the body does not arrive in time
  uint32_t idle_timeout_ms = 60000;    ///< keep-alive connections idle longer are closed
  source_location where;
};

/// Instance processes (every transport but local): readiness, restarts.
struct instances_spec {
  uint32_t ready_timeout_ms = 10000;      ///< an instance not ready by then fails start-up
  uint32_t restart_backoff_ms = 100;      ///< first restart delay; doubles per crash
  uint32_t restart_backoff_max_ms = 10000;
  uint32_t crash_loop_restarts = 5;       ///< this many crashes within the window ...
  uint32_t crash_loop_window_ms = 30000;  ///< ... is reported as a crash loop
  /// How an instance process starts: "exec" runs this program again; "fork" asks a pre-forked,
  /// initialised template process (core/instance_template.hpp) to fork one, skipping the
  /// program's loading and the app's parsing. Not the default yet: a forked instance's
  /// /proc/PID/environ is the gateway's, and function libraries run their load-time code once
  /// in the gateway rather than in each instance.
  std::string start = "exec";
  /// With start "fork": how many spare processes the template forks ahead and keeps waiting
  /// (core/instance_template.hpp). A scale-up takes a spare instead of two forks; the set is
  /// refilled once no instance is starting. A waiting spare costs no CPU and the memory of a
  /// forked copy of the gateway that has touched almost nothing (page tables, a few pages).
  /// 0: none. At most 64.
  uint32_t spare = 4;
};

/// How a request finds its next function.
enum class routing_mode {
  direct, ///< the instance sends straight to the next function (SPRIGHT's DFR)
  broker, ///< every result goes back to the gateway, which forwards it (Knative's broker)
};

struct app_spec {
  std::string name = "app";
  std::string transport = "local";
  source_location transport_where;
  std::string load_balancer = "round_robin";
  source_location load_balancer_where;
  autoscaling_spec autoscaling;
  policy_choice placement{"spread", {}, {}};
  std::vector<node_spec> nodes;
  unsigned worker_threads = 0; ///< CAF scheduler threads; 0 = one per core
  std::string routing;         ///< "direct", "broker", or "" for the transport's default
  source_location routing_where;
  instances_spec instances;
  /// The transports' own sections (`tcp:`, `dpdk:`), by key: parsed and read by the transport
  /// that registered each (config_section.hpp); absent sections mean that transport's defaults.
  transport_configs transport_settings;
  gateway_spec gateway;
  std::vector<std::string> libraries; ///< function libraries, paths resolved against the file
  std::vector<adapter_spec> adapters;
  mqtt_spec mqtt;
  std::vector<function_spec> functions;
  std::vector<chain_spec> chains;
};

/// Names turned into ids: function i is functions[i], chain c is chains[c].
struct compiled_app {
  std::vector<function_id> heads; ///< head function per chain
  std::vector<route_table::rule> rules;
};

/// Checks everything that can be checked without running: the rules of every key (validate()),
/// unique names, known functions in chains and routes, an entry and an exit for every chain.
/// Errors carry locations.
/// Transport sections are checked by their transports (runtime::check), not here.
expected<compiled_app> compile(const app_spec& app);

/// Routes that are valid but let requests fail at run time, as far as the app file shows it.
struct route_findings {
  /// Knowable from the file: a function a chain can reach with no route on from it (every
  /// request that reaches it fails with 502). One line each, with the chain's location.
  std::vector<std::string> warnings;
  /// Not knowable from the file (functions choose topics in code): the functions that route only
  /// the topics they list, with no "*" fallback, so a topic they set or keep that is not listed
  /// fails with 502. One line for the whole app; empty when there are none.
  std::string note;
};
/// Empty findings for an app that does not compile.
route_findings check_routes(const app_spec& app);

/// The routing in effect: the app's `routing:`, else the transport's default (`broker_default`:
/// broker, as the tcp baseline registers; direct elsewhere).
routing_mode effective_routing(const app_spec& app, bool broker_default);

/// Index of a function by name, or no_function.
function_id find_function(const app_spec& app, const std::string& name);

/// Every function chain `c` may run (its linear list, its head, every route's ends), once each, in
/// the order they first appear. Whole-chain warm-up starts all of them for one request.
std::vector<function_id> functions_of_chain(const app_spec& app, chain_id c);

} // namespace spry::core
