// transports/tcp/tcp_client: a connection POSTs one message at a time to its peer and tells its
// owner how each ended: taken (204), no longer wanted (410), refused (503: overloaded), or the
// connection failed.
#include "transports/tcp/tcp_client.hpp"

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
using btcp = net::ip::tcp;
using namespace spry::transports::tcp;

namespace {

struct recording_owner final : client_owner {
  // "ok", or "failed: WHY (HOW)" with the body given back
  std::vector<std::string> ends;
  std::shared_ptr<client_conn> last_free;
  void sent_ok(peer&, std::shared_ptr<client_conn> c) override {
    ends.push_back("ok");
    last_free = std::move(c);
  }
  void send_failed(peer&, outgoing msg, const std::string& why, send_failure how) override {
    const char* kind = how == send_failure::not_sent     ? "not sent"
                       : how == send_failure::unanswered ? "unanswered"
                       : how == send_failure::overloaded ? "overloaded"
                                                         : "refused";
    ends.push_back("failed: " + why + " (" + kind + ") body " + msg.body);
  }
};

outgoing message(std::string body) { return outgoing{std::move(body), 3, 0, 7, 0, false}; }

} // namespace

TEST_CASE("tcp client: each message's end is reported to the owner", "[tcp][client]") {
  net::io_context ioc;
  btcp::acceptor acc(ioc, btcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  // The peer: answers three requests on one connection with 204, 410 and 503.
  std::vector<std::string> seen;
  std::thread server([&] {
    btcp::socket s = acc.accept();
    net::streambuf buf;
    for (const char* answer : {"204 No Content", "410 Gone", "503 Service Unavailable"}) {
      net::read_until(s, buf, "\r\n\r\n");
      std::istream in(&buf);
      std::string line, request;
      std::getline(in, request);
      size_t length = 0;
      while (std::getline(in, line) && line != "\r")
        if (line.rfind("Content-Length: ", 0) == 0)
          length = std::stoul(line.substr(16));
      if (buf.size() < length)
        net::read(s, buf, net::transfer_exactly(length - buf.size()));
      std::string body(length, '\0');
      in.read(&body[0], static_cast<std::streamsize>(length));
      seen.push_back(request + body);
      const std::string reason = std::string(answer).substr(0, 3) == "503" ? "full" : "";
      net::write(s, net::buffer("HTTP/1.1 " + std::string(answer) + "\r\nContent-Length: " +
                                std::to_string(reason.size()) + "\r\n\r\n" + reason));
    }
  });
  auto p = std::make_shared<peer>();
  p->id = 3;
  p->host = "127.0.0.1";
  p->port = acc.local_endpoint().port();
  p->target = "/prefix/deliver";
  recording_owner owner;
  auto conn = std::make_shared<client_conn>(ioc, owner, p);
  conn->start(message("one"));
  ioc.run(); // until the answer: nothing else is pending
  ioc.restart();
  REQUIRE(owner.ends == std::vector<std::string>{"ok"});
  REQUIRE(owner.last_free == conn); // free for the next message, on the same connection
  owner.last_free.reset();
  conn->start(message("two"));
  ioc.run();
  ioc.restart();
  conn->start(message("three"));
  ioc.run();
  server.join();
  CHECK(owner.ends == std::vector<std::string>{"ok", "ok", "failed: HTTP 503 full (overloaded) body three"});
  CHECK(seen == std::vector<std::string>{"POST /prefix/deliver HTTP/1.1\rone",
                                         "POST /prefix/deliver HTTP/1.1\rtwo",
                                         "POST /prefix/deliver HTTP/1.1\rthree"});
  owner.last_free.reset();
}

TEST_CASE("tcp client: a peer that is not there fails the message with the reason",
          "[tcp][client]") {
  net::io_context ioc;
  uint16_t port = 0;
  {
    btcp::acceptor probe(ioc, btcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port(); // closed again: nobody listens there now
  }
  auto p = std::make_shared<peer>();
  p->id = 3;
  p->host = "127.0.0.1";
  p->port = port;
  p->target = "/deliver";
  recording_owner owner;
  std::make_shared<client_conn>(ioc, owner, p)->start(message("lost"));
  ioc.run();
  REQUIRE(owner.ends.size() == 1);
  // Nothing was sent: the transport may give the request to another instance.
  CHECK_THAT(owner.ends[0], Catch::StartsWith("failed: connect: ") &&
                              Catch::EndsWith(" (not sent) body lost"));
}

TEST_CASE("tcp client: how far a failed message got: not served there (404) or written and "
          "then cut off", "[tcp][client]") {
  net::io_context ioc;
  btcp::acceptor acc(ioc, btcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  // The peer reads each request whole, answers the first 404 and closes the second's
  // connection without an answer (an instance that died while it had the request).
  std::thread server([&] {
    for (const bool answer : {true, false}) {
      btcp::socket s = acc.accept();
      net::streambuf buf;
      net::read_until(s, buf, "\r\n\r\n");
      std::istream in(&buf);
      std::string line;
      size_t length = 0;
      while (std::getline(in, line) && line != "\r")
        if (line.rfind("Content-Length: ", 0) == 0)
          length = std::stoul(line.substr(16));
      if (buf.size() < length)
        net::read(s, buf, net::transfer_exactly(length - buf.size()));
      if (answer) {
        const std::string reason = "endpoint 3 is not served here";
        net::write(s, net::buffer("HTTP/1.1 404 Not Found\r\nContent-Length: " +
                                  std::to_string(reason.size()) + "\r\n\r\n" + reason));
        // Wait for the client to close its end.
        char c;
        boost::system::error_code ec;
        s.read_some(net::buffer(&c, 1), ec);
      }
    }
  });
  auto p = std::make_shared<peer>();
  p->id = 3;
  p->host = "127.0.0.1";
  p->port = acc.local_endpoint().port();
  p->target = "/deliver";
  recording_owner owner;
  std::make_shared<client_conn>(ioc, owner, p)->start(message("first"));
  ioc.run();
  ioc.restart();
  std::make_shared<client_conn>(ioc, owner, p)->start(message("second"));
  ioc.run();
  server.join();
  REQUIRE(owner.ends.size() == 2);
  CHECK(owner.ends[0] == "failed: HTTP 404 endpoint 3 is not served here (not sent) body first");
  CHECK_THAT(owner.ends[1], Catch::StartsWith("failed: read: ") &&
                              Catch::EndsWith(" (unanswered) body second"));
}
