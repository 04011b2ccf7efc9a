#include "gateway/library_command.hpp"

#include "gateway/admin_client.hpp"
#include "gateway/exit_code.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace spry::gateway {

namespace http = boost::beast::http;

int library_command(const std::string& action, const std::string& address,
                    const std::string& library) {
  if (action != "reload") {
    std::cerr << "spry library: unknown action '" << action << "' (use reload)\n";
    return exit_code::invalid;
  }
  // The gateway resolves the path in its own working directory: send an absolute one.
  std::error_code ec;
  const auto abs = std::filesystem::absolute(library, ec);
  const std::string target =
    "/admin/libraries?path=" + percent_encode(ec ? library : abs.string());
  // Generous: the gateway loads the library and starts the replacement instances first.
  auto res = admin_request(address, http::verb::post, target, std::chrono::seconds(30));
  if (res.result != admin_response::outcome::answered) {
    std::cerr << "spry library: " << res.body << "\n";
    return res.result == admin_response::outcome::bad_address ? exit_code::invalid : exit_code::failed;
  }
  if (res.status != 200) {
    std::cerr << "spry library " << action << ": " << res.body;
    return exit_code::failed;
  }
  std::fputs(res.body.c_str(), stdout);
  return exit_code::ok;
}

} // namespace spry::gateway
