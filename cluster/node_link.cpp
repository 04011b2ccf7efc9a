#include "cluster/node_link.hpp"

#include "cluster/link_frame.hpp"
#include "cluster/link_result.hpp"
#include "core/buffer_lease.hpp"
#include "core/pool.hpp"
#include "core/runtime.hpp"
#include "gateway/gateway.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

namespace spry::cluster {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

link_frame make_frame(link_kind kind, uint32_t length) {
  link_frame f{};
  f.magic = link_magic;
  f.version = link_version;
  f.kind = static_cast<uint16_t>(kind);
  f.length = length;
  return f;
}

// Constant time: the secret is not guessed a byte at a time from how fast refusals come.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::pair<std::string, uint16_t> split_address(const std::string& a) {
  const auto colon = a.rfind(':');
  if (colon == std::string::npos)
    return {a, 0};
  try {
    return {a.substr(0, colon), static_cast<uint16_t>(std::stoul(a.substr(colon + 1)))};
  } catch (const std::exception&) {
    return {a, 0};
  }
}

} // namespace

using steady = std::chrono::steady_clock;
/// A peer whose link failed is not offered requests for this long (unless nothing else runs the
/// function); the controller declares a dead node lost well within it.
constexpr auto failed_peer_pause = std::chrono::seconds(1);
/// After a peer failed, requests for what it ran may wait this long for the controller to place
/// those functions again.
constexpr auto replacement_wait = std::chrono::seconds(5);

// -- peers (outbound) ----------------------------------------------------------------------------

struct out_frame {
  link_frame header;
  const void* body = nullptr; ///< the request's pool buffer (header + payload), or null
  uint32_t body_length = 0;
  std::string owned;          ///< hello body
};

struct peer : std::enable_shared_from_this<peer> {
  uint32_t id = 0;
  std::string name, address;
  explicit peer(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  enum class state { idle, connecting, up } st = state::idle; // I/O thread only
  std::atomic<int64_t> failed_at_ns{0}; // steady clock; 0: never failed (or reconnected since)
  bool recently_failed() const noexcept {
    const int64_t t = failed_at_ns.load(std::memory_order_relaxed);
    return t && steady::now().time_since_epoch() - std::chrono::nanoseconds(t) < failed_peer_pause;
  }
  std::mutex mtx; // outbox
  std::deque<out_frame> outbox;
  std::vector<out_frame> writing; // I/O thread only
  std::atomic<int64_t> outstanding{0};
  std::atomic<uint64_t> hops{0};
  link_frame in_header{};
  std::string in_body;
};

// -- inbound connections -------------------------------------------------------------------------

struct inbound : std::enable_shared_from_this<inbound> {
  explicit inbound(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer timer;
  bool authenticated = false;
  std::string peer_name;
  link_frame in_header{};
  core::buffer_header in_buffer{};
  std::string scratch;
  core::buffer_lease lease;
  std::mutex mtx; // results queued by gateway threads
  std::deque<std::string> outbox;
  bool writing = false; // I/O thread only
  std::vector<std::string> batch;
  bool closed = false;  // I/O thread only
};

struct route_view {
  /// by_function[f] = (peer id, ready instances there)
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> by_function;
  /// coming[f]: placed on a live peer but not ready there yet
  std::vector<bool> coming;
};


struct node_link::impl {
  gateway::gateway& gw;
  node_link_options opts;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::string bound;

  mutable std::mutex mtx; // peers_, secret, view
  std::map<std::string, std::shared_ptr<peer>> peers_by_name;
  std::vector<std::shared_ptr<peer>> peers; // by id
  std::shared_ptr<const route_view> view = std::make_shared<route_view>();
  std::string secret;
  bool stopped = false;

  std::atomic<uint64_t> hops_out{0}, hops_in{0}, results_in{0}, link_failures{0},
    refused_peers{0}, bad_frames{0};
  /// Per function: when a peer that ran it last failed (steady ns; 0 never).
  std::unique_ptr<std::atomic<int64_t>[]> function_failed_at;
  size_t functions = 0;

  impl(gateway::gateway& g, node_link_options o) : gw(g), opts(std::move(o)) {
    functions = gw.runtime().app().functions.size();
    function_failed_at.reset(new std::atomic<int64_t>[functions]);
    for (size_t f = 0; f < functions; ++f)
      function_failed_at[f].store(0);
  }

  std::shared_ptr<const route_view> current_view() const {
    std::lock_guard<std::mutex> guard{mtx};
    return view;
  }

  // ---- outbound ----
  void pump(const std::shared_ptr<peer>& p) {
    if (p->st == peer::state::connecting)
      return;
    if (p->st == peer::state::idle) {
      connect(p);
      return;
    }
    if (!p->writing.empty())
      return;
    {
      std::lock_guard<std::mutex> guard{p->mtx};
      while (!p->outbox.empty()) {
        p->writing.push_back(std::move(p->outbox.front()));
        p->outbox.pop_front();
      }
    }
    if (p->writing.empty())
      return;
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(p->writing.size() * 2);
    for (auto& f : p->writing) {
      bufs.emplace_back(&f.header, sizeof f.header);
      if (f.body)
        bufs.emplace_back(f.body, f.body_length);
      else if (!f.owned.empty())
        bufs.emplace_back(f.owned.data(), f.owned.size());
    }
    asio::async_write(p->socket, bufs, [this, p](boost::system::error_code ec, size_t) {
      p->writing.clear();
      if (ec)
        return fail(p, "cannot send to node '" + p->name + "' (" + p->address + "): " + ec.message());
      pump(p);
    });
  }

  void connect(const std::shared_ptr<peer>& p) {
    p->st = peer::state::connecting;
    auto [host, port] = split_address(p->address);
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec || port == 0)
      return fail(p, "node '" + p->name + "' has an unusable data address '" + p->address + "'");
    p->socket = tcp::socket(io);
    p->socket.async_connect(tcp::endpoint(addr, port), [this, p](boost::system::error_code ec) {
      if (ec)
        return fail(p, "cannot reach node '" + p->name + "' at " + p->address + ": " + ec.message());
      p->socket.set_option(tcp::no_delay(true));
      p->st = peer::state::up;
      p->failed_at_ns.store(0, std::memory_order_relaxed);
      // The hello goes first: queued at the front of what is waiting.
      out_frame hello;
      {
        std::lock_guard<std::mutex> guard{mtx};
        hello.owned = secret + "\n" + opts.node_name;
      }
      hello.header = make_frame(link_kind::hello, static_cast<uint32_t>(hello.owned.size()));
      {
        std::lock_guard<std::mutex> guard{p->mtx};
        p->outbox.push_front(std::move(hello));
      }
      read_result(p);
      pump(p);
    });
  }

  void read_result(const std::shared_ptr<peer>& p) {
    asio::async_read(p->socket, asio::buffer(&p->in_header, sizeof p->in_header),
                     [this, p](boost::system::error_code ec, size_t) {
      if (ec)
        return fail(p, "node '" + p->name + "' closed the link: " + ec.message());
      const auto& h = p->in_header;
      if (h.magic != link_magic || h.version != link_version ||
          h.kind != static_cast<uint16_t>(link_kind::result) || h.length > link_max_body) {
        bad_frames++;
        return fail(p, "node '" + p->name + "' sent a malformed frame");
      }
      p->in_body.resize(h.length);
      asio::async_read(p->socket, asio::buffer(p->in_body),
                       [this, p](boost::system::error_code ec, size_t) {
        if (ec)
          return fail(p, "node '" + p->name + "' closed the link: " + ec.message());
        auto r = decode_result(p->in_body);
        if (!r) {
          bad_frames++;
          return fail(p, "node '" + p->name + "' sent a bad result: " + r.err().message);
        }
        const auto& h = p->in_header;
        gateway::remote_ref ref{h.chain, static_cast<uint32_t>(h.slot), h.request_id};
        results_in++;
        if (h.slot > UINT32_MAX || !gw.complete_remote(ref, std::move(*r)))
          spdlog::warn("cluster link: node '{}' answered request {} that no request here waits "
                       "for (late, duplicate or forged); ignored", p->name, h.request_id);
        else
          p->outstanding.fetch_sub(1, std::memory_order_relaxed);
        read_result(p);
      });
    });
  }

  /// The link to `p` is gone: everything waiting on it is answered 502. I/O thread.
  void fail(const std::shared_ptr<peer>& p, const std::string& why) {
    if (p->st == peer::state::idle && p->writing.empty())
      return; // already failed (both a read and a write saw it)
    boost::system::error_code ignored;
    p->socket.close(ignored);
    p->st = peer::state::idle;
    const int64_t now = steady::now().time_since_epoch().count();
    p->failed_at_ns.store(now, std::memory_order_relaxed);
    // What it ran may wait for the controller to place it again (gateway::can_hold).
    const auto v = current_view();
    for (size_t f = 0; f < v->by_function.size() && f < functions; ++f)
      for (const auto& [id, ready] : v->by_function[f])
        if (id == p->id)
          function_failed_at[f].store(now, std::memory_order_relaxed);
    // Frames still queued point into buffers that fail_remote is about to release.
    {
      std::lock_guard<std::mutex> guard{p->mtx};
      p->outbox.clear();
    }
    p->writing.clear();
    link_failures++;
    spdlog::warn("cluster link: {}", why);
    gw.fail_remote(gateway::remote_holder_base + p->id, why);
    p->outstanding.store(0, std::memory_order_relaxed);
  }

  // ---- inbound ----
  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec != asio::error::operation_aborted)
          spdlog::warn("cluster link: accept failed: {}", ec.message());
        if (acceptor.is_open())
          accept();
        return;
      }
      s.set_option(tcp::no_delay(true));
      auto c = std::make_shared<inbound>(std::move(s));
      // A peer that does not say who it is within 5 s is dropped.
      c->timer.expires_after(std::chrono::seconds(5));
      c->timer.async_wait([this, c](boost::system::error_code ec) {
        if (!ec && !c->authenticated)
          close(c, "no hello within 5 s");
      });
      read_frame(c);
      accept();
    });
  }

  std::string remote_of(const std::shared_ptr<inbound>& c) {
    boost::system::error_code ec;
    auto ep = c->socket.remote_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void close(const std::shared_ptr<inbound>& c, const std::string& why) {
    if (c->closed)
      return;
    c->closed = true;
    if (!why.empty())
      spdlog::warn("cluster link: closing the link from {} ({}): {}",
                   c->peer_name.empty() ? "an unknown peer" : "node '" + c->peer_name + "'",
                   remote_of(c), why);
    boost::system::error_code ignored;
    c->timer.cancel();
    c->socket.close(ignored);
    c->lease = {};
  }

  void read_frame(const std::shared_ptr<inbound>& c) {
    asio::async_read(c->socket, asio::buffer(&c->in_header, sizeof c->in_header),
                     [this, c](boost::system::error_code ec, size_t) {
      if (ec)
        return close(c, ec == asio::error::eof ? std::string() : ec.message());
      const auto& h = c->in_header;
      if (h.magic != link_magic || h.version != link_version || h.length > link_max_body) {
        (c->authenticated ? bad_frames : refused_peers)++;
        return close(c, c->authenticated ? "malformed frame (magic, version or length)"
                                         : "refused: not a spry data link (bad first frame)");
      }
      if (!c->authenticated) {
        if (h.kind != static_cast<uint16_t>(link_kind::hello) || h.length > 512) {
          refused_peers++;
          return close(c, "refused: the first frame must be a hello");
        }
        c->scratch.resize(h.length);
        return asio::async_read(c->socket, asio::buffer(c->scratch),
                                [this, c](boost::system::error_code ec, size_t) {
          if (ec)
            return close(c, ec.message());
          const auto nl = c->scratch.find('\n');
          const std::string given = c->scratch.substr(0, nl);
          std::string mine;
          {
            std::lock_guard<std::mutex> guard{mtx};
            mine = secret;
          }
          if (nl == std::string::npos || !same_secret(given, mine)) {
            refused_peers++;
            return close(c, "refused: it did not present this cluster's link secret");
          }
          c->authenticated = true;
          c->timer.cancel();
          c->peer_name = c->scratch.substr(nl + 1, 63);
          read_frame(c);
        });
      }
      if (h.kind != static_cast<uint16_t>(link_kind::request) ||
          h.length < sizeof(core::buffer_header)) {
        bad_frames++;
        return close(c, "unexpected frame kind " + std::to_string(h.kind));
      }
      asio::async_read(c->socket, asio::buffer(&c->in_buffer, sizeof c->in_buffer),
                       [this, c](boost::system::error_code ec, size_t) {
        if (ec)
          return close(c, ec.message());
        on_request_header(c);
      });
    });
  }

  void on_request_header(const std::shared_ptr<inbound>& c) {
    const auto& h = c->in_header;
    const auto& b = c->in_buffer;
    auto& rt = gw.runtime();
    const uint32_t payload = h.length - static_cast<uint32_t>(sizeof(core::buffer_header));
    std::string bad;
    if (h.chain >= rt.pools().size())
      bad = "unknown chain " + std::to_string(h.chain);
    else if (h.function >= rt.app().functions.size())
      bad = "unknown function " + std::to_string(h.function);
    else if (b.payload_length != payload)
      bad = "payload length " + std::to_string(b.payload_length) + " does not match the frame";
    else if (payload > rt.pools()[h.chain].buffer_size())
      bad = "payload of " + std::to_string(payload) + " bytes is larger than chain '" +
            rt.app().chains[h.chain].name + "''s buffers";
    if (!bad.empty()) {
      bad_frames++;
      return close(c, "bad request frame: " + bad);
    }
    auto lease = gw.reserve(h.chain);
    if (auto* r = std::get_if<gateway::chain_result>(&lease)) {
      // Pool exhausted here: read the payload past, answer 503.
      c->scratch.resize(payload);
      auto result = std::move(*r);
      return asio::async_read(c->socket, asio::buffer(c->scratch),
                              [this, c, result = std::move(result)](boost::system::error_code ec,
                                                                    size_t) mutable {
        if (ec)
          return close(c, ec.message());
        send_result(c, c->in_header, result);
        read_frame(c);
      });
    }
    c->lease = std::move(std::get<core::buffer_lease>(lease));
    asio::async_read(c->socket, asio::buffer(core::pool::payload(c->lease.get()), payload),
                     [this, c](boost::system::error_code ec, size_t) {
      if (ec)
        return close(c, ec.message());
      hops_in++;
      const link_frame h = c->in_header;
      std::weak_ptr<inbound> weak = c;
      auto done = [this, weak, h](gateway::chain_result r) {
        if (auto c = weak.lock())
          send_result(c, h, r);
      };
      auto started = gw.submit_at(h.chain, std::move(c->lease), c->in_buffer, h.function, done);
      if (auto* r = std::get_if<gateway::chain_result>(&started)) {
        send_result(c, h, *r);
      } else {
        // The chain's own deadline here: answered 504 to the sender, so its buffer is not held
        // forever by a request this node lost track of.
        const auto t = std::get<gateway::ticket>(started);
        auto timer = std::make_shared<asio::steady_timer>(io);
        timer->expires_after(std::chrono::milliseconds(gw.chain_timeout_ms(h.chain)));
        timer->async_wait([this, weak, h, t, timer](boost::system::error_code ec) {
          if (ec || !gw.abandon(t))
            return;
          if (auto c = weak.lock())
            send_result(c, h, gateway::make_result(504, "the chain did not finish within its "
                                                        "timeout on node '" + opts.node_name + "'",
                                                   h.request_id));
        });
      }
      read_frame(c);
    });
  }

  /// Any thread.
  void send_result(const std::shared_ptr<inbound>& c, const link_frame& req,
                   const gateway::chain_result& r) {
    std::string body = encode_result(r);
    link_frame f = make_frame(link_kind::result, static_cast<uint32_t>(body.size()));
    f.chain = req.chain;
    f.slot = req.slot;
    f.request_id = req.request_id;
    std::string frame(reinterpret_cast<const char*>(&f), sizeof f);
    frame += body;
    {
      std::lock_guard<std::mutex> guard{c->mtx};
      c->outbox.push_back(std::move(frame));
    }
    asio::post(io, [this, c] { write_results(c); });
  }

  void write_results(const std::shared_ptr<inbound>& c) {
    if (c->writing || c->closed)
      return;
    {
      std::lock_guard<std::mutex> guard{c->mtx};
      while (!c->outbox.empty()) {
        c->batch.push_back(std::move(c->outbox.front()));
        c->outbox.pop_front();
      }
    }
    if (c->batch.empty())
      return;
    c->writing = true;
    std::vector<asio::const_buffer> bufs;
    for (const auto& s : c->batch)
      bufs.emplace_back(s.data(), s.size());
    asio::async_write(c->socket, bufs, [this, c](boost::system::error_code ec, size_t) {
      c->writing = false;
      c->batch.clear();
      if (ec)
        return close(c, ec.message());
      write_results(c);
    });
  }
};

node_link::node_link(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

core::expected<std::unique_ptr<node_link>> node_link::start(gateway::gateway& gw,
                                                            node_link_options opts) {
  auto p = std::make_unique<impl>(gw, std::move(opts));
  try {
    auto addr = asio::ip::make_address(p->opts.host);
    tcp::endpoint ep(addr, p->opts.port);
    p->acceptor.open(ep.protocol());
    p->acceptor.set_option(tcp::acceptor::reuse_address(true));
    p->acceptor.bind(ep);
    p->acceptor.listen();
    p->bound = p->opts.host + ":" + std::to_string(p->acceptor.local_endpoint().port());
  } catch (const std::exception& e) {
    return core::make_error("cluster data link: cannot listen on " + p->opts.host + ":" +
                            std::to_string(p->opts.port) + ": " + e.what());
  }
  p->accept();
  auto* raw = p.get();
  p->thread = std::thread([raw] {
    auto guard = asio::make_work_guard(raw->io);
    raw->io.run();
  });
  return std::unique_ptr<node_link>(new node_link(std::move(p)));
}

node_link::~node_link() { stop(); }

void node_link::stop() {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (impl_->stopped)
      return;
    impl_->stopped = true;
    impl_->view = std::make_shared<route_view>();
  }
  // Fail what waits on peers from the I/O thread (it owns the sockets), then stop it.
  asio::post(impl_->io, [p = impl_.get()] {
    boost::system::error_code ignored;
    p->acceptor.close(ignored);
    std::vector<std::shared_ptr<peer>> all;
    {
      std::lock_guard<std::mutex> guard{p->mtx};
      all = p->peers;
    }
    for (auto& x : all)
      if (x->st != peer::state::idle || x->outstanding.load() > 0)
        p->fail(x, "this node's link is stopping");
    p->io.stop();
  });
  if (impl_->thread.joinable())
    impl_->thread.join();
}

std::string node_link::address() const { return impl_->bound; }

void node_link::set_secret(std::string secret) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->secret = std::move(secret);
}

void node_link::update(const cluster_view& v, const std::string& self_name) {
  auto rv = std::make_shared<route_view>();
  rv->by_function.resize(v.ready.size());
  rv->coming.assign(v.ready.size(), false);
  std::vector<std::shared_ptr<peer>> dropped;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (impl_->stopped)
      return;
    std::vector<uint32_t> id_of(v.nodes.size(), UINT32_MAX);
    for (size_t n = 0; n < v.nodes.size(); ++n) {
      const auto& vn = v.nodes[n];
      if (vn.name == self_name || !vn.alive)
        continue;
      auto& slot = impl_->peers_by_name[vn.name];
      if (slot && slot->address != vn.data_address) {
        dropped.push_back(slot); // it came back elsewhere: the old connection is stale
        slot.reset();
      }
      if (!slot) {
        slot = std::make_shared<peer>(impl_->io);
        slot->id = static_cast<uint32_t>(impl_->peers.size());
        slot->name = vn.name;
        slot->address = vn.data_address;
        impl_->peers.push_back(slot);
      }
      id_of[n] = slot->id;
    }
    for (auto& [name, p] : impl_->peers_by_name) {
      if (!p)
        continue;
      bool listed = false;
      for (const auto& vn : v.nodes)
        listed = listed || (vn.name == name && vn.alive && vn.data_address == p->address);
      if (!listed)
        dropped.push_back(p);
    }
    for (auto& p : dropped)
      if (impl_->peers_by_name[p->name] == p)
        impl_->peers_by_name[p->name].reset();
    for (size_t f = 0; f < v.ready.size(); ++f)
      for (size_t n = 0; n < v.ready[f].size() && n < id_of.size(); ++n) {
        if (id_of[n] != UINT32_MAX && v.ready[f][n] > 0)
          rv->by_function[f].emplace_back(id_of[n], v.ready[f][n]);
        if (id_of[n] != UINT32_MAX && f < v.placed.size() && n < v.placed[f].size() &&
            v.placed[f][n] > v.ready[f][n])
          rv->coming[f] = true;
      }
    impl_->view = rv;
  }
  for (auto& p : dropped)
    asio::post(impl_->io, [i = impl_.get(), p] {
      if (p->st != peer::state::idle || p->outstanding.load() > 0)
        i->fail(p, "node '" + p->name + "' left the cluster's directory");
    });
}

bool node_link::runs_elsewhere(core::function_id f) const noexcept {
  auto v = impl_->current_view();
  if (f >= v->by_function.size())
    return false;
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (const auto& [id, ready] : v->by_function[f])
    if (id < impl_->peers.size() && !impl_->peers[id]->recently_failed())
      return true;
  return false;
}

bool node_link::coming(core::function_id f) const noexcept {
  auto v = impl_->current_view();
  if (f < v->coming.size() && v->coming[f])
    return true;
  if (f >= impl_->functions)
    return false;
  const int64_t t = impl_->function_failed_at[f].load(std::memory_order_relaxed);
  return t && steady::now().time_since_epoch() - std::chrono::nanoseconds(t) < replacement_wait;
}

core::endpoint_id node_link::forward(core::function_id f, const core::buffer_header& b,
                                     gateway::remote_ref ref,
                                     std::atomic<core::endpoint_id>& holder) noexcept {
  try {
    auto v = impl_->current_view();
    if (f >= v->by_function.size() || v->by_function[f].empty())
      return core::no_endpoint;
    // The peer with the fewest requests waiting per instance there; a peer whose link just
    // failed is tried only when no other runs the function.
    std::shared_ptr<peer> best;
    double best_load = 0;
    bool best_failed = true;
    {
      std::lock_guard<std::mutex> guard{impl_->mtx};
      for (const auto& [id, ready] : v->by_function[f]) {
        if (id >= impl_->peers.size())
          continue;
        auto& p = impl_->peers[id];
        if (impl_->peers_by_name[p->name] != p)
          continue;
        const bool failed = p->recently_failed();
        const double load = static_cast<double>(p->outstanding.load(std::memory_order_relaxed) + 1) /
                            std::max<uint32_t>(ready, 1);
        if (!best || (best_failed && !failed) || (failed == best_failed && load < best_load)) {
          best = p;
          best_load = load;
          best_failed = failed;
        }
      }
    }
    if (!best)
      return core::no_endpoint;
    out_frame fr;
    fr.header = make_frame(link_kind::request,
                           static_cast<uint32_t>(sizeof(core::buffer_header) + b.payload_length));
    fr.header.function = f;
    fr.header.chain = ref.chain;
    fr.header.slot = ref.slot;
    fr.header.request_id = ref.request_id;
    fr.body = &b;
    fr.body_length = fr.header.length;
    const core::endpoint_id h = gateway::remote_holder_base + best->id;
    holder.store(h, std::memory_order_release);
    best->outstanding.fetch_add(1, std::memory_order_relaxed);
    best->hops.fetch_add(1, std::memory_order_relaxed);
    impl_->hops_out++;
    {
      std::lock_guard<std::mutex> guard{best->mtx};
      best->outbox.push_back(std::move(fr));
    }
    asio::post(impl_->io, [i = impl_.get(), best] { i->pump(best); });
    return h;
  } catch (...) {
    return core::no_endpoint;
  }
}

node_link::counters node_link::stats() const noexcept {
  counters c;
  c.hops_out = impl_->hops_out.load();
  c.hops_in = impl_->hops_in.load();
  c.results_in = impl_->results_in.load();
  c.link_failures = impl_->link_failures.load();
  c.refused_peers = impl_->refused_peers.load();
  c.bad_frames = impl_->bad_frames.load();
  return c;
}

std::string node_link::metrics_text() const {
  const auto c = stats();
  std::ostringstream o;
  o << "# HELP spry_cross_node_hops_total Requests this node sent on to another node, by peer.\n"
       "# TYPE spry_cross_node_hops_total counter\n";
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    std::map<std::string, uint64_t> by_name;
    for (const auto& p : impl_->peers)
      by_name[p->name] += p->hops.load(std::memory_order_relaxed);
    for (const auto& [name, n] : by_name)
      o << "spry_cross_node_hops_total{peer=\"" << name << "\"} " << n << "\n";
  }
  o << "# HELP spry_cross_node_hops_in_total Requests other nodes sent here.\n"
       "# TYPE spry_cross_node_hops_in_total counter\n"
       "spry_cross_node_hops_in_total " << c.hops_in << "\n"
       "# HELP spry_cluster_link_failures_total Outbound links to other nodes lost or refused.\n"
       "# TYPE spry_cluster_link_failures_total counter\n"
       "spry_cluster_link_failures_total " << c.link_failures << "\n"
       "# HELP spry_cluster_refused_peers_total Inbound links refused (no or wrong secret).\n"
       "# TYPE spry_cluster_refused_peers_total counter\n"
       "spry_cluster_refused_peers_total " << c.refused_peers << "\n"
       "# HELP spry_cluster_bad_frames_total Malformed frames on the data link.\n"
       "# TYPE spry_cluster_bad_frames_total counter\n"
       "spry_cluster_bad_frames_total " << c.bad_frames << "\n";
  return o.str();
}

} // namespace spry::cluster
