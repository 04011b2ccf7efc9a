#include "gateway/adapter_command.hpp"

#include "gateway/admin_client.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace spry::gateway {

namespace http = boost::beast::http;

int adapter_command(const std::string& action, const std::string& address, const std::string& name,
                    const std::string& library) {
  http::verb verb = http::verb::get;
  std::string target = "/admin/adapters";
  if (action == "load") {
    verb = http::verb::post;
    // The gateway resolves the path in its own working directory: send an absolute one.
    std::error_code ec;
    const auto abs = std::filesystem::absolute(library, ec);
    target += "/" + percent_encode(name) + "?library=" + percent_encode(ec ? library : abs.string());
  } else if (action == "unload") {
    verb = http::verb::delete_;
    target += "/" + percent_encode(name);
  }
  auto res = admin_request(address, verb, target, std::chrono::seconds(10));
  if (res.result != admin_response::outcome::answered) {
    std::cerr << "spry adapter: " << res.body << "\n";
    return res.result == admin_response::outcome::bad_address ? 2 : 1;
  }
  if (res.status != 200) {
    std::cerr << "spry adapter " << action << ": " << res.body;
    return 1;
  }
  std::fputs(res.body.c_str(), stdout);
  return 0;
}

} // namespace spry::gateway
