#pragma once
// One HTTP request to a running gateway's own endpoints (/status, /admin/...), for the `spry`
// subcommands that talk to a gateway. Errors say whether the address was malformed or the
// gateway could not be reached.

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <string>

namespace spry::gateway {

struct admin_response {
  enum class outcome { answered, bad_address, unreachable } result = outcome::answered;
  unsigned status = 0;
  std::string body; ///< the answer, or what went wrong
};

/// Sends `verb target` to `address` (HOST:PORT) and reads the whole answer.
admin_response admin_request(const std::string& address, boost::beast::http::verb verb,
                             const std::string& target, std::chrono::seconds timeout);

/// `s` percent-encoded for a target's path or query (keeps / . - _ ~ and alphanumerics).
std::string percent_encode(const std::string& s);

} // namespace spry::gateway
