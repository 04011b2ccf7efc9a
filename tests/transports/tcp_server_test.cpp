// transports/tcp/tcp_server: a session hands each POSTed frame to its receiver and answers with
// what the receiver says, keeps the connection alive between frames, and refuses anything else.
#include "transports/tcp/tcp_server.hpp"
#include "transports/tcp/tcp_transport.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace http = boost::beast::http;
using btcp = net::ip::tcp;
using spry::transports::tcp::deliver_path;

namespace {

// Accepts frames whose body is "ok", refuses the others with 503 and the body as the reason.
struct recording_receiver final : spry::transports::tcp::frame_receiver {
  std::vector<std::string> frames; // io thread; read after it joined
  std::pair<http::status, std::string> receive(std::string_view body) override {
    frames.emplace_back(body);
    if (body == "ok")
      return {http::status::no_content, {}};
    return {http::status::service_unavailable, "refused " + std::string(body)};
  }
  size_t body_limit() const noexcept override { return 16; }
};

std::string post(const std::string& target, const std::string& body, bool close = false) {
  return "POST " + target + " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
         std::to_string(body.size()) + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
}

// The status line and body of the next response on `s`.
std::pair<std::string, std::string> response(btcp::socket& s, net::streambuf& buf) {
  net::read_until(s, buf, "\r\n\r\n");
  std::istream in(&buf);
  std::string status, line;
  std::getline(in, status);
  size_t length = 0;
  while (std::getline(in, line) && line != "\r")
    if (line.rfind("Content-Length: ", 0) == 0)
      length = std::stoul(line.substr(16));
  if (buf.size() < length)
    net::read(s, buf, net::transfer_exactly(length - buf.size()));
  std::string body(length, '\0');
  in.read(&body[0], static_cast<std::streamsize>(length));
  if (!status.empty() && status.back() == '\r')
    status.pop_back();
  return {status, body};
}

} // namespace

TEST_CASE("tcp server: frames reach the receiver on one keep-alive connection", "[tcp][server]") {
  net::io_context ioc;
  recording_receiver receiver;
  btcp::acceptor acc(ioc, btcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  acc.async_accept([&](boost::system::error_code ec, btcp::socket s) {
    if (!ec)
      spry::transports::tcp::serve(std::move(s), receiver);
  });
  std::thread io([&] { ioc.run(); }); // ends when the session ends (the client closes)

  btcp::socket c(ioc);
  c.connect(acc.local_endpoint());
  net::streambuf buf;
  net::write(c, net::buffer(post(deliver_path, "ok")));
  CHECK(response(c, buf).first == "HTTP/1.1 204 No Content");
  net::write(c, net::buffer(post(deliver_path, "full")));
  auto refused = response(c, buf);
  CHECK(refused.first == "HTTP/1.1 503 Service Unavailable");
  CHECK(refused.second == "refused full");
  net::write(c, net::buffer(post("/elsewhere", "ok")));
  auto elsewhere = response(c, buf);
  CHECK(elsewhere.first == "HTTP/1.1 404 Not Found");
  CHECK(elsewhere.second == std::string("only POST ") + deliver_path);
  // Larger than the receiver's limit: 413, and the session closes the connection.
  net::write(c, net::buffer(post(deliver_path, std::string(64, 'x'))));
  CHECK(response(c, buf).first == "HTTP/1.1 413 Payload Too Large");
  c.close();
  io.join();
  CHECK(receiver.frames == std::vector<std::string>{"ok", "full"});
}
