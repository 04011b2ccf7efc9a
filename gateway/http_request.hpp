#pragma once
// The pure part of the gateway's HTTP request handling: the limits the Beast parser runs with,
// which chain (or reserved path) a request goes to, the body-size decision, and the query-string
// and header helpers. http_server's sessions call these on their I/O threads; the HTTP fuzzer
// (fuzz/http_request_fuzz.cpp) and the tests call them directly, so what is fuzzed is what
// serves. Everything here is stateless and thread-safe.

#include "core/app_spec.hpp"
#include "core/ids.hpp"

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spry::gateway {

/// Largest request header accepted (431 above it).
inline constexpr unsigned header_limit = 16 * 1024;

using request_parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

/// Sets the parser's header and body limits as the gateway serves with them.
void apply_limits(request_parser& p, uint64_t body_limit);

struct route_match {
  uint16_t status = 0; ///< 0 = matched; otherwise 404 or 405
  core::chain_id chain = 0;
  std::string topic;   ///< the path below the chain's prefix ("/hello/a/b" -> "a/b")
  std::string allow;   ///< for 405: the method the path accepts
};

/// Which chain serves (method, path): the longest matching `http.path` prefix (at a '/'
/// boundary); 405 with `allow` when the path matches but the method does not; 404 otherwise.
/// Chains without an HTTP path (started by MQTT only) never match. `path` excludes the query
/// string.
route_match match_route(const std::vector<core::chain_spec>& chains, std::string_view method,
                        std::string_view path);

/// The path of a request target (the part before '?'). Origin-form "/p?q" gives "/p";
/// absolute-form "http://host:port/p?q" gives "/p" and "http://host" gives "/" (RFC 9112 3.2.2:
/// a server must accept absolute-form; a proxy-style client sends it).
std::string_view target_path(std::string_view target);

/// Why the request's Host header fields make it a 400 (RFC 9112 3.2: an HTTP/1.1 request
/// without Host, or any request with more than one), "" when they are fine.
std::string host_problem(const request_parser::value_type& req);

/// Paths the gateway answers itself (never routed to a chain).
enum class reserved_path { none, admin_adapters, admin_libraries, healthz, metrics, status };
reserved_path classify_reserved(std::string_view path);

/// The most body bytes a request may carry: the configured limit, and never more than the
/// pool buffer it is read into.
inline uint64_t body_capacity(uint64_t body_limit, uint64_t buffer_capacity) {
  return body_limit < buffer_capacity ? body_limit : buffer_capacity;
}

/// The text of a 413, naming the limit that applied: the chain's pool.buffer_size when it is
/// below gateway.body_limit (a body is read into one pool buffer), else gateway.body_limit.
/// `declared` 0: the length is not known (chunked); `buffer_capacity` 0: no buffer was taken yet
/// (the body limit applied while the header was parsed).
std::string too_large_text(uint64_t declared, uint64_t body_limit, uint64_t buffer_capacity,
                           std::string_view chain);

/// true when the request's declared Content-Length is refused (413) before reading the body.
inline bool declared_too_large(const request_parser& p, uint64_t body_limit,
                               uint64_t buffer_capacity) {
  const auto declared = p.content_length();
  return declared && *declared > body_capacity(body_limit, buffer_capacity);
}

/// The Content-Length a 413 names, 0 when it cannot say. Beast refuses a declared length over
/// the body limit while it is still parsing the header, and content_length() is defined only
/// once the header is complete (Beast asserts it).
inline uint64_t declared_length(const request_parser& p) {
  return p.is_header_done() ? p.content_length().value_or(0) : 0;
}

/// %XX and '+' decoded in a query value (malformed escapes stay as they are).
std::string percent_decode(std::string_view s);
/// The decoded value of `key` in the target's query string, "" when absent.
std::string query_value(std::string_view target, std::string_view key);

/// Header names lower-cased, in order, for adapters (core::adapter_header names are lower-case).
std::vector<std::string> lower_case_names(const request_parser::value_type& req);

} // namespace spry::gateway
