#include "gateway/http_session.hpp"

#include "core/data_path_counters.hpp"
#include "gateway/adapter_call.hpp"
#include "gateway/gateway.hpp"
#include "gateway/http_request.hpp"
#include "gateway/metrics.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <optional>

namespace spry::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

using executor = net::io_context::executor_type;
using timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                        net::wait_traits<std::chrono::steady_clock>, executor>;

uint64_t unix_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      continue;
    out += c;
  }
  return out;
}

class session : public std::enable_shared_from_this<session> {
public:
  session(session_socket&& socket, gateway& gw, const core::gateway_spec& spec,
          std::shared_ptr<std::atomic<uint64_t>> connections)
    : stream_(std::move(socket)),
      timer_(stream_.get_executor()),
      read_timer_(stream_.get_executor()),
      gw_(gw),
      spec_(spec),
      connections_(std::move(connections)) {
    connections_->fetch_add(1);
  }
  ~session() { connections_->fetch_sub(1); }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

private:
  // -- reading ---------------------------------------------------------------------------------

  void read_header() {
    parser_.emplace();
    apply_limits(*parser_, spec_.body_limit);
    lease_.reset();
    // The first request of a connection must arrive within the header timeout; later ones may
    // idle up to the keep-alive idle timeout before their first byte.
    arm_read_timer(served_ == 0 ? spec_.header_timeout_ms
                                : std::max(spec_.idle_timeout_ms, spec_.header_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->on_header(ec);
                            });
  }

  // Read deadlines use our own timer rather than tcp_stream's expiry, because tcp_stream closes
  // the socket when it expires and we still want to answer 408. The generation counter makes a
  // timer that fired just as the read completed harmless.
  void arm_read_timer(uint32_t ms) {
    const uint64_t gen = ++read_gen_;
    read_timed_out_ = false;
    read_timer_.expires_after(std::chrono::milliseconds(ms));
    read_timer_.async_wait([self = shared_from_this(), gen](beast::error_code ec) {
      if (ec || gen != self->read_gen_)
        return;
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void disarm_read_timer() {
    ++read_gen_;
    read_timer_.cancel();
  }

  void on_header(beast::error_code ec) {
    if (ec)
      return on_read_error(ec);
    disarm_read_timer();
    auto& req = parser_->get();
    const auto target = std::string_view(req.target().data(), req.target().size());
    const auto path = target_path(target);
    const bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
    // An early answer (404, 503, ...) leaves an unread body on the connection: close it then.
    keep_alive_ = req.keep_alive();
    const bool reuse = keep_alive_ && !has_body;
    if (auto why = host_problem(req); !why.empty())
      return respond_text(400, why, false);

    const auto reserved_kind = classify_reserved(path);
    if (reserved_kind == reserved_path::admin_adapters)
      return admin_adapters(req, target, path, reuse);
    if (reserved_kind == reserved_path::admin_libraries)
      return admin_libraries(req, target, reuse);
    if (reserved_kind != reserved_path::none) {
      if (req.method() != http::verb::get && req.method() != http::verb::head)
        return respond_text(405, "use GET", reuse, "GET");
      if (reserved_kind == reserved_path::healthz)
        return respond_text(200, "ok", reuse);
      if (reserved_kind == reserved_path::status) {
        auto body = gw_.status_text();
        if (body.empty())
          return respond_text(404, "no control plane on this gateway", reuse);
        return respond(200, "application/json", std::move(body), reuse);
      }
      return respond(200, "text/plain; version=0.0.4", gw_.metrics_text(), reuse);
    }
    auto m = gw_.match(std::string_view(req.method_string().data(), req.method_string().size()), path);
    if (m.status == 404)
      return respond_text(404, "no chain is bound to " + std::string(path), reuse);
    if (m.status == 405)
      return respond_text(405, std::string(path) + " accepts " + m.allow, reuse, m.allow);
    chain_ = m.chain;
    topic_ = std::move(m.topic);
    // The adapter is chosen once per request: a replacement loaded meanwhile serves the next one,
    // and this snapshot keeps the old one (and its library) alive until this answer is out.
    adapter_.reset();
    if (const auto& name = gw_.runtime().app().chains[chain_].adapter; !name.empty()) {
      adapter_ = gw_.adapters().get(name);
      if (!adapter_)
        return respond_text(503, "adapter '" + name + "' of chain '" +
                                   gw_.runtime().app().chains[chain_].name +
                                   "' is not loaded (POST /admin/adapters/" + name +
                                   "?library=PATH loads it)",
                            reuse);
    }

    auto reserved = gw_.reserve(chain_);
    if (auto* r = std::get_if<chain_result>(&reserved))
      return respond_result(std::move(*r), reuse);
    lease_ = std::move(std::get<core::buffer_lease>(reserved));
    const uint64_t capacity = lease_.capacity();
    if (declared_too_large(*parser_, spec_.body_limit, capacity))
      return respond_too_large(*parser_->content_length());

    req.body().data = lease_.payload();
    req.body().size = capacity;
    req.body().more = true;
    disarm_read_timer();
    arm_read_timer(spec_.body_timeout_ms);
    const auto expect = req[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(cont),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec)
                           return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->on_body(ec);
                     });
  }

  void on_body(beast::error_code ec) {
    if (!read_timed_out_)
      disarm_read_timer();
    if (ec == http::error::need_buffer)
      return respond_too_large(0);
    if (ec)
      return on_read_error(ec);
    auto& req = parser_->get();
    uint32_t length = static_cast<uint32_t>(lease_.capacity() - req.body().size);
    // For the overhead audit: the client's request went through the stack once, and its body
    // came out of the kernel into the read buffer and from there into the pool buffer.
    core::data_path::count(core::data_path::site::edge, core::data_path::event::protocol_message);
    if (length > 0)
      core::data_path::count(core::data_path::site::edge, core::data_path::event::copy, 2);
    const auto ct_field = req[http::field::content_type];
    std::string_view ct(ct_field.data(), ct_field.size());
    keep_alive_ = req.keep_alive();
    std::string_view topic = topic_;
    core::adapter_ingress in;
    if (adapter_) {
      if (!adapt(req, length, ct, in))
        return;
      length = in.length;
      topic = in.topic;
      ct = in.content_type;
    }
    // The requests this loop turn reads leave together, after the turn's other handlers.
    if (gw_.hold_sends())
      net::post(stream_.get_executor(), [&gw = gw_] { gw.flush_sends(); });
    auto result = gw_.submit(chain_, std::move(lease_), length, topic, ct,
                             [self = shared_from_this()](chain_result r) mutable {
                               auto ex = self->stream_.get_executor();
                               // Answered on this session's own thread (the I/O thread drains
                               // the gateway's answers, shm-skmsg): written out right here. Not
                               // while submit() is still under way on it (no ticket yet).
                               if (ex.running_in_this_thread() && self->ticket_)
                                 return self->on_chain_done(std::move(r));
                               // The reference moves into the posted handler: the completion
                               // runs and is destroyed on a transport thread, and a session
                               // must never be destroyed there (it may outlive the I/O loop).
                               net::post(ex, [s = std::move(self), r = std::move(r)]() mutable {
                                 s->on_chain_done(std::move(r));
                               });
                             },
                             !adapter_); // the answer is written from its pool buffer
    if (auto* r = std::get_if<chain_result>(&result))
      return respond_result(adapted(std::move(*r)), keep_alive_);
    ticket_ = std::get<ticket>(result);
    timer_.expires_after(std::chrono::milliseconds(gw_.chain_timeout_ms(chain_)));
    timer_.async_wait([self = shared_from_this(), t = *ticket_](beast::error_code ec) {
      if (ec || !self->gw_.abandon(t))
        return;
      self->ticket_.reset();
      self->respond_text(504,
                         "chain '" + self->gw_.runtime().app().chains[t.chain].name +
                           "' did not answer within " +
                           std::to_string(self->gw_.chain_timeout_ms(t.chain)) + " ms",
                         self->keep_alive_);
    });
  }

  void on_chain_done(chain_result r) {
    if (!ticket_)
      return; // answered already (cannot happen: abandon and completion are exclusive)
    ticket_.reset();
    timer_.cancel();
    // For the overhead audit: the answer goes through the stack, its body copied into the kernel.
    core::data_path::count(core::data_path::site::edge, core::data_path::event::protocol_message);
    if (!r.body_view().empty())
      core::data_path::count(core::data_path::site::edge, core::data_path::event::copy);
    respond_result(adapted(std::move(r)), keep_alive_);
  }

  // -- adapter hook ----------------------------------------------------------------------------

  // Runs the chain's adapter on a request whose body sits in the pool buffer. The body is copied
  // out first because the adapter writes the chain's input into that same buffer (chains without
  // an adapter keep the zero-copy path). false: the request was answered (400) already.
  bool adapt(const http::request<http::buffer_body>& req, uint32_t length, std::string_view ct,
             core::adapter_ingress& out) {
    const std::string body(lease_.payload(), length);
    const std::vector<std::string> names = lower_case_names(req);
    std::vector<core::adapter_header> headers;
    headers.reserve(names.size());
    size_t i = 0;
    for (const auto& f : req)
      headers.push_back({names[i++], std::string_view(f.value().data(), f.value().size())});
    adapter_in_ = {};
    adapter_in_.topic = topic_;
    adapter_in_.content_type = std::string(ct);
    adapter_in_.now_unix_ms = unix_ms();
    core::adapter_request ar;
    ar.protocol = "http";
    ar.topic = adapter_in_.topic;
    ar.content_type = adapter_in_.content_type;
    ar.origin = "http";
    ar.headers = headers.data();
    ar.header_count = headers.size();
    ar.payload = body;
    ar.now_unix_ms = adapter_in_.now_unix_ms;
    out.data = lease_.payload();
    out.capacity = static_cast<uint32_t>(lease_.capacity());
    out.topic = topic_;
    out.content_type = std::string(ct);
    call_ingress(*adapter_->impl, ar, out);
    if (!out.error.empty()) {
      gw_.adapters().count_rejected(adapter_->name);
      respond_text(400, out.error, keep_alive_);
      return false;
    }
    adapter_in_.reply_mode = out.reply_mode;
    return true;
  }

  // The chain's result through the request's adapter, if it has one.
  chain_result adapted(chain_result r) {
    if (!adapter_)
      return r;
    r.take_body();
    core::adapter_request ar;
    ar.protocol = "http";
    ar.topic = adapter_in_.topic;
    ar.content_type = adapter_in_.content_type;
    ar.origin = "http";
    ar.request_id = r.request_id;
    ar.now_unix_ms = adapter_in_.now_unix_ms;
    core::adapter_reply reply;
    reply.status = r.http_status;
    reply.content_type = std::move(r.content_type);
    reply.body = std::move(r.body);
    reply.topic = std::move(r.topic);
    reply.headers = std::move(r.headers);
    try {
      adapter_->impl->egress(ar, adapter_in_.reply_mode, reply);
    } catch (const std::exception& e) {
      reply.status = 502;
      reply.content_type = "text/plain";
      reply.body = std::string("adapter failed: ") + e.what() + "\n";
    }
    adapter_.reset(); // this request no longer needs it (a replaced library may go now)
    r.http_status = reply.status;
    r.content_type = std::move(reply.content_type);
    r.body = std::move(reply.body);
    r.topic = std::move(reply.topic);
    r.headers = std::move(reply.headers);
    return r;
  }

  // -- admin -----------------------------------------------------------------------------------

  // GET /admin/adapters, POST /admin/adapters/NAME?library=PATH (load or replace), DELETE
  // /admin/adapters/NAME. Loopback clients only: loading a library runs its code in the gateway.
  // The dlopen blocks this I/O thread for a few ms, which an admin action may.
  void admin_adapters(const http::request<http::buffer_body>& req, std::string_view target,
                      std::string_view path, bool reuse) {
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (ec || !peer.address().is_loopback())
      return respond_text(403, "adapter administration is accepted from loopback clients only",
                          reuse);
    std::string name(path.size() > 16 ? path.substr(16) : std::string_view());
    auto& set = gw_.adapters();
    if (req.method() == http::verb::get && name.empty()) {
      std::string body = "[";
      for (const auto& a : set.list())
        body += std::string(body.size() > 1 ? "," : "") + "{\"name\":\"" + json_escape(a->name) +
                "\",\"library\":\"" + json_escape(a->library) +
                "\",\"generation\":" + std::to_string(a->generation) + "}";
      return respond(200, "application/json", body + "]\n", reuse);
    }
    if (name.empty() || name.find('/') != std::string::npos)
      return respond_text(404, "use /admin/adapters/NAME", reuse);
    if (req.method() == http::verb::post || req.method() == http::verb::put) {
      const auto library = query_value(target, "library");
      if (library.empty())
        return respond_text(400, "missing ?library=PATH (the adapter library to load)", reuse);
      auto loaded = set.load(name, library);
      if (!loaded) {
        spdlog::warn("gateway: {}", loaded.err().message);
        return respond_text(400, loaded.err().message, reuse);
      }
      return respond_text(200,
                          "adapter '" + name + "' generation " +
                            std::to_string((*loaded)->generation) + " loaded from " + library,
                          reuse);
    }
    if (req.method() == http::verb::delete_) {
      if (!set.unload(name))
        return respond_text(404, "no adapter named '" + name + "' is loaded", reuse);
      return respond_text(200, "adapter '" + name + "' unloaded", reuse);
    }
    return respond_text(405, "use GET, POST or DELETE", reuse, "GET, POST, DELETE");
  }

  // POST /admin/libraries?path=PATH: hot reload of a function library (the control plane
  // replaces the handlers and restarts the instances). Loopback clients only, as for adapters:
  // loading a library runs its code in the gateway. Blocks this I/O thread for the dlopen.
  void admin_libraries(const http::request<http::buffer_body>& req, std::string_view target,
                       bool reuse) {
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (ec || !peer.address().is_loopback())
      return respond_text(403, "library administration is accepted from loopback clients only",
                          reuse);
    if (req.method() != http::verb::post)
      return respond_text(405, "use POST /admin/libraries?path=PATH", reuse, "POST");
    const auto path = query_value(target, "path");
    if (path.empty())
      return respond_text(400, "missing ?path=PATH (the function library to load)", reuse);
    auto done = gw_.reload_library(path);
    if (!done) {
      spdlog::warn("gateway: {}", done.err().message);
      return respond_text(400, done.err().message, reuse);
    }
    return respond_text(200, *done, reuse);
  }

  void on_read_error(beast::error_code ec) {
    if (read_timed_out_) {
      read_timed_out_ = false;
      if (parser_->got_some())
        return respond_text(408, "request not received in time", false);
      return close(); // idle keep-alive connection: just close it
    }
    disarm_read_timer();
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset ||
        (ec == http::error::partial_message && !parser_->got_some()))
      return close();
    if (ec == http::error::body_limit)
      return respond_too_large(declared_length(*parser_));
    if (ec == http::error::header_limit)
      return respond_text(431, "request header larger than " + std::to_string(header_limit) + " bytes",
                          false);
    if (ec.category() == http::make_error_code(http::error::bad_target).category())
      return respond_text(400, "malformed HTTP request: " + ec.message(), false);
    close();
  }

  // -- writing ---------------------------------------------------------------------------------

  void respond_too_large(uint64_t declared) {
    const uint64_t capacity = lease_ ? lease_.capacity() : 0;
    lease_.reset();
    respond_text(413,
                 too_large_text(declared, spec_.body_limit, capacity,
                                capacity ? gw_.runtime().app().chains[chain_].name : ""),
                 false);
  }

  void respond_text(unsigned status, std::string text, bool keep_alive, std::string allow = {}) {
    chain_result r;
    r.http_status = static_cast<uint16_t>(status);
    r.content_type = "text/plain";
    r.body = std::move(text) + "\n";
    if (!allow.empty())
      allow_ = std::move(allow);
    respond_result(std::move(r), keep_alive);
  }

  void respond(unsigned status, std::string content_type, std::string body, bool keep_alive) {
    chain_result r;
    r.http_status = static_cast<uint16_t>(status);
    r.content_type = std::move(content_type);
    r.body = std::move(body);
    respond_result(std::move(r), keep_alive);
  }

  void respond_result(chain_result r, bool keep_alive) {
    lease_.reset();
    const bool head = parser_ && parser_->get().method() == http::verb::head;
    if (r.in_buffer && !head) {
      // The body goes out from its pool buffer, which the answer holds until it is written.
      res_buf_.emplace();
      auto& res = *res_buf_;
      set_head(res, r, keep_alive);
      res.body().data = r.in_buffer.payload();
      res.body().size = r.in_buffer_length;
      res.body().more = false;
      res.content_length(r.in_buffer_length);
      answer_ = std::move(r.in_buffer);
      return write(res, keep_alive);
    }
    r.in_buffer.reset();
    res_.emplace();
    auto& res = *res_;
    set_head(res, r, keep_alive);
    res.body() = head ? std::string() : std::move(r.body);
    res.prepare_payload();
    write(res, keep_alive);
  }

  template <class Response>
  void set_head(Response& res, chain_result& r, bool keep_alive) {
    res.version(11);
    res.result(r.http_status);
    res.set(http::field::server, "spry");
    if (!r.content_type.empty())
      res.set(http::field::content_type, r.content_type);
    if (r.retry_after_s)
      res.set(http::field::retry_after, std::to_string(r.retry_after_s));
    if (r.request_id)
      res.set("X-Spry-Request-Id", std::to_string(r.request_id));
    if (r.cold_start_ns) // only a request that waited for an instance: the cold start it paid
      res.set("Spry-Cold-Start-Ms", cold_start_ms(r.cold_start_ns));
    for (auto& [name, value] : r.headers)
      res.set(name, value);
    if (!allow_.empty())
      res.set(http::field::allow, std::exchange(allow_, {}));
    res.keep_alive(keep_alive);
  }

  template <class Response>
  void write(Response& res, bool keep_alive) {
    ++served_;
    stream_.expires_after(std::chrono::milliseconds(spec_.body_timeout_ms));
    http::async_write(stream_, res,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                        self->res_.reset();
                        self->res_buf_.reset();
                        self->answer_.reset(); // the answer's pool buffer goes back
                        if (ec || !keep_alive)
                          return self->close();
                        self->stream_.expires_never();
                        self->read_header();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::basic_stream<tcp, executor> stream_;
  timer timer_;      // chain deadline
  timer read_timer_; // header / body deadline
  uint64_t read_gen_ = 0;
  bool read_timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::buffer_body>> res_buf_; // an answer from its pool buffer
  core::buffer_lease answer_;                                 // ... and that buffer
  gateway& gw_;
  const core::gateway_spec& spec_;
  std::shared_ptr<std::atomic<uint64_t>> connections_;
  core::buffer_lease lease_;
  core::chain_id chain_ = 0;
  std::string topic_;
  adapter_ref adapter_; // this request's adapter snapshot, if its chain has one
  struct {
    std::string topic, content_type;
    uint64_t now_unix_ms = 0;
    uint32_t reply_mode = 0;
  } adapter_in_; // what egress needs of the request

  std::optional<ticket> ticket_;
  std::string allow_;
  bool keep_alive_ = true;
  uint64_t served_ = 0;
};

} // namespace

void serve_connection(session_socket&& socket, gateway& gw, const core::gateway_spec& spec,
                      std::shared_ptr<std::atomic<uint64_t>> connections) {
  std::make_shared<session>(std::move(socket), gw, spec, std::move(connections))->start();
}

} // namespace spry::gateway
