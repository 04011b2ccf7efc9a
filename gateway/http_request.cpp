#include "gateway/http_request.hpp"

#include <algorithm>
#include <cctype>

namespace spry::gateway {

void apply_limits(request_parser& p, uint64_t body_limit) {
  p.header_limit(header_limit);
  p.body_limit(body_limit);
}

route_match match_route(const std::vector<core::chain_spec>& chains, std::string_view method,
                        std::string_view path) {
  route_match out;
  out.status = 404;
  size_t best = 0;
  for (size_t c = 0; c < chains.size(); ++c) {
    const auto& b = chains[c].http;
    if (b.path.empty())
      continue; // MQTT only
    const bool prefix = path.size() >= b.path.size() && path.compare(0, b.path.size(), b.path) == 0 &&
                        (path.size() == b.path.size() || path[b.path.size()] == '/' ||
                         b.path == "/");
    if (!prefix || b.path.size() < best)
      continue;
    if (b.method != method) {
      if (out.status != 0 && b.path.size() >= best) {
        out.status = 405;
        out.allow = b.method;
        best = b.path.size();
      }
      continue;
    }
    best = b.path.size();
    out.status = 0;
    out.chain = static_cast<core::chain_id>(c);
    auto rest = path.substr(std::min(path.size(), b.path.size()));
    while (!rest.empty() && rest.front() == '/')
      rest.remove_prefix(1);
    out.topic = std::string(rest);
  }
  return out;
}

reserved_path classify_reserved(std::string_view path) {
  if (path == "/admin/adapters" || path.rfind("/admin/adapters/", 0) == 0)
    return reserved_path::admin_adapters;
  if (path == "/admin/libraries")
    return reserved_path::admin_libraries;
  if (path == "/healthz")
    return reserved_path::healthz;
  if (path == "/metrics")
    return reserved_path::metrics;
  if (path == "/status")
    return reserved_path::status;
  return reserved_path::none;
}

std::string_view target_path(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() == '/')
    return path; // origin-form (the usual case) or nothing
  // absolute-form: scheme "://" authority [path]; the scheme is case-insensitive.
  const auto sep = path.find("://");
  if (sep == std::string_view::npos)
    return path; // asterisk-form or junk: no chain matches it
  const auto scheme = path.substr(0, sep);
  const auto is = [&](std::string_view want) {
    return scheme.size() == want.size() &&
           std::equal(scheme.begin(), scheme.end(), want.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  };
  if (!is("http") && !is("https"))
    return path;
  const auto rest = path.substr(sep + 3);
  const auto slash = rest.find('/');
  return slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
}

std::string host_problem(const request_parser::value_type& req) {
  const auto hosts = req.count(boost::beast::http::field::host);
  if (hosts > 1)
    return "request has " + std::to_string(hosts) + " Host header fields (RFC 9112: exactly one)";
  if (hosts == 0 && req.version() >= 11)
    return "HTTP/1.1 request without a Host header field (RFC 9112 requires one)";
  return {};
}

std::string too_large_text(uint64_t declared, uint64_t body_limit, uint64_t buffer_capacity,
                           std::string_view chain) {
  std::string out = declared ? "body of " + std::to_string(declared) + " bytes" : "body";
  if (buffer_capacity && buffer_capacity < body_limit)
    return out + " exceeds the " + std::to_string(buffer_capacity) + "-byte buffer of chain '" +
           std::string(chain) + "' (its pool.buffer_size; gateway.body_limit is " +
           std::to_string(body_limit) + " bytes)";
  return out + " exceeds gateway.body_limit of " + std::to_string(body_limit) + " bytes";
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::string query_value(std::string_view target, std::string_view key) {
  const auto q = target.find('?');
  if (q == std::string_view::npos)
    return {};
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto kv = rest.substr(0, amp);
    const auto eq = kv.find('=');
    if (kv.substr(0, eq) == key)
      return eq == std::string_view::npos ? std::string() : percent_decode(kv.substr(eq + 1));
    if (amp == std::string_view::npos)
      break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

std::vector<std::string> lower_case_names(const request_parser::value_type& req) {
  std::vector<std::string> names;
  names.reserve(16);
  for (const auto& f : req) {
    std::string n(f.name_string());
    for (auto& c : n)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.push_back(std::move(n));
  }
  return names;
}

} // namespace spry::gateway
