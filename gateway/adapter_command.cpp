#include "gateway/adapter_command.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace spry::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

} // namespace

int adapter_command(const std::string& action, const std::string& address, const std::string& name,
                    const std::string& library) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    std::cerr << "spry adapter: expected HOST:PORT (the gateway's listen address), got '"
              << address << "'\n";
    return 2;
  }
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
  const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  try {
    boost::asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(host, port));
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, host);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result_int() != 200) {
      std::cerr << "spry adapter " << action << ": " << res.body();
      return 1;
    }
    std::fputs(res.body().c_str(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "spry adapter: cannot reach a gateway at " << address << ": " << e.what() << "\n";
    return 1;
  }
}

} // namespace spry::gateway
