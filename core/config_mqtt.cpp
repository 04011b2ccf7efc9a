// The `mqtt:` section of the app file: broker, session, limits and the subscriptions, with the
// CloudEvents content mode each subscription's messages use.
#include "core/config_walker.hpp"

namespace spry::core::config_detail {

namespace {

int parse_qos(const walker& w, const YAML::Node& n, const std::string& path) {
  const auto q = w.uint(n, path, 2);
  if (q > 1)
    w.fail(n, path + ": QoS 2 is not supported (use 0 or 1)");
  return static_cast<int>(q);
}

} // namespace

mqtt_spec parse_mqtt(const walker& w, const YAML::Node& n) {
  w.expect_map(n, "mqtt");
  w.only_keys(n, "mqtt", {"broker", "client_id", "keepalive", "reconnect_min", "reconnect_max",
                          "backpressure_wait", "persistent_session", "max_message_size", "share_group",
                          "subscriptions"});
  mqtt_spec m;
  m.where = w.at(n);
  if (!n["broker"])
    w.fail(n, "mqtt: missing required key 'broker' (e.g. broker: tcp://127.0.0.1:1883)");
  m.broker = w.str(n["broker"], "mqtt.broker");
  if (m.broker.rfind("tcp://", 0) != 0 && m.broker.rfind("mqtt://", 0) != 0)
    w.fail(n["broker"], "mqtt.broker: expected tcp://HOST:PORT, got '" + m.broker + "'");
  if (n["client_id"]) {
    m.client_id = w.str(n["client_id"], "mqtt.client_id");
    if (m.client_id.empty() || m.client_id.size() > 65535)
      w.fail(n["client_id"], "mqtt.client_id: must be 1 to 65535 bytes (leave it out for spry-APP)");
  }
  if (n["share_group"]) {
    m.share_group = w.str(n["share_group"], "mqtt.share_group");
    if (m.share_group.empty() || m.share_group.find_first_of("/+#") != std::string::npos)
      w.fail(n["share_group"], "mqtt.share_group: must be a non-empty name without '/', '+' or '#'");
  }
  if (n["keepalive"])
    m.keepalive_ms = w.duration(n["keepalive"], "mqtt.keepalive");
  if (n["reconnect_min"])
    m.reconnect_min_ms = w.duration(n["reconnect_min"], "mqtt.reconnect_min");
  if (n["reconnect_max"])
    m.reconnect_max_ms = w.duration(n["reconnect_max"], "mqtt.reconnect_max");
  if (m.reconnect_max_ms < m.reconnect_min_ms)
    w.fail(n, "mqtt: reconnect_max must be at least reconnect_min");
  if (n["backpressure_wait"])
    m.backpressure_wait_ms = w.duration(n["backpressure_wait"], "mqtt.backpressure_wait");
  if (!n["subscriptions"] || !n["subscriptions"].IsSequence())
    w.fail(n, "mqtt: expected 'subscriptions', a list of {filter, chain, qos, adapter, reply_topic}");
  const auto& subs = n["subscriptions"];
  for (size_t i = 0; i < subs.size(); ++i) {
    const auto path = "mqtt.subscriptions[" + std::to_string(i) + "]";
    const auto& s = subs[i];
    w.expect_map(s, path);
    w.only_keys(s, path, {"filter", "chain", "qos", "adapter", "reply_topic", "reply_qos",
                          "content_mode"});
    mqtt_subscription sub;
    sub.where = w.at(s);
    for (const char* k : {"filter", "chain"})
      if (!s[k])
        w.fail(s, path + ": missing required key '" + k + "'");
    sub.filter = w.str(s["filter"], path + ".filter");
    if (sub.filter.empty())
      w.fail(s["filter"], path + ".filter: must not be empty");
    const auto hash = sub.filter.find('#');
    if (hash != std::string::npos && (hash + 1 != sub.filter.size() ||
                                      (hash > 0 && sub.filter[hash - 1] != '/')))
      w.fail(s["filter"], path + ".filter: '#' must be the last level of the filter ('a/#')");
    sub.chain = w.str(s["chain"], path + ".chain");
    if (s["qos"])
      sub.qos = parse_qos(w, s["qos"], path + ".qos");
    if (s["adapter"])
      sub.adapter = w.str(s["adapter"], path + ".adapter");
    if (s["reply_topic"])
      sub.reply_topic = w.str(s["reply_topic"], path + ".reply_topic");
    if (s["reply_qos"])
      sub.reply_qos = parse_qos(w, s["reply_qos"], path + ".reply_qos");
    if (s["content_mode"]) {
      sub.content_mode = w.str(s["content_mode"], path + ".content_mode");
      // The CloudEvents MQTT binding 1.0.2 (section 3.2): binary mode puts the attributes into
      // MQTT 5 user properties and the Content Type property; MQTT 3.1.1 has neither, so there
      // only structured mode exists. spry's client speaks 3.1.1.
      if (sub.content_mode == "binary")
        w.fail(s["content_mode"],
               path + ".content_mode: binary CloudEvents over MQTT need MQTT 5 (the attributes "
                      "travel as user properties); spry's MQTT client speaks MQTT 3.1.1, where "
                      "the CloudEvents MQTT binding has structured mode only. Use content_mode: "
                      "structured (the event as JSON in the payload) or leave it out");
      if (sub.content_mode != "structured")
        w.fail(s["content_mode"], path + ".content_mode: expected structured, got '" +
                                    sub.content_mode + "'");
      if (sub.adapter.empty())
        w.fail(s["content_mode"], path + ".content_mode: needs an adapter that speaks "
                                         "CloudEvents (adapter: cloudevents)");
    }
    m.subscriptions.push_back(std::move(sub));
  }
  m.persistent_session = std::any_of(m.subscriptions.begin(), m.subscriptions.end(),
                                     [](const mqtt_subscription& s) { return s.qos >= 1; });
  if (n["persistent_session"]) {
    const auto v = w.str(n["persistent_session"], "mqtt.persistent_session");
    if (v != "true" && v != "false")
      w.fail(n["persistent_session"],
             "mqtt.persistent_session: expected true or false, got '" + v + "'");
    m.persistent_session = v == "true";
  }
  if (n["max_message_size"]) {
    // 256 MiB - 1 is the largest packet MQTT's remaining-length field can describe.
    m.max_message_size = static_cast<uint32_t>(
      w.size(n["max_message_size"], "mqtt.max_message_size", 268435455));
    if (m.max_message_size == 0)
      w.fail(n["max_message_size"], "mqtt.max_message_size: must be at least 1 byte");
  }
  return m;
}

} // namespace spry::core::config_detail
