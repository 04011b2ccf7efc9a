#include "core/route_next.hpp"

#include "core/clock.hpp"
#include "core/instance.hpp"
#include "core/message.hpp"
#include "core/route_table.hpp"

namespace spry::core {

next_hop next_function(const route_table& routes, chain_id chain, function_id from,
                       std::string_view topic, uint16_t hop_count) {
  next_hop h;
  const auto next = routes.next(chain, from, topic);
  if (!next) {
    h.outcome = hop_outcome::no_route;
    return h;
  }
  h.next = *next;
  if (*next == end_of_chain) {
    h.outcome = hop_outcome::end_of_chain;
    return h;
  }
  h.outcome = hop_count >= max_hops ? hop_outcome::hop_limit : hop_outcome::sent;
  return h;
}

hop_outcome outcome_of(send_status st) noexcept {
  switch (st) {
    case send_status::ok:
      return hop_outcome::sent;
    case send_status::backpressure:
      return hop_outcome::overloaded;
    case send_status::unknown_endpoint:
      // Listed or not, no instance this sender can reach exists right now: the directory may
      // still list one that just died, or one whose endpoint is not bound yet (a restart). The
      // gateway holds such a request until an instance is ready, as it does for its own sends;
      // failing it would turn one crash into an error for every request meanwhile.
      return hop_outcome::no_instance;
    case send_status::closed:
    case send_status::invalid:
      break;
  }
  return hop_outcome::unreachable;
}

next_hop route_next(hop_router& r, descriptor d, buffer_header& b, function_id from,
                    std::string_view topic, std::atomic<endpoint_id>* holder) {
  next_hop h = next_function(r.routes.get(), d.pool, from, topic, b.hop_count);
  if (h.outcome != hop_outcome::sent)
    return h;
  b.t_sent_ns = now_ns();
  h.st = r.send_to_function(h.next, d, holder);
  h.outcome = outcome_of(h.st);
  return h;
}

hop_failure failure_of(hop_outcome o) noexcept {
  switch (o) {
    case hop_outcome::sent:
    case hop_outcome::end_of_chain:
      return {buffer_status::ok, 0};
    case hop_outcome::no_route:
      return {buffer_status::no_route, 502};
    case hop_outcome::hop_limit:
      return {buffer_status::hop_limit, 508};
    case hop_outcome::no_instance:
      return {buffer_status::no_instance, 502};
    case hop_outcome::overloaded:
      return {buffer_status::overloaded, 503};
    case hop_outcome::unreachable:
      return {buffer_status::no_route, 502};
  }
  return {buffer_status::no_route, 502};
}

void fail_hop(message& m, const next_hop& h, std::string_view from_name) {
  buffer_header& b = m.header();
  const hop_failure f = failure_of(h.outcome);
  switch (h.outcome) {
    case hop_outcome::sent:
    case hop_outcome::end_of_chain:
      return;
    case hop_outcome::no_instance:
      // Held by the gateway until an instance is ready: the payload is carried on as it is.
      b.status = static_cast<uint16_t>(f.status);
      return;
    case hop_outcome::no_route:
      m.fail("no route from function '" + std::string(from_name) + "' for topic '" +
               std::string(m.topic()) + "'",
             f.http_status);
      break;
    case hop_outcome::hop_limit:
      m.fail("routing loop: request visited " + std::to_string(b.hop_count) + " functions",
             f.http_status);
      break;
    case hop_outcome::overloaded:
      m.fail("next function is overloaded (all instances refused the request)", f.http_status);
      break;
    case hop_outcome::unreachable:
      m.fail("no instance of the next function is reachable (" + std::string(to_string(h.st)) +
               ")",
             f.http_status);
      break;
  }
  b.status = static_cast<uint16_t>(f.status);
}

} // namespace spry::core
