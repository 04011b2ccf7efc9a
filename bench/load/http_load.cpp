#include "bench/load/http_load.hpp"

#include "core/clock.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

namespace spry::bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

uint64_t load_result::ok() const {
  uint64_t n = 0;
  for (const auto& [code, count] : by_status)
    if (code >= 200 && code < 300)
      n += count;
  return n;
}

std::string load_result::summary() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%llu ok in %.2f s = %.0f req/s; latency p50 %.1f us, p90 %.1f us, p99 %.1f us, "
                "max %.1f us",
                static_cast<unsigned long long>(ok()), seconds, requests_per_second(),
                latency_ns.percentile(0.5) / 1e3, latency_ns.percentile(0.9) / 1e3,
                latency_ns.percentile(0.99) / 1e3, latency_ns.max() / 1e3);
  std::string out = buf;
  for (const auto& [code, count] : by_status)
    if (code < 200 || code >= 300)
      out += "; " + std::to_string(count) + " x HTTP " + std::to_string(code);
  if (transport_errors)
    out += "; " + std::to_string(transport_errors) + " connection errors";
  return out;
}

namespace {

struct shared_state {
  const load_options* opts;
  load_result* result;
  uint64_t measure_from_ns;
  uint64_t stop_at_ns;
  uint64_t sent = 0;
  bool budget_left() {
    return core::now_ns() < stop_at_ns && (opts->max_requests == 0 || sent < opts->max_requests);
  }
};

class user : public std::enable_shared_from_this<user> {
public:
  user(net::io_context& ioc, shared_state& st, tcp::endpoint ep)
    : stream_(ioc), st_(st), ep_(ep) {
    req_.method_string(st.opts->method);
    req_.target(st.opts->path);
    req_.version(11);
    req_.set(http::field::host, st.opts->host);
    req_.set(http::field::content_type, st.opts->content_type);
    req_.body() = st.opts->body;
    req_.keep_alive(true);
    req_.prepare_payload();
  }

  void start() { connect(); }

private:
  void connect() {
    stream_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        self->st_.result->transport_errors++;
        return;
      }
      self->stream_.socket().set_option(tcp::no_delay(true));
      self->send();
    });
  }

  void send() {
    if (!st_.budget_left())
      return;
    st_.sent++;
    t0_ = core::now_ns();
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec)
        return self->reconnect();
      self->res_.emplace();
      http::async_read(self->stream_, self->buffer_, *self->res_,
                       [self](beast::error_code ec, size_t) { self->on_response(ec); });
    });
  }

  void on_response(beast::error_code ec) {
    if (ec)
      return reconnect();
    const uint64_t t1 = core::now_ns();
    if (t0_ >= st_.measure_from_ns) {
      const unsigned code = res_->get().result_int();
      st_.result->by_status[code]++;
      if (code >= 200 && code < 300)
        st_.result->latency_ns.record(t1 - t0_);
    }
    if (!res_->get().keep_alive())
      return reconnect();
    send();
  }

  void reconnect() {
    st_.result->transport_errors++;
    beast::error_code ignored;
    stream_.socket().close(ignored);
    buffer_.clear();
    if (st_.budget_left())
      connect();
  }

  beast::tcp_stream stream_;
  shared_state& st_;
  tcp::endpoint ep_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> res_;
  uint64_t t0_ = 0;
};

} // namespace

core::expected<load_result> run_load(const load_options& opts) {
  beast::error_code ec;
  const auto addr = net::ip::make_address(opts.host, ec);
  if (ec)
    return core::make_error("load: '" + opts.host + "' is not an IP address");
  if (opts.connections == 0)
    return core::make_error("load: need at least one connection");
  load_result result;
  net::io_context ioc;
  shared_state st{&opts, &result, 0, 0};
  const uint64_t start = core::now_ns();
  st.measure_from_ns = start + static_cast<uint64_t>(opts.warmup.count()) * 1000000;
  st.stop_at_ns = st.measure_from_ns + static_cast<uint64_t>(opts.duration.count()) * 1000000;
  for (unsigned i = 0; i < opts.connections; ++i)
    std::make_shared<user>(ioc, st, tcp::endpoint{addr, opts.port})->start();
  ioc.run();
  const uint64_t end = std::min(core::now_ns(), std::max(st.stop_at_ns, core::now_ns()));
  result.seconds = (end - st.measure_from_ns) / 1e9;
  return result;
}

} // namespace spry::bench
