#pragma once
// MQTT topic names and filters (MQTT 3.1.1, section 4.7): which subscription a PUBLISH belongs
// to, and the reply topic a subscription's template makes of it. Pure functions; the MQTT
// ingress uses them on its client thread, tests call them directly.

#include <string>
#include <string_view>
#include <vector>

namespace spry::gateway {

/// The '/'-separated levels of a topic ("a//b" has an empty middle level).
inline std::vector<std::string_view> mqtt_levels(std::string_view topic) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const auto slash = topic.find('/', start);
    out.push_back(topic.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos)
      return out;
    start = slash + 1;
  }
}

/// true if `topic` matches `filter`: `+` matches exactly one level, a trailing `#` the parent
/// level and any number below it. Topics starting with '$' match no wildcard at the first level.
inline bool mqtt_topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#'))
    return false;
  const auto f = mqtt_levels(filter);
  const auto t = mqtt_levels(topic);
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#")
      return true; // "a/#" matches "a" too
    if (i >= t.size())
      return false;
    if (f[i] != "+" && f[i] != t[i])
      return false;
  }
  return f.size() == t.size();
}

/// A reply template expanded: `{topic}` is the topic the chain's last function set, `{N}` (1..9)
/// the N-th level of the incoming topic. Unknown placeholders stay as they are.
inline std::string mqtt_reply_topic(std::string_view tmpl, std::string_view incoming,
                                    std::string_view result_topic) {
  const auto levels = mqtt_levels(incoming);
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl.compare(i, 7, "{topic}") == 0) {
      out += result_topic;
      i += 6;
    } else if (tmpl[i] == '{' && i + 2 < tmpl.size() && tmpl[i + 1] >= '1' && tmpl[i + 1] <= '9' &&
               tmpl[i + 2] == '}') {
      const size_t n = static_cast<size_t>(tmpl[i + 1] - '1');
      if (n < levels.size())
        out += levels[n];
      i += 2;
    } else {
      out += tmpl[i];
    }
  }
  return out;
}

} // namespace spry::gateway
