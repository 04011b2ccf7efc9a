#include "adapters/cloudevents/cloudevent.hpp"

#include "core/utf8.hpp"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace spry::adapters::cloudevents {

using nlohmann::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view media_type(std::string_view ct) {
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && ct.back() == ' ')
    ct.remove_suffix(1);
  return ct;
}

} // namespace

std::string validate(const json& e) {
  if (!e.is_object())
    return "a CloudEvent must be a JSON object";
  auto sv = e.find("specversion");
  if (sv == e.end())
    return "missing required attribute 'specversion'";
  if (!sv->is_string() || *sv != "1.0")
    return "unsupported specversion " + sv->dump() + " (this gateway speaks CloudEvents 1.0)";
  for (const char* required : {"id", "source", "type"}) {
    auto i = e.find(required);
    if (i == e.end())
      return std::string("missing required attribute '") + required + "'";
    if (!i->is_string() || i->get_ref<const std::string&>().empty())
      return std::string("attribute '") + required + "' must be a non-empty string";
  }
  for (const char* optional : {"subject", "time", "datacontenttype", "dataschema"}) {
    auto i = e.find(optional);
    if (i != e.end() && !i->is_string())
      return std::string("attribute '") + optional + "' must be a string";
  }
  if (e.contains("data") && e.contains("data_base64"))
    return "an event carries either 'data' or 'data_base64', not both";
  for (auto& [k, v] : e.items()) {
    if (k == "data" || k == "data_base64")
      continue;
    for (char c : k)
      if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c))))
        return "attribute name '" + k + "' must be lower-case letters and digits";
  }
  return {};
}

std::string rfc3339(uint64_t unix_ms) {
  const std::time_t s = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03uZ", static_cast<unsigned>(unix_ms % 1000));
  return std::string(buf, n) + ms;
}

bool is_json_type(std::string_view content_type) {
  const auto t = lower(media_type(content_type));
  return t == "application/json" || t == "text/json" ||
         (t.size() > 5 && t.compare(t.size() - 5, 5, "+json") == 0);
}

std::string set_data(json& e, std::string_view payload, std::string_view content_type) {
  if (is_json_type(content_type)) {
    try {
      e["data"] = json::parse(payload);
    } catch (const json::exception& x) {
      return "data is not valid JSON (" + std::string(content_type) + "): " + x.what();
    }
    return {};
  }
  const auto t = lower(media_type(content_type));
  if (t.compare(0, 5, "text/") == 0) {
    e["data"] = std::string(payload);
    // nlohmann refuses to serialize invalid UTF-8 later: find out now.
    try {
      (void)e["data"].dump();
      return {};
    } catch (const json::exception&) {
      e.erase("data");
    }
  }
  if (!payload.empty())
    e["data_base64"] = base64_encode(payload);
  return {};
}

std::optional<json> parse_structured(std::string_view bytes, std::string& why) {
  json e;
  try {
    e = json::parse(bytes);
  } catch (const json::exception& x) {
    why = std::string("structured CloudEvent is not valid JSON: ") + x.what();
    return std::nullopt;
  }
  why = validate(e);
  if (!why.empty())
    return std::nullopt;
  return e;
}

std::optional<json> from_binary(const core::adapter_request& in, std::string& why) {
  json e = json::object();
  for (size_t i = 0; i < in.header_count; ++i) {
    const auto& h = in.headers[i];
    if (h.name.size() > 3 && h.name.compare(0, 3, "ce-") == 0) {
      auto value = percent_decode(h.value);
      if (!value) {
        why = "header " + std::string(h.name) +
              ": bad percent-encoding ('%' must be followed by two hex digits, and the decoded "
              "value must be UTF-8)";
        return std::nullopt;
      }
      e[std::string(h.name.substr(3))] = std::move(*value);
    }
  }
  if (!in.content_type.empty())
    e["datacontenttype"] = std::string(in.content_type);
  if (!e.contains("specversion")) {
    why = "missing required attribute 'specversion' (header ce-specversion)";
    return std::nullopt;
  }
  why = validate(e);
  if (!why.empty()) {
    // Name the header a binary-mode client has to fix.
    for (const char* a : {"id", "source", "type"})
      if (why.find(std::string("'") + a + "'") != std::string::npos)
        why += std::string(" (header ce-") + a + ")";
    return std::nullopt;
  }
  why = set_data(e, in.payload, in.content_type);
  if (!why.empty())
    return std::nullopt;
  return e;
}

std::optional<json> from_mqtt_binary(const core::adapter_request& in, std::string& why) {
  json e = json::object();
  for (size_t i = 0; i < in.header_count; ++i) {
    const auto& h = in.headers[i];
    // User properties that cannot be attribute names (other metadata a publisher added) are not
    // part of the event.
    bool attribute = !h.name.empty() && h.name != "data" && h.name != "data_base64";
    for (const char c : h.name)
      attribute = attribute && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
    if (!attribute)
      continue;
    const std::string name(h.name);
    if (e.contains(name)) {
      why = "user property '" + name + "' appears more than once (an attribute has one value)";
      return std::nullopt;
    }
    e[name] = std::string(h.value);
  }
  // The Content Type property is datacontenttype (binding 3.1.1); a datacontenttype user
  // property stands in when there is none.
  if (!in.content_type.empty())
    e["datacontenttype"] = std::string(in.content_type);
  if (!e.contains("specversion")) {
    why = "missing required attribute 'specversion' (user property specversion)";
    return std::nullopt;
  }
  why = validate(e);
  if (!why.empty()) {
    for (const char* a : {"id", "source", "type"})
      if (why.find(std::string("'") + a + "'") != std::string::npos)
        why += std::string(" (user property ") + a + ")";
    return std::nullopt;
  }
  if (!e.contains("subject"))
    e["subject"] = std::string(in.topic);
  const std::string ct = e.value("datacontenttype", std::string());
  why = set_data(e, in.payload, ct);
  if (!why.empty())
    return std::nullopt;
  return e;
}

json wrap(const core::adapter_request& in, std::string_view type, const json& data) {
  json e = json::object();
  e["specversion"] = "1.0";
  if (in.protocol == "mqtt") {
    // MQTT 3.1.1 gives a message no identity that survives a redelivery (packet ids are reused),
    // so the id is the message's own: a hash of topic and payload. A redelivered message has the
    // same id (CloudEvents: equal source + id means a duplicate); two distinct readings that are
    // byte-for-byte equal on one topic would too, which devices avoid by sending a timestamp.
    uint64_t h = 1469598103934665603ull; // FNV-1a 64
    auto mix = [&h](std::string_view s) {
      for (const unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
      }
    };
    mix(in.topic);
    mix(std::string_view("\0", 1));
    mix(in.payload);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    e["id"] = std::string("mqtt-") + hex;
    if (in.redelivered)
      e["redelivered"] = true; // an extension attribute: the broker may have delivered it before
  } else {
    e["id"] = std::to_string(in.now_unix_ms) + "-" + std::to_string(in.request_id);
  }
  e["source"] = std::string(in.origin.empty() ? std::string_view("spry") : in.origin);
  e["type"] = std::string(type);
  e["subject"] = std::string(in.topic);
  e["time"] = rfc3339(in.now_unix_ms);
  e["datacontenttype"] = "application/json";
  e["data"] = data;
  return e;
}

void write_structured(const json& e, core::adapter_ingress& out) {
  std::string text;
  try {
    text = e.dump();
  } catch (const json::exception& x) {
    out.error = std::string("cannot encode the event: ") + x.what();
    return;
  }
  if (text.size() > out.capacity) {
    out.error = "the event is " + std::to_string(text.size()) +
                " bytes as JSON, more than the chain's buffers hold (" +
                std::to_string(out.capacity) + " bytes; raise pool.buffer_size)";
    return;
  }
  std::memcpy(out.data, text.data(), text.size());
  out.length = static_cast<uint32_t>(text.size());
  out.content_type = std::string(structured_type);
}

namespace {

// How binary mode names and writes attributes: HTTP headers `ce-NAME` with percent-encoded
// values (HTTP binding 3.1.3); MQTT 5 User Properties `NAME` with the value as it is (MQTT
// binding 3.1.3: names unchanged, MQTT strings are UTF-8 already).
struct binary_style {
  const char* prefix;
  bool percent;
  std::string value(std::string_view v) const { return percent ? percent_encode(v) : std::string(v); }
};

void to_protocol(const core::adapter_request& in, uint32_t mode, core::adapter_reply& reply,
                 const binary_style& style) {
  if (mode == plain || reply.status >= 400)
    return;
  json e;
  std::string why;
  if (lower(media_type(reply.content_type)) == structured_type) {
    auto parsed = parse_structured(reply.body, why);
    if (!parsed) {
      reply.status = 502;
      reply.content_type = "text/plain";
      reply.body = "the chain answered an invalid CloudEvent: " + why + "\n";
      return;
    }
    e = std::move(*parsed);
  } else {
    // A plain result becomes the data of a reply event.
    e = json::object();
    e["specversion"] = "1.0";
    e["id"] = std::to_string(in.request_id) + "-reply";
    e["source"] = "spry";
    e["type"] = "org.spry.chain.result";
    if (!reply.topic.empty())
      e["subject"] = reply.topic;
    e["time"] = rfc3339(in.now_unix_ms);
    if (!reply.content_type.empty())
      e["datacontenttype"] = reply.content_type;
    if (mode == binary) {
      for (auto& [k, v] : e.items())
        if (k != "datacontenttype")
          reply.headers.emplace_back(style.prefix + k, style.value(v.get<std::string>()));
      return; // body and Content-Type stay as the chain made them
    }
    set_data(e, reply.body, reply.content_type);
  }
  if (mode == structured) {
    reply.content_type = std::string(structured_type);
    reply.body = e.dump();
    return;
  }
  // binary: attributes to ce-* headers, data to the body.
  std::string ct = e.value("datacontenttype", std::string());
  for (auto& [k, v] : e.items()) {
    if (k == "data" || k == "data_base64" || k == "datacontenttype")
      continue;
    reply.headers.emplace_back(style.prefix + k,
                               style.value(v.is_string() ? v.get<std::string>() : v.dump()));
  }
  if (e.contains("data_base64")) {
    reply.body = base64_decode(e["data_base64"].get<std::string>()).value_or(std::string());
  } else if (e.contains("data")) {
    const auto& d = e["data"];
    reply.body = d.is_string() && !is_json_type(ct) ? d.get<std::string>() : d.dump();
    if (ct.empty())
      ct = d.is_string() ? "text/plain" : "application/json";
  } else {
    reply.body.clear();
  }
  reply.content_type = ct.empty() ? "application/octet-stream" : ct;
}

} // namespace

void to_http(const core::adapter_request& in, uint32_t mode, core::adapter_reply& reply) {
  to_protocol(in, mode, reply, binary_style{"ce-", true});
}

void to_mqtt(const core::adapter_request& in, uint32_t mode, core::adapter_reply& reply) {
  // Structured: the PUBLISH payload is the whole event as JSON; the content type
  // application/cloudevents+json goes out as the MQTT 5 Content Type property (binding 3.2.1),
  // and is implied with 3.1.1, which has no field for it. Binary (MQTT 5 only): attributes as
  // User Properties, datacontenttype as the Content Type, the data as the payload.
  if (mode == structured || (mode == binary && in.protocol_version >= 5))
    to_protocol(in, mode, reply, binary_style{"", false});
}

std::string percent_encode(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '%') {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Well-formed UTF-8 (core/utf8.hpp): what the JSON encoder accepts, so a decoded attribute can
// always be written out again.
bool valid_utf8(std::string_view s) { return core::well_formed_utf8(s); }

} // namespace

std::optional<std::string> percent_decode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out += value[i];
      continue;
    }
    if (value.size() - i < 3)
      return std::nullopt;
    const int hi = hex_digit(value[i + 1]), lo = hex_digit(value[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  if (!valid_utf8(out))
    return std::nullopt;
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size())
      v |= uint8_t(bytes[i + 1]) << 8;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? tbl[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=')
      break;
    const int v = val(c);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

} // namespace spry::adapters::cloudevents
