#include "transports/tcp/tcp_transport.hpp"

#include "core/app_spec.hpp"
#include "core/data_path_counters.hpp"
#include "core/home_buffer.hpp"
#include "core/message.hpp"
#include "core/route_next.hpp"
#include "core/pool.hpp"
#include "core/queue_depth.hpp"
#include "transports/tcp/envelope.hpp"
#include "transports/tcp/nginx_front_end.hpp"
#include "transports/tcp/pod_setup.hpp"
#include "transports/tcp/queue_proxy.hpp"
#include "transports/tcp/tcp_client.hpp"
#include "transports/tcp/tcp_config.hpp"
#include "transports/tcp/tcp_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

namespace spry::transports::tcp {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using btcp = net::ip::tcp;
using core::endpoint_id;
using core::send_status;

namespace {

// The IPv4 address of the first interface other than loopback in this thread's network
// namespace (a pod has exactly one: eth0), or empty.
std::string pod_address() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    return {};
  std::string out;
  for (ifaddrs* i = list; i && out.empty(); i = i->ifa_next)
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && !(i->ifa_flags & IFF_LOOPBACK)) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      out = buf;
    }
  freeifaddrs(list);
  return out;
}

struct alignas(64) local_slot {
  std::atomic<core::descriptor_sink*> receiver{nullptr};
  core::queue_depth depth;
  std::unique_ptr<btcp::acceptor> acceptor; // control + io thread (guarded by control_)
  uint16_t port = 0;
};

// The transport: binding, peers and the data path; the client side (tcp_client.hpp) reports to
// it as client_owner, and every accepted connection is served (tcp_server.hpp) into receive().
class tcp_transport final : public core::transport, public client_owner, public frame_receiver {
public:
  explicit tcp_transport(const core::transport_context& ctx)
    : pools_(ctx.pools),
      capacity_(ctx.queue_capacity),
      slots_(new local_slot[ctx.max_endpoints]),
      slot_count_(ctx.max_endpoints),
      listen_fds_(ctx.listen_fds),
      work_(net::make_work_guard(ioc_)) {
    if (ctx.app)
      max_conns_ = std::max(1u, tcp_config_of(*ctx.app).connections_per_peer);
    // In a pod (tcp.namespaces) loopback is the pod's own: endpoints listen on, and are
    // advertised at, the pod's address instead.
    if (ctx.app && tcp_config_of(*ctx.app).namespaces)
      if (auto a = pod_address(); !a.empty())
        host_ = a;
    uint64_t largest = 0;
    for (auto& p : *pools_)
      largest = std::max<uint64_t>(largest, p.buffer_size());
    body_limit_ = largest + 4096;
    io_ = std::thread([this] { ioc_.run(); });
  }

  ~tcp_transport() override {
    stop();
    work_.reset();
    ioc_.stop();
    if (io_.joinable())
      io_.join();
    // A stopped io_context drops the posted close_peer calls unrun, and an idle connection keeps
    // its peer alive (peer -> idle conn -> peer): break the cycle now that no thread touches them.
    for (auto& p : retired_) {
      p->idle.clear();
      p->queue.clear();
    }
    for (auto& [fd_id, fd] : listen_fds_)
      (void)fd_id, (void)fd; // ownership moved to acceptors on bind; unbound fds are the agent's
  }

  std::string_view name() const noexcept override { return "tcp"; }

  // -- binding (control thread) ----------------------------------------------------------------

  core::status_or_error bind(endpoint_id id, std::shared_ptr<core::descriptor_sink> receiver) override {
    std::lock_guard<std::mutex> guard{control_};
    if (stopped_.load())
      return core::make_error("tcp transport: stopped");
    if (id >= slot_count_)
      return core::make_error("tcp transport: endpoint " + std::to_string(id) + " is out of range");
    if (!receiver || !receiver->actor())
      return core::make_error("tcp transport: endpoint " + std::to_string(id) +
                              " bound to an invalid actor");
    auto& s = slots_[id];
    if (s.receiver.load())
      return core::make_error("tcp transport: endpoint " + std::to_string(id) + " is already bound");
    auto acc = std::make_unique<btcp::acceptor>(ioc_);
    beast::error_code ec;
    if (auto fd = listen_fds_.find(id); fd != listen_fds_.end()) {
      acc->assign(btcp::v4(), fd->second, ec);
      listen_fds_.erase(fd);
    } else {
      const btcp::endpoint ep{net::ip::make_address_v4(host_), 0};
      acc->open(ep.protocol(), ec);
      if (!ec)
        acc->bind(ep, ec);
      if (!ec)
        acc->listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec)
      return core::make_error("tcp transport: cannot listen for endpoint " + std::to_string(id) +
                              ": " + ec.message());
    s.port = acc->local_endpoint(ec).port();
    s.depth.reset();
    s.receiver.store(receiver.get(), std::memory_order_release);
    keep_alive_.push_back(std::move(receiver));
    s.acceptor = std::move(acc);
    net::post(ioc_, [this, id] { accept(id); });
    // A local endpoint is also a peer: sends to it go through the kernel like any other.
    add_peer(id, host_ + ":" + std::to_string(s.port));
    return {};
  }

  void unbind(endpoint_id id) noexcept override {
    std::lock_guard<std::mutex> guard{control_};
    if (id >= slot_count_)
      return;
    slots_[id].receiver.store(nullptr, std::memory_order_release);
    if (slots_[id].acceptor) {
      auto acc = std::shared_ptr<btcp::acceptor>(std::move(slots_[id].acceptor));
      net::post(ioc_, [acc] {
        beast::error_code ignored;
        acc->close(ignored);
      });
    }
    drop_peer(id);
  }

  std::string address_of(endpoint_id id) const override {
    if (id >= slot_count_ || !slots_[id].receiver.load())
      return {};
    return host_ + ":" + std::to_string(slots_[id].port);
  }

  core::status_or_error set_peer(endpoint_id id, const std::string& address) override {
    std::lock_guard<std::mutex> guard{control_};
    return add_peer(id, address);
  }

  void remove_peer(endpoint_id id) noexcept override {
    std::lock_guard<std::mutex> guard{control_};
    drop_peer(id);
  }

  // -- data path (any thread) ------------------------------------------------------------------

  send_status send(const core::descriptor& d) noexcept override {
    if (stopped_.load(std::memory_order_relaxed))
      return reject(send_status::closed);
    std::shared_ptr<peer> p;
    {
      std::lock_guard<std::mutex> guard{peers_mtx_};
      auto i = peers_.find(d.dst);
      if (i != peers_.end())
        p = i->second;
    }
    if (!p)
      return reject(send_status::unknown_endpoint);
    if (d.pool >= pools_->size())
      return reject(send_status::invalid);
    core::pool& pl = (*pools_)[d.pool];
    core::buffer_header* b = pl.resolve(d.offset);
    if (!b)
      return reject(send_status::invalid);
    if (p->in_flight.fetch_add(1, std::memory_order_relaxed) >= capacity_) {
      p->in_flight.fetch_sub(1, std::memory_order_relaxed);
      return reject(send_status::backpressure);
    }
    const uint32_t len = std::min(b->payload_length, pl.buffer_size());
    outgoing msg{encode_envelope(d.dst, *b, std::string_view(core::pool::payload(b), len)),
                 d.dst, d.pool, b->request_id, b->home_offset, false};
    // The gateway keeps a request's home buffer while it is out: the answer comes back into it.
    msg.home_kept = gateway_here() && b->home_offset == pl.offset_of(b);
    if (!msg.home_kept)
      pl.release(b);
    sent_.fetch_add(1, std::memory_order_relaxed);
    net::post(ioc_, [this, p, m = std::move(msg)]() mutable { enqueue(p, std::move(m)); });
    return send_status::ok;
  }

  void consumed(endpoint_id id) noexcept override {
    if (id < slot_count_)
      slots_[id].depth.remove();
  }

  uint32_t queue_depth(endpoint_id id) const noexcept override {
    return id < slot_count_ ? slots_[id].depth.get() : 0;
  }

  core::transport_stats stats() const noexcept override {
    return {sent_.load(), delivered_.load(), rejected_.load()};
  }

  void stop() noexcept override {
    {
      std::lock_guard<std::mutex> guard{control_};
      if (stopped_.exchange(true))
        return;
      for (uint32_t i = 0; i < slot_count_; ++i) {
        slots_[i].receiver.store(nullptr, std::memory_order_release);
        if (slots_[i].acceptor) {
          auto acc = std::shared_ptr<btcp::acceptor>(std::move(slots_[i].acceptor));
          net::post(ioc_, [acc] {
            beast::error_code ignored;
            acc->close(ignored);
          });
        }
      }
      std::lock_guard<std::mutex> g2{peers_mtx_};
      for (auto& [id, p] : peers_) {
        auto keep = p;
        net::post(ioc_, [keep] { close_peer(*keep); });
        retired_.push_back(p);
      }
      peers_.clear();
    }
  }

  // -- frame_receiver and client_owner (io thread) -----------------------------------------------

  /// Takes a received frame: 204 accepted, or an HTTP error status with the reason.
  std::pair<http::status, std::string> receive(std::string_view body) override {
    msgpack::object_handle keep;
    auto env = parse_envelope(body, keep);
    if (!env)
      return {http::status::bad_request, env.err().message};
    const auto& e = *env;
    if (e.dst >= slot_count_ || !slots_[e.dst].receiver.load(std::memory_order_acquire))
      return {http::status::not_found, "endpoint " + std::to_string(e.dst) + " is not served here"};
    if (e.header.chain >= pools_->size())
      return {http::status::bad_request, "unknown chain " + std::to_string(e.header.chain)};
    core::pool& pl = (*pools_)[e.header.chain];
    if (e.payload.size() > pl.buffer_size())
      return {http::status::payload_too_large, "payload larger than the chain's buffer size"};
    core::buffer_header* b = nullptr;
    const bool home = e.dst == core::gateway_endpoint;
    if (home) {
      // Back home: the gateway still holds the request's buffer (locked while this writes, see
      // core/home_buffer.hpp); anything else is stale.
      b = pl.resolve(e.header.home_offset);
      const bool locked = b && !(e.header.request_id & core::home_busy_bit) &&
                          core::lock_home(*b, e.header.request_id);
      if (!locked || b->home_offset != e.header.home_offset) {
        if (locked)
          core::unlock_home(*b, e.header.request_id);
        return {http::status::gone, "request " + std::to_string(e.header.request_id) +
                                      " is no longer waiting at the gateway"};
      }
    } else {
      b = pl.alloc();
      if (!b)
        return {http::status::service_unavailable, "pool exhausted"};
    }
    write_envelope(e, b, home);
    if (home)
      core::unlock_home(*b, e.header.request_id);
    const core::descriptor d{e.dst, e.header.chain, core::tag_of(e.header.request_id),
                             pl.offset_of(b)};
    if (!deliver_local(d, /*bounded=*/e.dst != core::gateway_endpoint)) {
      if (e.dst != core::gateway_endpoint)
        pl.release(b);
      return {http::status::service_unavailable, "endpoint queue is full"};
    }
    return {http::status::no_content, {}};
  }

  void sent_ok(peer& p, std::shared_ptr<client_conn> c) override {
    p.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (p.removed) {
      c->close();
      return;
    }
    if (!p.queue.empty()) {
      auto m = std::move(p.queue.front());
      p.queue.pop_front();
      c->start(std::move(m));
      return;
    }
    p.idle.push_back(std::move(c));
  }

  void send_failed(peer& p, outgoing msg, const std::string& why, send_failure how) override {
    p.in_flight.fetch_sub(1, std::memory_order_relaxed);
    p.open = p.open > 0 ? p.open - 1 : 0;
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return_to_gateway(std::move(msg), "could not deliver to endpoint " + std::to_string(p.id) +
                                        ": " + why,
                      how);
    pump(p);
  }

  size_t body_limit() const noexcept override { return body_limit_; }

private:
  send_status reject(send_status s) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }

  bool gateway_here() const noexcept {
    return slots_[core::gateway_endpoint].receiver.load(std::memory_order_relaxed) != nullptr;
  }

  bool deliver_local(const core::descriptor& d, bool bounded) {
    auto& s = slots_[d.dst];
    auto* receiver = s.receiver.load(std::memory_order_acquire);
    if (!receiver)
      return false;
    if (!bounded)
      s.depth.add();
    else if (!s.depth.try_add(capacity_))
      return false;
    // Run to completion on the I/O thread, right after the frame's 204 has been written (the
    // session writes it when receive() returns; running the function first would hold the
    // sender's connection for the function's whole run). The sink is kept alive by keep_alive_.
    net::post(ioc_, [receiver, d] { receiver->deliver(d); });
    delivered_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // A message could not be delivered: hand its request back to the gateway, so the client gets
  // an answer instead of waiting for the deadline. `how` far it got decides how: one the peer
  // never took (not_sent) goes back unchanged (buffer_status::undelivered), for the gateway to
  // send to another instance of the same function (or hold); one that may have reached it
  // (unanswered) is failed here as transport_failed (the gateway answers it with how the peer's
  // instance ended, once the supervisor says); one the peer answered with an error is failed
  // with `why` (503 when it was overloaded, else 502).
  void return_to_gateway(outgoing msg, const std::string& why, send_failure how) {
    if (msg.dst == core::gateway_endpoint) {
      lost_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("tcp: request {} could not be returned to the gateway ({}); it will time out "
                   "there",
                   msg.request_id, why);
      return;
    }
    if (msg.chain >= pools_->size())
      return;
    core::pool& pl = (*pools_)[msg.chain];
    core::buffer_header* b = nullptr;
    if (msg.home_kept) {
      b = pl.resolve(msg.home_offset);
      if (!b || !core::lock_home(*b, msg.request_id))
        return; // the gateway gave up on it and took its buffer back (core/home_buffer.hpp)
    } else {
      msgpack::object_handle keep;
      auto env = parse_envelope(msg.body, keep);
      b = pl.alloc();
      if (!env || !b) {
        if (b)
          pl.release(b);
        lost_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("tcp: cannot fail request {} back to the gateway (no buffer)", msg.request_id);
        return;
      }
      write_envelope(*env, b);
    }
    if (how == send_failure::not_sent) {
      core::mark_undelivered(*b, msg.dst);
    } else {
      core::message m(b, pl.buffer_size());
      const auto f = core::failure_of(how == send_failure::overloaded
                                        ? core::hop_outcome::overloaded
                                        : core::hop_outcome::unreachable);
      m.fail(why, f.http_status);
      b->status = static_cast<uint16_t>(f.status);
      if (how == send_failure::unanswered)
        core::mark_transport_failed(*b, msg.dst);
    }
    if (msg.home_kept)
      core::unlock_home(*b, msg.request_id);
    const core::descriptor d{core::gateway_endpoint, msg.chain, core::tag_of(msg.request_id),
                             pl.offset_of(b)};
    if (gateway_here()) {
      if (!deliver_local(d, false) && !msg.home_kept)
        pl.release(b);
      return;
    }
    if (send(d) != send_status::ok) {
      pl.release(b);
      lost_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("tcp: request {} could not be failed back to the gateway; it will time out",
                   msg.request_id);
    }
  }

  core::status_or_error add_peer(endpoint_id id, const std::string& address) {
    // "host:port" or "host:port/prefix"
    const auto slash = address.find('/');
    const auto hostport = address.substr(0, slash);
    const auto colon = hostport.rfind(':');
    if (colon == std::string::npos)
      return core::make_error("tcp transport: peer address '" + address + "' is not host:port");
    auto p = std::make_shared<peer>();
    p->id = id;
    p->host = hostport.substr(0, colon);
    try {
      p->port = static_cast<uint16_t>(std::stoul(hostport.substr(colon + 1)));
    } catch (const std::exception&) {
      return core::make_error("tcp transport: bad port in peer address '" + address + "'");
    }
    p->target = (slash == std::string::npos ? std::string() : address.substr(slash)) + deliver_path;
    std::shared_ptr<peer> old;
    {
      std::lock_guard<std::mutex> guard{peers_mtx_};
      auto& slot = peers_[id];
      // The same address again (every topology change re-sends all peers): keep the live
      // connections; closing them would cut requests in flight on them. A restarted instance
      // behind the same (agent-owned) socket resets its old connections itself by dying.
      if (slot && slot->host == p->host && slot->port == p->port && slot->target == p->target)
        return {};
      old = std::move(slot);
      slot = p;
    }
    if (old) // connections to the previous incarnation are useless now; what was still queued
             // for it was never sent, so it goes to the new one instead of being stranded
      net::post(ioc_, [this, old, p] {
        close_peer(*old);
        while (!old->queue.empty()) {
          auto m = std::move(old->queue.front());
          old->queue.pop_front();
          old->in_flight.fetch_sub(1, std::memory_order_relaxed);
          p->in_flight.fetch_add(1, std::memory_order_relaxed);
          enqueue(p, std::move(m));
        }
      });
    return {};
  }

  void drop_peer(endpoint_id id) {
    std::shared_ptr<peer> old;
    {
      std::lock_guard<std::mutex> guard{peers_mtx_};
      auto i = peers_.find(id);
      if (i == peers_.end())
        return;
      old = std::move(i->second);
      peers_.erase(i);
    }
    net::post(ioc_, [this, old] {
      close_peer(*old);
      while (!old->queue.empty()) {
        auto m = std::move(old->queue.front());
        old->queue.pop_front();
        old->in_flight.fetch_sub(1, std::memory_order_relaxed);
        // Queued, never sent: the endpoint never got it.
        return_to_gateway(std::move(m), "endpoint " + std::to_string(old->id) + " went away",
                          send_failure::not_sent);
      }
    });
  }

  static void close_peer(peer& p) {
    p.removed = true;
    for (auto& w : p.all)
      if (auto c = w.lock())
        c->close();
    p.idle.clear();
  }

  void enqueue(const std::shared_ptr<peer>& p, outgoing msg) {
    if (p->removed) {
      p->in_flight.fetch_sub(1, std::memory_order_relaxed);
      return_to_gateway(std::move(msg), "endpoint " + std::to_string(p->id) + " went away",
                        send_failure::not_sent);
      return;
    }
    p->queue.push_back(std::move(msg));
    pump(*p);
  }

  void pump(peer& p) {
    while (!p.queue.empty()) {
      std::shared_ptr<client_conn> c;
      if (!p.idle.empty()) {
        c = std::move(p.idle.back());
        p.idle.pop_back();
      } else if (p.open < max_conns_) {
        std::shared_ptr<peer> self;
        {
          std::lock_guard<std::mutex> guard{peers_mtx_};
          auto i = peers_.find(p.id);
          if (i != peers_.end() && i->second.get() == &p)
            self = i->second;
        }
        if (!self)
          return;
        c = std::make_shared<client_conn>(ioc_, *this, self);
        p.all.push_back(c);
        p.open++;
      } else {
        return; // every connection is busy; the next answer pumps again
      }
      auto m = std::move(p.queue.front());
      p.queue.pop_front();
      c->start(std::move(m));
    }
  }

  void accept(endpoint_id id);

  std::vector<core::pool>* pools_;
  uint32_t capacity_;
  std::unique_ptr<local_slot[]> slots_;
  uint32_t slot_count_;
  std::unordered_map<endpoint_id, int> listen_fds_;
  unsigned max_conns_ = 8;
  std::string host_ = "127.0.0.1"; // where this process's endpoints listen
  size_t body_limit_ = 1 << 20;
  std::atomic<bool> stopped_{false};
  std::mutex control_;
  std::vector<std::shared_ptr<core::descriptor_sink>> keep_alive_;
  std::mutex peers_mtx_;
  std::unordered_map<endpoint_id, std::shared_ptr<peer>> peers_;
  std::vector<std::shared_ptr<peer>> retired_; // stopped; released after the io thread ends
  std::atomic<uint64_t> sent_{0}, delivered_{0}, rejected_{0}, lost_{0};
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread io_;
};

void tcp_transport::accept(endpoint_id id) {
  btcp::acceptor* acc = nullptr;
  {
    std::lock_guard<std::mutex> guard{control_};
    acc = slots_[id].acceptor.get();
  }
  if (!acc || !acc->is_open())
    return;
  acc->async_accept([this, id](beast::error_code ec, btcp::socket s) {
    if (ec == net::error::operation_aborted || stopped_.load())
      return;
    if (!ec) {
      s.set_option(btcp::no_delay(true), ec);
      serve(std::move(s), *this);
    }
    accept(id);
  });
}

} // namespace

core::expected<std::unique_ptr<core::transport>> make_tcp_transport(const core::transport_context& ctx) {
  if (!ctx.pools)
    return core::make_error("tcp transport: needs the process's pools to copy messages into");
  return std::unique_ptr<core::transport>(new tcp_transport(ctx));
}

void register_transport(core::transport_registry& registry) {
  core::transport_registry::entry e;
  e.name = "tcp";
  e.description = "HTTP/1.1 over loopback TCP, msgpack-serialized messages, one process per "
                  "instance, optional queue-proxy sidecars and nginx front end (the Knative-like "
                  "baseline); needs nothing (tcp.namespaces, pods as network namespaces, and "
                  "tcp.xdp_tc_redirect need root)";
  e.factory = make_tcp_transport;
  e.in_process_instances = false;
  e.listen_socket_per_endpoint = true;
  e.sidecars = [](const core::app_spec& app) { return tcp_config_of(app).sidecar; };
  e.sidecar = {"queue-proxy", sidecar_role_env};
  e.broker_routing_by_default = true; // Knative's path: every result back to the broker
  e.front_end = make_nginx_front_end;
  e.prepare_node = prepare_pods;
  e.role_main = []() -> std::optional<int> {
    auto side = sidecar_role_from_env();
    if (!side)
      return std::nullopt;
    if (!*side) {
      std::fprintf(stderr, "spry: %s\n", side->err().message.c_str());
      return 2;
    }
    return run_queue_proxy(**side);
  };
  registry.add(std::move(e));
  registry.add_section(tcp_config_section());
}

} // namespace spry::transports::tcp
