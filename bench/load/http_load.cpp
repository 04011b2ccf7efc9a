#include "bench/load/http_load.hpp"

#include "core/clock.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace spry::bench {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

uint64_t count_ok(const std::map<unsigned, uint64_t>& by_status) {
  uint64_t n = 0;
  for (const auto& [code, count] : by_status)
    if (code >= 200 && code < 300)
      n += count;
  return n;
}

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t ms_to_ns(std::chrono::milliseconds ms) { return static_cast<uint64_t>(ms.count()) * 1000000; }

} // namespace

uint64_t request_result::ok() const { return count_ok(by_status); }

uint64_t load_result::ok() const { return count_ok(by_status); }

uint64_t load_result::errors() const {
  uint64_t n = transport_errors + unsent;
  for (const auto& [code, count] : by_status)
    if (code < 200 || code >= 300)
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

using request_msg = http::request<http::string_body>;

// A request kind with its prepared messages (several when bodies vary).
struct kind_state {
  std::vector<request_msg> variants;
  size_t next = 0;
  const request_msg& take() {
    const auto& r = variants[next];
    next = (next + 1) % variants.size();
    return r;
  }
};

class connection;

// Everything the connections and the schedulers share; io thread only.
struct load_state {
  const load_options* opts;
  load_result* result;
  net::io_context* ioc;
  tcp::endpoint ep;
  uint64_t start_ns = 0, measure_from_ns = 0, stop_at_ns = 0, drain_until_ns = 0;
  uint64_t sent = 0;
  uint64_t in_flight = 0;
  unsigned users_alive = 0;
  bool finished = false;
  std::vector<kind_state> kinds;
  std::vector<double> cumulative; // weights
  std::mt19937_64 rng;
  std::vector<std::weak_ptr<connection>> all;
  // open / bursts
  std::vector<std::shared_ptr<connection>> idle;
  unsigned opened = 0;
  std::deque<std::pair<unsigned, uint64_t>> backlog; // (kind, due ns)
  uint64_t unsent = 0;
  // progress
  uint64_t last_progress_ns = 0, last_progress_ok = 0;

  bool sending_allowed(uint64_t now) const {
    return !finished && now < stop_at_ns && (opts->max_requests == 0 || sent < opts->max_requests);
  }
  unsigned pick_kind() {
    if (cumulative.size() == 1)
      return 0;
    std::uniform_real_distribution<double> d(0, cumulative.back());
    const double x = d(rng);
    return static_cast<unsigned>(std::upper_bound(cumulative.begin(), cumulative.end(), x) -
                                 cumulative.begin()) %
           static_cast<unsigned>(cumulative.size());
  }
  std::chrono::nanoseconds think_time() {
    const auto lo = opts->think_min.count(), hi = std::max(opts->think_max.count(), lo);
    if (hi == 0)
      return std::chrono::nanoseconds(0);
    std::uniform_int_distribution<long long> d(lo * 1000000ll, hi * 1000000ll);
    return std::chrono::nanoseconds(d(rng));
  }
  void bin(std::vector<uint64_t>& bins, uint64_t t) {
    const uint64_t w = ms_to_ns(opts->bin);
    const size_t i = static_cast<size_t>((t - measure_from_ns) / w);
    if (bins.size() <= i)
      bins.resize(i + 1, 0);
    bins[i]++;
  }
  // An answer (code > 0) or a connection error (code 0) for a request of `kind` that started
  // (or was due) at t0.
  void record(unsigned kind, uint64_t t0, uint64_t t1, unsigned code) {
    if (t0 < measure_from_ns)
      return;
    auto& k = result->by_request[kind];
    const bool ok = code >= 200 && code < 300;
    if (code == 0) {
      result->transport_errors++;
      k.transport_errors++;
    } else {
      result->by_status[code]++;
      k.by_status[code]++;
    }
    if (ok) {
      result->latency_ns.record(t1 - t0);
      k.latency_ns.record(t1 - t0);
      bin(result->ok_per_bin, t1);
    } else {
      bin(result->errors_per_bin, t1);
    }
  }
};

// One keep-alive connection; sends one request at a time.
class connection : public std::enable_shared_from_this<connection> {
public:
  using done_fn = std::function<void(std::shared_ptr<connection>)>;

  connection(load_state& st, done_fn done) : stream_(*st.ioc), st_(st), done_(std::move(done)) {}

  void issue(unsigned kind, uint64_t t0) {
    kind_ = kind;
    t0_ = t0;
    req_ = &st_.kinds[kind].take();
    retried_ = false;
    st_.sent++;
    st_.in_flight++;
    if (connected_)
      write();
    else
      connect();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    connected_ = false;
  }

  bool busy() const { return busy_; }

private:
  void connect() {
    busy_ = true;
    stream_.async_connect(st_.ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return self->finish(0);
      self->connected_ = true;
      self->used_ = false;
      beast::error_code ignored;
      self->stream_.socket().set_option(tcp::no_delay(true), ignored);
      self->write();
    });
  }

  void write() {
    busy_ = true;
    http::async_write(stream_, *req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec)
        return self->retry_or_fail();
      self->res_.emplace();
      self->res_->body_limit(64 * 1024 * 1024);
      http::async_read(self->stream_, self->buffer_, *self->res_,
                       [self](beast::error_code ec, size_t) {
                         if (ec)
                           return self->retry_or_fail();
                         self->used_ = true;
                         if (!self->res_->get().keep_alive())
                           self->close();
                         self->finish(self->res_->get().result_int());
                       });
    });
  }

  // A reused keep-alive connection may have been closed by the server while idle: that is not
  // the request's failure, so it is sent once more on a fresh connection.
  void retry_or_fail() {
    const bool was_reused = used_;
    close();
    buffer_.clear();
    if (was_reused && !retried_ && !st_.finished) {
      retried_ = true;
      return connect();
    }
    finish(0);
  }

  void finish(unsigned code) {
    if (code == 0)
      close();
    busy_ = false;
    st_.in_flight--;
    st_.record(kind_, t0_, core::now_ns(), code);
    done_(shared_from_this());
  }

  beast::tcp_stream stream_;
  load_state& st_;
  done_fn done_;
  beast::flat_buffer buffer_;
  const request_msg* req_ = nullptr;
  std::optional<http::response_parser<http::string_body>> res_;
  unsigned kind_ = 0;
  uint64_t t0_ = 0;
  bool connected_ = false, used_ = false, retried_ = false, busy_ = false;
};

// -- closed loop ---------------------------------------------------------------------------------

class user : public std::enable_shared_from_this<user> {
public:
  explicit user(load_state& st) : st_(st), think_(*st.ioc) {}

  void start() {
    st_.users_alive++;
    // Weak: the connection is this user's, so a strong reference back would be a cycle that
    // outlives the run (LeakSanitizer found it). The driver's users_ keeps users alive.
    conn_ = std::make_shared<connection>(st_, [w = weak_from_this()](std::shared_ptr<connection>) {
      if (auto self = w.lock())
        self->on_done();
    });
    st_.all.push_back(conn_);
    next();
  }

  void cancel() {
    think_.cancel();
    conn_->close();
  }

private:
  void next() {
    if (!st_.sending_allowed(core::now_ns()))
      return quit();
    conn_->issue(st_.pick_kind(), core::now_ns());
  }

  void on_done() {
    if (!st_.sending_allowed(core::now_ns()))
      return quit();
    const auto t = st_.think_time();
    if (t.count() == 0)
      return next();
    think_.expires_after(t);
    think_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return self->quit();
      self->next();
    });
  }

  void quit() {
    if (quit_)
      return;
    quit_ = true;
    conn_->close();
    st_.users_alive--;
  }

  load_state& st_;
  net::steady_timer think_;
  std::shared_ptr<connection> conn_;
  bool quit_ = false;
};

// -- the run -------------------------------------------------------------------------------------

class runner {
public:
  runner(load_state& st)
    : st_(st), schedule_(*st.ioc), spawn_(*st.ioc), tick_(*st.ioc), measure_(*st.ioc) {}

  void start() {
    if (st_.opts->on_measure_start) {
      if (st_.measure_from_ns <= core::now_ns()) {
        st_.opts->on_measure_start();
      } else {
        measure_.expires_after(std::chrono::nanoseconds(st_.measure_from_ns - core::now_ns()));
        measure_.async_wait([this](beast::error_code ec) {
          if (!ec)
            st_.opts->on_measure_start();
        });
      }
    }
    if (st_.opts->mode == load_mode::closed)
      spawn_users(0);
    else
      schedule();
    tick();
  }

private:
  // Closed loop: user i starts at i / spawn_rate.
  void spawn_users(unsigned started) {
    const unsigned n = st_.opts->connections;
    const double rate = st_.opts->spawn_rate;
    const uint64_t now = core::now_ns();
    while (started < n) {
      const uint64_t at = rate > 0 ? st_.start_ns + static_cast<uint64_t>(started * 1e9 / rate) : 0;
      if (at > now)
        break;
      if (!st_.sending_allowed(now))
        return;
      auto u = std::make_shared<user>(st_);
      users_.push_back(u);
      u->start();
      ++started;
    }
    if (started >= n)
      return;
    const uint64_t at = st_.start_ns + static_cast<uint64_t>(started * 1e9 / rate);
    spawn_.expires_after(std::chrono::nanoseconds(at - now));
    spawn_.async_wait([this, started](beast::error_code ec) {
      if (!ec)
        spawn_users(started);
    });
  }

  // Open loop and bursts: the k-th request is due at due_ns(k).
  uint64_t due_ns(uint64_t k) const {
    const auto& o = *st_.opts;
    if (o.mode == load_mode::open)
      return st_.start_ns + static_cast<uint64_t>(static_cast<double>(k) * 1e9 / o.rate);
    return st_.start_ns + (k / o.burst_size) * ms_to_ns(o.period);
  }

  void schedule() {
    const uint64_t now = core::now_ns();
    while (true) {
      const uint64_t due = due_ns(next_due_);
      if (due > now)
        break;
      if (!may_schedule(due)) {
        maybe_finish();
        return;
      }
      // Counted as sent once due, so max_requests bounds what is scheduled.
      ++next_due_;
      dispatch(st_.pick_kind(), due);
    }
    const uint64_t due = due_ns(next_due_);
    if (!may_schedule(due))
      return maybe_finish();
    schedule_.expires_after(std::chrono::nanoseconds(due - now));
    schedule_.async_wait([this](beast::error_code ec) {
      if (!ec)
        schedule();
    });
  }

  // max_requests bounds what is scheduled (a request waiting for a connection counts).
  bool may_schedule(uint64_t due) const {
    return !st_.finished && due < st_.stop_at_ns &&
           (st_.opts->max_requests == 0 || next_due_ < st_.opts->max_requests);
  }

  void dispatch(unsigned kind, uint64_t due) {
    std::shared_ptr<connection> c;
    if (!st_.idle.empty()) {
      c = std::move(st_.idle.back());
      st_.idle.pop_back();
    } else if (st_.opened < st_.opts->connections) {
      st_.opened++;
      c = std::make_shared<connection>(st_, [this](std::shared_ptr<connection> c) { on_free(std::move(c)); });
      st_.all.push_back(c);
    } else {
      st_.backlog.emplace_back(kind, due);
      return;
    }
    c->issue(kind, due);
  }

  void on_free(std::shared_ptr<connection> c) {
    if (!st_.backlog.empty() && !st_.finished) {
      auto [kind, due] = st_.backlog.front();
      st_.backlog.pop_front();
      return c->issue(kind, due);
    }
    st_.idle.push_back(std::move(c));
    maybe_finish();
  }

  bool done() const {
    const uint64_t now = core::now_ns();
    const bool stopped = now >= st_.stop_at_ns ||
                         (st_.opts->max_requests && st_.sent >= st_.opts->max_requests &&
                          (st_.opts->mode == load_mode::closed || next_due_ >= st_.opts->max_requests));
    return stopped && st_.in_flight == 0 && st_.backlog.empty() && st_.users_alive == 0;
  }

  void maybe_finish() {
    if (!st_.finished && done())
      finish();
  }

  void finish() {
    st_.finished = true;
    st_.unsent += st_.backlog.size();
    st_.backlog.clear();
    schedule_.cancel();
    spawn_.cancel();
    measure_.cancel();
    tick_.cancel();
    for (auto& u : users_)
      u->cancel();
    for (auto& w : st_.all)
      if (auto c = w.lock())
        c->close();
    st_.idle.clear();
  }

  // Progress, the end of the run, and the drain deadline.
  void tick() {
    const uint64_t now = core::now_ns();
    if (now >= st_.drain_until_ns)
      return finish(); // what is still in flight fails as a connection error

    if (done())
      return finish();
    if (st_.opts->on_progress && now - st_.last_progress_ns >= 1000000000ull) {
      load_progress p;
      p.elapsed_s = (now - st_.start_ns) / 1e9;
      p.total_s = (st_.stop_at_ns - st_.start_ns) / 1e9;
      p.warming_up = now < st_.measure_from_ns;
      p.ok = st_.result->ok();
      p.errors = st_.result->errors();
      p.recent_rps = st_.last_progress_ns
                       ? (p.ok - st_.last_progress_ok) * 1e9 / static_cast<double>(now - st_.last_progress_ns)
                       : 0;
      st_.last_progress_ns = now;
      st_.last_progress_ok = p.ok;
      st_.opts->on_progress(p);
    }
    // Past the end, look often: the run is over as soon as the last answer is in.
    tick_.expires_after(std::chrono::milliseconds(now >= st_.stop_at_ns ? 5 : 100));
    tick_.async_wait([this](beast::error_code ec) {
      if (!ec)
        tick();
    });
  }

  load_state& st_;
  net::steady_timer schedule_, spawn_, tick_, measure_;
  std::vector<std::shared_ptr<user>> users_;
  uint64_t next_due_ = 0;
};

std::string varied_body(uint32_t size, uint64_t seed) {
  std::string b(size, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& c : b) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 56);
  }
  return b;
}

} // namespace

core::expected<load_result> run_load(const load_options& opts) {
  beast::error_code ec;
  const auto addr = net::ip::make_address(opts.host, ec);
  if (ec)
    return core::make_error("load: '" + opts.host + "' is not an IP address");
  if (opts.connections == 0)
    return core::make_error("load: need at least one connection (user)");
  if (opts.mode == load_mode::open && !(opts.rate > 0))
    return core::make_error("load: open loop needs a rate > 0 (requests per second)");
  if (opts.mode == load_mode::bursts && (opts.burst_size == 0 || opts.period.count() <= 0))
    return core::make_error("load: bursts need a burst size > 0 and a period > 0");
  if (opts.bin.count() <= 0)
    return core::make_error("load: the throughput bin must be positive");

  std::vector<request_spec> mix = opts.requests;
  if (mix.empty()) {
    request_spec one;
    one.method = opts.method;
    one.path = opts.path;
    one.body = opts.body;
    one.content_type = opts.content_type;
    mix.push_back(one);
  }

  load_result result;
  net::io_context ioc;
  load_state st;
  st.opts = &opts;
  st.result = &result;
  st.ioc = &ioc;
  st.ep = tcp::endpoint{addr, opts.port};
  st.rng.seed(opts.seed);
  double total = 0;
  for (size_t i = 0; i < mix.size(); ++i) {
    const auto& m = mix[i];
    if (!(m.weight >= 0))
      return core::make_error("load: request '" + m.name + "' has a negative weight");
    total += m.weight;
    st.cumulative.push_back(total);
    kind_state k;
    const unsigned variants = m.body_size > 0 ? 64 : 1;
    for (unsigned v = 0; v < variants; ++v) {
      request_msg r;
      r.method_string(m.method);
      r.target(m.path);
      r.version(11);
      r.set(http::field::host, opts.host);
      if (!m.content_type.empty())
        r.set(http::field::content_type, m.content_type);
      r.body() = m.body_size > 0 ? varied_body(m.body_size, opts.seed * 1000003 + i * 1009 + v) : m.body;
      r.keep_alive(true);
      r.prepare_payload();
      k.variants.push_back(std::move(r));
    }
    st.kinds.push_back(std::move(k));
    request_result rr;
    rr.name = m.name;
    result.by_request.push_back(std::move(rr));
  }
  if (!(total > 0))
    return core::make_error("load: the request weights add up to 0");

  const uint64_t cpu0 = thread_cpu_ns();
  st.start_ns = core::now_ns();
  st.measure_from_ns = st.start_ns + ms_to_ns(opts.warmup);
  st.stop_at_ns = st.measure_from_ns + ms_to_ns(opts.duration);
  st.drain_until_ns = st.stop_at_ns + ms_to_ns(opts.drain);
  result.bin_seconds = opts.bin.count() / 1e3;
  runner r(st);
  r.start();
  ioc.run();
  const uint64_t end = core::now_ns();
  result.seconds = end > st.measure_from_ns ? (end - st.measure_from_ns) / 1e9 : 0;
  result.generator_cpu_seconds = (thread_cpu_ns() - cpu0) / 1e9;
  result.generator_wall_seconds = (end - st.start_ns) / 1e9;
  result.unsent = st.unsent;
  return result;
}

} // namespace spry::bench
