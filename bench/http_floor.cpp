// http_floor: the floor under the gateway's HTTP side. A minimal Boost.Beast HTTP/1.1 server on
// 127.0.0.1 that answers every request with its own body (keep-alive, no routing, no pool, no
// function, no transport): what serving a request costs with the same HTTP library and the same
// number of I/O threads as the gateway, and nothing else. transport_bench drives it with the
// same load as the chains and sets the local setup's CPU per request against it.
//
//   build/bench/http_floor [--threads N]     prints "listening on http://127.0.0.1:PORT"
//
// It runs until SIGTERM or SIGINT.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// One connection: read a request, write its body back, again until the client closes.
class session : public std::enable_shared_from_this<session> {
public:
  explicit session(tcp::socket s) : stream_(std::move(s)) {}

  void read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->answer(ec); });
  }

private:
  void answer(beast::error_code ec) {
    if (ec)
      return close();
    response_ = {};
    response_.result(http::status::ok);
    response_.version(request_.version());
    response_.keep_alive(request_.keep_alive());
    response_.set(http::field::content_type, "text/plain");
    response_.body() = std::move(request_.body());
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->response_.keep_alive())
        return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

void accept(net::io_context& io, tcp::acceptor& acceptor) {
  // Each connection on a strand of its own, as the gateway's are.
  acceptor.async_accept(net::make_strand(io), [&io, &acceptor](beast::error_code ec, tcp::socket s) {
    if (!ec)
      std::make_shared<session>(std::move(s))->read();
    if (acceptor.is_open())
      accept(io, acceptor);
  });
}

} // namespace

int main(int argc, char** argv) {
  unsigned threads = 1; // the gateway's default gateway.io_threads
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: %s [--threads N]   (N from 1 to 256)\n", argv[0]);
      return 2;
    }
  }
  if (threads < 1 || threads > 256) {
    std::fprintf(stderr, "http_floor: --threads must be 1 to 256\n");
    return 2;
  }
  try {
    net::io_context io{static_cast<int>(threads)};
    tcp::acceptor acceptor{io, {net::ip::make_address("127.0.0.1"), 0}};
    net::signal_set signals{io, SIGTERM, SIGINT};
    signals.async_wait([&](beast::error_code, int) {
      beast::error_code ignored;
      acceptor.close(ignored);
      io.stop();
    });
    accept(io, acceptor);
    std::printf("listening on http://127.0.0.1:%u\n", acceptor.local_endpoint().port());
    std::fflush(stdout);
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i)
      pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool)
      t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_floor: %s\n", e.what());
    return 1;
  }
  return 0;
}
