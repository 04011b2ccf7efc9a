// HTTP request handling as the gateway does it (gateway/http_server.cpp), without sockets:
// Beast's request parser with the gateway's header and body limits, reserved paths, route
// matching over a fixed app, the early 413 on a declared Content-Length, the body read into a
// pool-sized buffer (buffer_body, as the session reads it), the admin query string, and the
// lower-cased header list adapters get.
//
// Input: byte 0 picks the body limit, byte 1 the pool buffer capacity; the rest is the raw bytes
// a client sent on the connection (possibly several pipelined requests).
#include "fuzz/fuzz_input.hpp"
#include "gateway/http_request.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <cstdlib>
#include <vector>

namespace {

namespace http = boost::beast::http;
using namespace spry::gateway;

const std::vector<spry::core::chain_spec>& chains() {
  static const std::vector<spry::core::chain_spec> c = [] {
    std::vector<spry::core::chain_spec> out;
    auto add = [&](const char* name, const char* method, const char* path) {
      spry::core::chain_spec s;
      s.name = name;
      s.http.method = method;
      s.http.path = path;
      out.push_back(s);
    };
    add("hello", "POST", "/hello");
    add("hello-info", "GET", "/hello/info");
    add("events", "PUT", "/events");
    add("root", "POST", "/");
    add("deep", "POST", "/a/b/c");
    return out;
  }();
  return c;
}

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "invariant broken: %s\n", what);
  abort();
}

// One request from `wire`; returns the bytes consumed, 0 when the connection would be closed.
size_t one_request(std::string_view wire, uint64_t body_limit, uint64_t capacity) {
  request_parser parser;
  apply_limits(parser, body_limit);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
  if (ec == http::error::need_more)
    return 0; // incomplete header: the gateway waits for more bytes, then times out (408)
  if (ec == http::error::body_limit) {
    // the 413's text, as on_read_error writes it
    (void)too_large_text(declared_length(parser), body_limit, 0, "");
    return 0;
  }
  if (ec)
    return 0; // 400 / 431 / close, as on_read_error decides
  if (!parser.is_header_done())
    return 0;
  auto& req = parser.get();
  if (!host_problem(req).empty())
    return 0; // 400, connection closed
  const std::string_view target(req.target().data(), req.target().size());
  const auto path = target_path(target);
  if (path.size() > target.size())
    broken("the path of a target is longer than the target");
  const auto reserved = classify_reserved(path);
  if (reserved == reserved_path::admin_adapters) {
    const auto library = query_value(target, "library");
    if (library.size() > target.size())
      broken("a decoded query value is longer than the target");
    return 0; // admin requests carry no body the gateway reads
  }
  if (reserved != reserved_path::none)
    return parser.chunked() || parser.content_length().value_or(0) > 0 ? 0 : used;
  const auto m = match_route(chains(), std::string_view(req.method_string().data(),
                                                        req.method_string().size()), path);
  if (m.status != 0) {
    if (m.status != 404 && m.status != 405)
      broken("match_route returned a status other than 0, 404, 405");
    return 0;
  }
  if (m.chain >= chains().size() || m.topic.size() > path.size())
    broken("match_route named a chain that does not exist or a topic longer than the path");
  if (declared_too_large(parser, body_limit, capacity))
    return 0; // 413 before reading the body
  const auto names = lower_case_names(req);
  size_t fields = 0;
  for (auto it = req.begin(); it != req.end(); ++it)
    ++fields;
  if (names.size() != fields)
    broken("lower_case_names lost or invented a header");

  std::vector<char> buffer(capacity);
  req.body().data = buffer.data();
  req.body().size = capacity;
  req.body().more = true;
  while (!parser.is_done()) {
    const size_t n = parser.put(
      boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      // Beast consumes nothing until a whole chunk header is there: with all of the client's
      // bytes already given, no progress means the client stopped sending.
      if (n > 0 && used < wire.size())
        continue;
      parser.put_eof(ec); // the gateway would wait for more, then answer 408
      if (ec || !parser.is_done())
        return 0;
      break;
    }
    if (ec == http::error::need_buffer || ec == http::error::body_limit) {
      (void)declared_length(parser); // 413
      return 0;
    }
    if (ec)
      return 0;
    if (n == 0 && !parser.is_done())
      return 0;
  }
  const uint64_t length = capacity - req.body().size;
  if (length > capacity || length > body_limit)
    broken("the body read is larger than the buffer or the body limit");
  return req.keep_alive() ? used : 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spry::fuzz::fuzz_input in(data, size);
  // Small limits so that the fuzzer reaches 413 and the exact-fit cases easily.
  const uint64_t body_limit = uint64_t{in.byte()} * 8;
  const uint64_t capacity = uint64_t{in.byte()} * 8;
  std::string_view wire = in.rest();
  // Pipelined requests on one keep-alive connection, as the session serves them in order.
  for (int i = 0; i < 8 && !wire.empty(); ++i) {
    const size_t used = one_request(wire, body_limit, capacity);
    if (used == 0 || used > wire.size())
      break;
    wire.remove_prefix(used);
  }
  // The percent decoder on raw bytes too (query values reach it from the target only).
  (void)percent_decode(in.rest().substr(0, 256));
  return 0;
}
