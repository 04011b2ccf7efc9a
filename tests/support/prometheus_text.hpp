#pragma once
// A checker for the Prometheus text exposition format (version 0.0.4), written against the
// format's rules: `# HELP name text`, `# TYPE name type` at most once per family and before its
// samples, samples `name{label="value",...} value [timestamp]` with valid metric and label
// names, escaped label values, float values (incl. +Inf, -Inf, NaN), all lines of a family
// together, histograms with `le` buckets ending in +Inf and matching _count. Returns the first
// violation as "line N: reason", or an empty string.

#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace spry::test {

inline std::string prometheus_text_error(const std::string& text) {
  static const std::regex metric_name("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");
  std::map<std::string, std::string> types;
  std::set<std::string> closed; // families whose lines ended (a later line would split them)
  std::string current;
  std::map<std::string, double> inf_bucket, count;
  auto family_of = [&](const std::string& name) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        const auto base = name.substr(0, name.size() - s.size());
        if (types.count(base) && (types[base] == "histogram" || types[base] == "summary"))
          return base;
      }
    }
    return name;
  };
  auto enter = [&](const std::string& family) -> std::string {
    if (family == current)
      return {};
    if (closed.count(family))
      return "family '" + family + "' is split across the text";
    if (!current.empty())
      closed.insert(current);
    current = family;
    return {};
  };
  auto parse_value = [](const std::string& v, double& out) {
    if (v == "+Inf" || v == "Inf") {
      out = INFINITY;
      return true;
    }
    if (v == "-Inf") {
      out = -INFINITY;
      return true;
    }
    if (v == "NaN") {
      out = NAN;
      return true;
    }
    char* end = nullptr;
    out = std::strtod(v.c_str(), &end);
    return !v.empty() && end == v.c_str() + v.size();
  };
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string at = "line " + std::to_string(n) + ": ";
    if (line.empty())
      continue;
    if (line[0] == '#') {
      std::istringstream ls(line.substr(1));
      std::string kw, name, rest;
      ls >> kw >> name;
      if (kw != "HELP" && kw != "TYPE")
        continue; // a plain comment
      if (!std::regex_match(name, metric_name))
        return at + "bad metric name '" + name + "' in # " + kw;
      if (auto e = enter(name); !e.empty())
        return at + e;
      if (kw == "TYPE") {
        ls >> rest;
        static const std::set<std::string> known{"counter", "gauge", "histogram", "summary", "untyped"};
        if (!known.count(rest))
          return at + "unknown type '" + rest + "'";
        if (types.count(name))
          return at + "second # TYPE for '" + name + "'";
        types[name] = rest;
      }
      continue;
    }
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ')
      ++i;
    const std::string name = line.substr(0, i);
    if (!std::regex_match(name, metric_name))
      return at + "bad metric name '" + name + "'";
    std::map<std::string, std::string> labels;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos)
          return at + "label without '='";
        const std::string ln = line.substr(i, eq - i);
        if (!std::regex_match(ln, label_name))
          return at + "bad label name '" + ln + "'";
        if (eq + 1 >= line.size() || line[eq + 1] != '"')
          return at + "label value not quoted";
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size() || (line[j + 1] != '\\' && line[j + 1] != '"' && line[j + 1] != 'n'))
              return at + "bad escape in label value";
            ++j;
          }
          value += line[j];
        }
        if (j >= line.size())
          return at + "unterminated label value";
        if (labels.count(ln))
          return at + "label '" + ln + "' twice";
        labels[ln] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',')
          ++i;
        else if (i < line.size() && line[i] != '}')
          return at + "expected ',' or '}' after a label";
      }
      if (i >= line.size())
        return at + "unterminated label set";
      ++i;
    }
    if (i >= line.size() || line[i] != ' ')
      return at + "expected a space before the value";
    std::istringstream vs(line.substr(i + 1));
    std::string value, ts, extra;
    vs >> value >> ts >> extra;
    double v = 0;
    if (!parse_value(value, v))
      return at + "bad value '" + value + "'";
    if (!ts.empty() && ts.find_first_not_of("-0123456789") != std::string::npos)
      return at + "bad timestamp '" + ts + "'";
    if (!extra.empty())
      return at + "trailing text '" + extra + "'";
    const std::string family = family_of(name);
    if (auto e = enter(family); !e.empty())
      return at + e;
    if (types.count(family) && types[family] == "histogram") {
      std::string key;
      for (const auto& [k, val] : labels)
        if (k != "le")
          key += k + "=" + val + ",";
      if (name == family + "_bucket") {
        if (!labels.count("le"))
          return at + "histogram bucket without le";
        if (labels["le"] == "+Inf")
          inf_bucket[family + "|" + key] = v;
      } else if (name == family + "_count") {
        count[family + "|" + key] = v;
      }
    }
  }
  for (const auto& [k, c] : count)
    if (!inf_bucket.count(k) || inf_bucket[k] != c)
      return "histogram " + k + ": _count does not equal the +Inf bucket";
  return {};
}

} // namespace spry::test
