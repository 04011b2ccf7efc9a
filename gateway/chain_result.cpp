#include "gateway/chain_result.hpp"

#include "core/data_path_counters.hpp"
#include "core/message.hpp"

#include <algorithm>
#include <cstdio>

namespace spry::gateway {

using core::buffer_status;

std::string cold_start_ms(uint64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", static_cast<double>(ns) / 1e6);
  return text;
}

chain_result make_result(uint16_t status, std::string body, uint64_t request_id) {
  chain_result r;
  r.http_status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  if (!r.body.empty() && r.body.back() != '\n')
    r.body += '\n';
  r.request_id = request_id;
  return r;
}

// The client's answer, built from a buffer whose every field is untrusted (another process may
// have written it).
chain_result result_of(core::buffer_header* b, core::pool& p, uint64_t request_id, bool keep) {
  chain_result r;
  r.request_id = request_id;
  const auto len = std::min(b->payload_length, p.buffer_size());
  const auto status = static_cast<buffer_status>(b->status);
  const uint16_t asked = b->http_status;
  if (b->request_id != request_id)
    return make_result(502, "an instance corrupted the request header (request id changed)",
                       request_id);
  if (status == buffer_status::ok) {
    r.http_status = asked == 0 ? 200 : asked;
    if (r.http_status < 200 || r.http_status > 599)
      return make_result(502, "function set an invalid HTTP status " + std::to_string(asked),
                         request_id);
    const auto ct = core::fixed_field(b->content_type, core::content_type_capacity);
    r.content_type = ct.empty() ? "application/octet-stream" : std::string(ct);
    if (keep) {
      r.in_buffer = core::buffer_lease(&p, b);
      r.in_buffer_length = len;
    } else {
      r.body.assign(core::pool::payload(b), len);
      if (len > 0) // for the overhead audit: the answer leaves the pool buffer
        core::data_path::count(core::data_path::site::edge, core::data_path::event::copy);
    }
    r.topic = std::string(core::fixed_field(b->topic, core::topic_capacity));
    return r;
  }
  if (status == buffer_status::no_instance)
    // Not held (the function cannot scale from zero, or the hold limit is reached): its only
    // instance is gone, as when it crashed and is restarting.
    return make_result(502,
                       "no instance of the next function of this chain is running (restarting, "
                       "or at zero instances with the hold limit reached)",
                       request_id);
  if (status == buffer_status::undelivered)
    // The gateway sends these on or holds them (gateway/undelivered.cpp); one answered from the
    // buffer was not resendable (e.g. no route names the function it was addressed to). The
    // payload is still the request's: never echoed as the answer.
    return make_result(502,
                       "the request could not be delivered to an instance of the next function "
                       "of this chain, and no other instance could take it",
                       request_id);
  uint16_t code = asked;
  if (code < 400 || code > 599)
    code = status == buffer_status::overloaded       ? 503
           : status == buffer_status::function_error ? 500
                                                     : 502;
  r = make_result(code, std::string(core::pool::payload(b), len), request_id);
  if (code == 503)
    r.retry_after_s = 1;
  return r;
}

} // namespace spry::gateway
