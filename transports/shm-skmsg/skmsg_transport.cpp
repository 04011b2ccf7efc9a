#include "transports/shm-skmsg/skmsg_transport.hpp"

#include "core/buffer_owner.hpp"
#include "core/clock.hpp"
#include "core/descriptor.hpp"
#include "core/log_limiter.hpp"
#include "core/message.hpp"
#include "core/pool.hpp"
#include "core/queue_depth.hpp"
#include "core/route_next.hpp"
#include "core/spare_thread.hpp"
#include "sk_msg_redirect.skel.h"
#include "transports/shm-skmsg/hop_bench.hpp"
#include "transports/shm-skmsg/loopback_pair.hpp"
#include "transports/shm-skmsg/send_batch.hpp"
#include "skmsg_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace spry::transports::skmsg {

using core::endpoint_id;
using core::send_status;

namespace {

static_assert(sizeof(core::descriptor) == SPRY_SKMSG_DESCRIPTOR_SIZE,
              "the sk_msg program and the runtime must agree on the descriptor size");
static_assert(offsetof(core::descriptor, dst) == 0, "the program reads dst at offset 0");

struct alignas(64) endpoint_slot {
  std::atomic<core::descriptor_sink*> receiver{nullptr};
  core::queue_depth depth;
  std::atomic<bool> paused{false};
  // Delivered by its owner's thread (take_delivery), not by the reader; while set, the reader
  // neither drains nor resumes it, and it is never paused.
  std::atomic<bool> owned{false};
  socket_pair sock;       // control thread; the reader only reads sock.mine
  char partial[16];       // reader thread: bytes of a descriptor split across reads
  size_t partial_len = 0;
};

class skmsg_transport final : public core::transport {
public:
  skmsg_transport(const core::transport_context& ctx, spry_sk_msg* skel)
    : pools_(ctx.pools),
      capacity_(ctx.queue_capacity),
      slots_(new endpoint_slot[ctx.max_endpoints]),
      slot_count_(std::min<uint32_t>(ctx.max_endpoints, SPRY_SKMSG_MAX_ENDPOINTS)),
      skel_(skel) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = UINT64_MAX;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
    reader_.start([this] { read_loop(); });
  }

  ~skmsg_transport() override {
    stop();
    for (uint32_t i = 0; i < slot_count_; ++i)
      for (int fd : {slots_[i].sock.mine, slots_[i].sock.other})
        if (fd >= 0)
          close(fd);
    close(epoll_);
    close(wake_);
    if (skel_)
      spry_sk_msg__destroy(skel_);
  }

  std::string_view name() const noexcept override { return "shm-skmsg"; }

  core::status_or_error bind(endpoint_id id, std::shared_ptr<core::descriptor_sink> receiver) override {
    std::lock_guard<std::mutex> guard{control_};
    if (stopped_.load())
      return core::make_error("shm-skmsg: stopped");
    if (id >= slot_count_)
      return core::make_error("shm-skmsg: endpoint " + std::to_string(id) + " is out of range");
    if (!receiver || !receiver->actor())
      return core::make_error("shm-skmsg: endpoint " + std::to_string(id) + " bound to an invalid actor");
    auto& s = slots_[id];
    if (s.receiver.load())
      return core::make_error("shm-skmsg: endpoint " + std::to_string(id) + " is already bound");
    auto pair = make_socket_pair();
    if (!pair)
      return pair.err();
    if (skel_) { // the node registers its own endpoints; instances hand theirs over
      const int map_fd = bpf_map__fd(skel_->maps.spry_endpoints);
      const uint32_t key = id;
      const uint32_t value = static_cast<uint32_t>(pair->mine);
      if (bpf_map_update_elem(map_fd, &key, &value, BPF_ANY) != 0) {
        const int e = errno;
        close(pair->mine);
        close(pair->other);
        return core::make_error("shm-skmsg: cannot put endpoint " + std::to_string(id) +
                                "'s socket into the sockmap: " + strerror(e));
      }
    }
    note_endpoint(id);
    s.sock = *pair;
    s.depth.reset();
    s.paused.store(false);
    s.owned.store(false);
    s.partial_len = 0;
    s.receiver.store(receiver.get(), std::memory_order_release);
    keep_alive_.push_back(std::move(receiver));
    if (send_fd_.load() < 0)
      send_fd_.store(pair->mine);
    watch(id);
    // What the program could not redirect comes back on the connection's other end.
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = bounce_flag | id;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, pair->other, &ev);
    return {};
  }

  void unbind(endpoint_id id) noexcept override {
    std::lock_guard<std::mutex> guard{control_};
    if (id >= slot_count_ || !slots_[id].receiver.load())
      return;
    slots_[id].receiver.store(nullptr, std::memory_order_release);
    if (skel_) {
      const uint32_t key = id;
      bpf_map_delete_elem(bpf_map__fd(skel_->maps.spry_endpoints), &key);
    }
    epoll_ctl(epoll_, EPOLL_CTL_DEL, slots_[id].sock.mine, nullptr);
    epoll_ctl(epoll_, EPOLL_CTL_DEL, slots_[id].sock.other, nullptr);
    // The socket stays open (another thread may be sending on it); it closes with the transport.
  }

  int handover_fd(endpoint_id id) const override {
    return id < slot_count_ && slots_[id].receiver.load() ? slots_[id].sock.mine : -1;
  }

  std::vector<core::endpoint_traffic> traffic() const override {
    std::vector<core::endpoint_traffic> out;
    if (!skel_)
      return out; // the counters live in the node's map
    const int map = bpf_map__fd(skel_->maps.spry_counters);
    std::lock_guard<std::mutex> guard{known_mtx_};
    for (endpoint_id id : known_) {
      spry_skmsg_counters c{};
      const uint32_t key = id;
      if (bpf_map_lookup_elem(map, &key, &c) == 0)
        out.push_back({id, c.messages, c.bytes, c.last_ns, c.rejected});
    }
    return out;
  }

  core::status_or_error adopt(endpoint_id id, int fd) override {
    if (!skel_)
      return core::make_error("shm-skmsg: only the gateway process registers sockets");
    if (id >= slot_count_)
      return core::make_error("shm-skmsg: endpoint " + std::to_string(id) + " is out of range");
    const uint32_t key = id;
    const uint32_t value = static_cast<uint32_t>(fd);
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.spry_endpoints), &key, &value, BPF_ANY) != 0)
      return core::make_error("shm-skmsg: cannot register endpoint " + std::to_string(id) +
                              "'s socket: " + strerror(errno) +
                              " (it must be an established TCP socket)");
    note_endpoint(id);
    return {};
  }

  void remove_peer(endpoint_id id) noexcept override {
    // A dead instance's socket leaves the sockmap by itself when it closes; this covers an
    // instance that is stopped on purpose while its socket is still open.
    if (skel_ && id < slot_count_ && !slots_[id].receiver.load()) {
      const uint32_t key = id;
      bpf_map_delete_elem(bpf_map__fd(skel_->maps.spry_endpoints), &key);
    }
  }

  send_status send_forged(const core::descriptor& d) noexcept override {
    const int fd = send_fd_.load(std::memory_order_acquire);
    if (stopped_.load(std::memory_order_relaxed) || fd < 0)
      return send_status::closed;
    return ::send(fd, &d, sizeof d, MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof d)
             ? send_status::ok
             : send_status::backpressure;
  }

  send_status send(const core::descriptor& d) noexcept override {
    if (stopped_.load(std::memory_order_relaxed))
      return reject(send_status::closed);
    const int fd = send_fd_.load(std::memory_order_acquire);
    if (fd < 0)
      return reject(send_status::unknown_endpoint); // nothing bound here: no socket to send on
    if (d.dst >= SPRY_SKMSG_MAX_ENDPOINTS)
      return reject(send_status::unknown_endpoint);
    core::buffer_header* b = buffer_of(d);
    if (!b)
      return reject(send_status::invalid);
    if (send_batch* batch = send_batch::current(); batch && batch->owner() == this) {
      // A function running in a drain of this transport (or the gateway's loop turn): its output
      // leaves with the batch's, and the buffer stays ours until then (send_batch.hpp).
      if (core::reclaimed(*b))
        return reject(send_status::invalid);
      if (batch->add(d, core::now_ns()))
        flush(*batch);
      return send_status::ok;
    }
    // Ownership moves with the descriptor. The gateway may have reclaimed the buffer from an
    // instance that died meanwhile: then it is no longer ours to send.
    uint32_t owner = 0;
    if (!core::hand_over(*b, d.dst, owner))
      return reject(send_status::invalid);
    for (;;) {
      const ssize_t n = ::send(fd, &d, sizeof d, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(sizeof d)) {
        sent_.fetch_add(1, std::memory_order_relaxed);
        return send_status::ok;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && refusal_of(errno) == send_status::backpressure) {
        // Not sent: the caller keeps the buffer (unless it was reclaimed in the meantime).
        core::give_back(*b, d.dst, owner);
        return reject(send_status::backpressure);
      }
      // EACCES: the program dropped it, i.e. no socket is registered under d.dst.
      return reject(send_status::unknown_endpoint);
    }
  }

  void consumed(endpoint_id id) noexcept override {
    if (id >= slot_count_)
      return;
    auto& s = slots_[id];
    const uint32_t now = s.depth.remove();
    // Room again: let the reader drain what the kernel queued meanwhile.
    if (s.paused.load(std::memory_order_relaxed) && now < capacity_) {
      const uint64_t one = 1;
      (void)!write(wake_, &one, sizeof one);
    }
  }

  bool hold_sends() noexcept override { return send_batch::begin_hold(this); }

  void flush_sends() noexcept override {
    if (send_batch* held = send_batch::end_hold(this))
      flush(*held);
  }

  int take_delivery(endpoint_id id) override {
    std::lock_guard<std::mutex> guard{control_};
    if (stopped_.load() || id >= slot_count_ || !slots_[id].receiver.load() || slots_[id].owned.load())
      return -1;
    auto& s = slots_[id];
    s.owned.store(true);
    s.paused.store(false, std::memory_order_relaxed);
    epoll_ctl(epoll_, EPOLL_CTL_DEL, s.sock.mine, nullptr);
    // The reader may be draining `id` right now, or hold a readiness event for it in the batch
    // of events it is working through (returned before the removal). An epoll_wait that returns
    // after the removal cannot name the socket (both take the epoll's lock). So once the batch
    // under way now has ended (or, if the reader is waiting, the one the wake-up below makes),
    // the reader never touches `id` again.
    const uint64_t seen = reader_batches_.load(std::memory_order_acquire);
    const uint64_t one = 1;
    (void)!write(wake_, &one, sizeof one);
    while (reader_batches_.load(std::memory_order_acquire) < seen + 1 && !reader_done_.load())
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    return s.sock.mine;
  }

  void drain_owned(endpoint_id id) noexcept override {
    if (id < slot_count_ && slots_[id].owned.load(std::memory_order_relaxed))
      drain(id);
  }

  void return_delivery(endpoint_id id) noexcept override {
    std::lock_guard<std::mutex> guard{control_};
    if (id >= slot_count_ || !slots_[id].owned.load())
      return;
    auto& s = slots_[id];
    s.owned.store(false);
    if (stopped_.load() || !s.receiver.load())
      return;
    // Adding a socket that already holds data queues a readiness event at once: the reader
    // delivers what arrived after the owner's last drain.
    watch(id);
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
      for (uint32_t i = 0; i < slot_count_; ++i)
        slots_[i].receiver.store(nullptr, std::memory_order_release);
    }
    const uint64_t one = 1;
    (void)!write(wake_, &one, sizeof one);
    if (reader_.joinable())
      reader_.join();
  }

private:
  send_status reject(send_status s) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }

  // The reader's watch on endpoint `id`'s socket: edge-triggered, which drain() relies on to end
  // on a short read.
  void watch(endpoint_id id) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = id;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, slots_[id].sock.mine, &ev);
  }

  void note_endpoint(endpoint_id id) {
    std::lock_guard<std::mutex> guard{known_mtx_};
    if (std::find(known_.begin(), known_.end(), id) == known_.end())
      known_.push_back(id);
  }

  core::buffer_header* buffer_of(const core::descriptor& d) const noexcept {
    if (!pools_ || d.pool >= pools_->size())
      return nullptr;
    return (*pools_)[d.pool].resolve(d.offset);
  }

  // Reads one endpoint's socket until it is empty or the endpoint is at capacity, and hands
  // every descriptor to the endpoint's sink on this thread: an instance runs its function here,
  // batch by batch (run to completion, no hand-off to a CAF worker). A whole batch is counted
  // in the queue depth before the first of it runs, so the function sees the descriptors read
  // and still waiting as its queue length.
  void drain(endpoint_id id) {
    auto& s = slots_[id];
    auto* receiver = s.receiver.load(std::memory_order_acquire);
    if (!receiver)
      return;
    alignas(16) char buf[16 * 256];
    core::descriptor input[256];
    const bool owned = s.owned.load(std::memory_order_relaxed);
    send_batch batch{this};
    const send_batch::scope batched{&batch};
    for (;;) {
      const uint32_t depth = owned ? 0 : s.depth.get();
      if (depth >= capacity_) {
        s.paused.store(true, std::memory_order_relaxed);
        // Re-check after publishing `paused`: a consumer may have made room in between.
        if (s.depth.get() >= capacity_)
          return;
      }
      s.paused.store(false, std::memory_order_relaxed);
      const size_t room = std::min<size_t>(capacity_ - std::min(depth, capacity_), 256);
      const size_t want = room * 16 - s.partial_len;
      std::memcpy(buf, s.partial, s.partial_len);
      const ssize_t n = recv(s.sock.mine, buf + s.partial_len, want, MSG_DONTWAIT);
      if (n <= 0)
        return; // EAGAIN: empty (edge-triggered: the next arrival wakes us); 0/error: closed
      const size_t have = s.partial_len + static_cast<size_t>(n);
      const size_t whole = have / 16;
      size_t count = 0;
      for (size_t i = 0; i < whole; ++i) {
        core::descriptor d;
        std::memcpy(&d, buf + i * 16, sizeof d);
        // A descriptor whose buffer the gateway reclaimed (its sender died after sending) is
        // not ours any more: drop it without touching the buffer.
        core::buffer_header* b = buffer_of(d);
        if (b && core::reclaimed(*b)) {
          rejected_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (d.dst != id) { // in a batch for another endpoint (the program routes by the first)
          misrouted(d);
          continue;
        }
        input[count++] = d;
      }
      s.partial_len = have - whole * 16;
      std::memcpy(s.partial, buf + whole * 16, s.partial_len);
      for (size_t i = 0; i < count; ++i)
        s.depth.add(); // room was checked above, per batch
      uint64_t t = core::now_ns(); // one clock read per descriptor: the end of one run starts the next
      uint64_t last_run_ns = 0;
      for (size_t i = 0; i < count; ++i) {
        // Held sends wait for the batch's end only while the functions are short.
        if (batch.due(t, last_run_ns))
          flush(batch);
        receiver->deliver(input[i]);
        const uint64_t end = core::now_ns();
        last_run_ns = end - t;
        t = end;
        delivered_.fetch_add(1, std::memory_order_relaxed);
      }
      flush(batch);
      // A short read emptied the socket's ingress queue: back to epoll_wait without the recv()
      // that would only say EAGAIN (one system call less per hop). Edge-triggered epoll still
      // sees what arrives from now on: the kernel queues a redirected message first and then
      // signals data-ready (bpf_tcp_ingress: sk_psock_queue_msg, then sk_psock_data_ready), so a
      // message our recv() missed is followed by a readiness event after it, which puts the
      // socket back on the ready list that epoll_wait took it off before this drain.
      if (static_cast<size_t>(n) < want)
        return;
    }
  }

  // A descriptor that arrived in a batched message for another endpoint: only a sender that
  // broke the one-destination-per-message rule makes one. Sent on to where it names, so the
  // request is not lost; said once a second.
  void misrouted(const core::descriptor& d) noexcept {
    uint64_t left_out = 0;
    if (undeliverable_log_.allow(left_out))
      spdlog::warn("shm-skmsg: a descriptor for endpoint {} came in a message for another "
                   "endpoint; sent on{}", d.dst,
                   left_out ? " (and " + std::to_string(left_out) + " more)" : "");
    const send_batch::scope unbatched{nullptr};
    if (send(d) != send_status::ok)
      undeliverable(d);
  }

  // Descriptors the kernel could not redirect (no socket registered under their destination)
  // arrive on the sender's own peer socket. Each is a request that must not be lost and that
  // never reached an instance: it returns to the gateway undelivered (payload intact).
  void read_bounced(endpoint_id id) {
    auto& s = slots_[id];
    alignas(16) char buf[16 * 64];
    for (;;) {
      const ssize_t n = recv(s.sock.other, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0)
        return;
      // Bounced messages are whole sends of 16-byte descriptors (one, or a batch of up to 64),
      // and every read asks for a multiple of 16 bytes, so reads stay on descriptor boundaries;
      // a torn one cannot happen on one connection from one sender, and is dropped with a
      // warning if it ever did.
      for (ssize_t off = 0; off + 16 <= n; off += 16) {
        core::descriptor d;
        std::memcpy(&d, buf + off, sizeof d);
        undeliverable(d);
      }
      if (n % 16)
        spdlog::warn("shm-skmsg: {} stray bytes bounced back; ignored", n % 16);
    }
  }

  // Sends what a batch held. What the kernel refuses is failed back to the gateway as a send()
  // that returned it would have been: the caller has moved on, so the request is answered here
  // instead of lost.
  void flush(send_batch& batch) noexcept {
    uint32_t skipped = 0;
    const uint32_t sent = batch.flush(
      send_fd_.load(std::memory_order_acquire), [this](const core::descriptor& d) { return buffer_of(d); },
      [this](const core::descriptor& d, uint32_t previous, send_status why) { refused(d, previous, why); },
      skipped);
    sent_.fetch_add(sent, std::memory_order_relaxed);
    if (skipped)
      rejected_.fetch_add(skipped, std::memory_order_relaxed);
  }

  void refused(core::descriptor d, uint32_t previous_owner, send_status why) noexcept {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    core::buffer_header* b = buffer_of(d);
    if (!b || !core::give_back(*b, d.dst, previous_owner))
      return; // reclaimed by the gateway meanwhile: no longer ours to answer
    if (why == send_status::backpressure) { // 503, as the send would have answered
      core::message m(b, (*pools_)[d.pool].buffer_size());
      core::fail_hop(m, {core::outcome_of(why), core::no_function, why}, "");
    } else { // it never left this process: sent again or held by the gateway
      core::mark_undelivered(*b, d.dst);
    }
    to_gateway(d, b);
  }

  void undeliverable(core::descriptor d) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    // A killed instance can bounce a burst of these at once: one line a second, with the count.
    uint64_t left_out = 0;
    if (!pools_ || d.pool >= pools_->size()) {
      if (undeliverable_log_.allow(left_out))
        spdlog::warn("shm-skmsg: undeliverable descriptor for endpoint {} names no pool{}", d.dst,
                     left_out ? " (and " + std::to_string(left_out) + " more undeliverable)" : "");
      return;
    }
    core::pool& p = (*pools_)[d.pool];
    core::buffer_header* b = p.resolve(d.offset);
    if (!b) {
      if (undeliverable_log_.allow(left_out))
        spdlog::warn("shm-skmsg: undeliverable descriptor for endpoint {} names no buffer{}", d.dst,
                     left_out ? " (and " + std::to_string(left_out) + " more undeliverable)" : "");
      return;
    }
    // Take the buffer back from the unreachable destination, unless the gateway already did.
    if (!core::give_back(*b, d.dst, core::gateway_endpoint))
      return;
    if (d.dst == core::gateway_endpoint) {
      if (undeliverable_log_.allow(left_out))
        spdlog::warn("shm-skmsg: request {} cannot reach the gateway; its buffer is released{}",
                     b->request_id,
                     left_out ? " (and " + std::to_string(left_out) + " more undeliverable)" : "");
      p.release(b);
      return;
    }
    // The request never reached an instance (the kernel found no socket under d.dst): it goes
    // back to the gateway as it was, payload intact, to be sent to another instance of the
    // same function or held for one (buffer_status::undelivered), not failed here.
    core::mark_undelivered(*b, d.dst);
    to_gateway(d, b);
  }

  // A request this process gives up on goes back to the gateway: to its sink when the gateway
  // is in this process, else sent (never held in a batch: nothing would flush it).
  void to_gateway(core::descriptor d, core::buffer_header* b) noexcept {
    d.dst = core::gateway_endpoint;
    auto& g = slots_[core::gateway_endpoint];
    if (auto* gw = g.receiver.load(std::memory_order_acquire)) {
      g.depth.add();
      gw->deliver(d);
      return;
    }
    const send_batch::scope unbatched{nullptr};
    if (send(d) != send_status::ok) {
      uint64_t left_out = 0;
      if (undeliverable_log_.allow(left_out))
        spdlog::warn("shm-skmsg: request {} cannot be returned to the gateway; released{}",
                     b->request_id,
                     left_out ? " (and " + std::to_string(left_out) + " more undeliverable)" : "");
      (*pools_)[d.pool].release(b);
    }
  }

  void read_loop() {
    epoll_event events[64];
    while (!stopped_.load()) {
      const int n = epoll_wait(epoll_, events, 64, -1);
      if (n < 0 && errno != EINTR)
        break;
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == UINT64_MAX) {
          uint64_t drainv;
          (void)!read(wake_, &drainv, sizeof drainv);
          for (uint32_t id = 0; id < slot_count_; ++id) // resume paused endpoints
            if (slots_[id].paused.load(std::memory_order_relaxed) &&
                !slots_[id].owned.load(std::memory_order_relaxed))
              drain(id);
          continue;
        }
        if (events[i].data.u64 & bounce_flag)
          read_bounced(static_cast<endpoint_id>(events[i].data.u64 & ~bounce_flag));
        else if (!slots_[events[i].data.u64].owned.load(std::memory_order_relaxed))
          drain(static_cast<endpoint_id>(events[i].data.u64));
      }
      reader_batches_.fetch_add(1, std::memory_order_release);
    }
    reader_done_.store(true);
  }

  static constexpr uint64_t bounce_flag = uint64_t{1} << 40;
  std::vector<core::pool>* pools_;
  uint32_t capacity_;
  std::unique_ptr<endpoint_slot[]> slots_;
  uint32_t slot_count_;
  spry_sk_msg* skel_; // node role only
  std::atomic<int> send_fd_{-1};
  int epoll_ = -1;
  int wake_ = -1;
  core::spare_thread reader_; // a parked one in an instance that was a spare (prepare_spare)
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> reader_batches_{0}; // epoll batches the reader has finished (take_delivery)
  std::atomic<bool> reader_done_{false};
  std::mutex control_;
  std::vector<std::shared_ptr<core::descriptor_sink>> keep_alive_;
  mutable std::mutex known_mtx_;
  std::vector<endpoint_id> known_; // endpoints ever registered: the rows of traffic()
  core::log_limiter undeliverable_log_;
  std::atomic<uint64_t> sent_{0}, delivered_{0}, rejected_{0};
};

core::expected<std::unique_ptr<core::transport>> make(const core::transport_context& ctx) {
  spry_sk_msg* skel = nullptr;
  if (!ctx.instance_role) {
    // Quiet libbpf: its own messages would repeat what we say better below.
    libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
    skel = spry_sk_msg__open_and_load();
    if (!skel) {
      const int e = errno;
      return core::make_error(
        std::string("transport shm-skmsg needs root, or CAP_BPF and CAP_NET_ADMIN, to load its "
                    "eBPF sk_msg program (") + strerror(e) +
        "); run as root, or use transport tcp or local");
    }
    const int prog = bpf_program__fd(skel->progs.spry_redirect);
    const int map = bpf_map__fd(skel->maps.spry_endpoints);
    if (bpf_prog_attach(prog, map, BPF_SK_MSG_VERDICT, 0) != 0) {
      const int e = errno;
      spry_sk_msg__destroy(skel);
      return core::make_error(std::string("transport shm-skmsg: cannot attach the sk_msg program "
                                          "to its sockmap: ") + strerror(e) +
                              " (the kernel needs CONFIG_BPF_STREAM_PARSER)");
    }
  }
  return std::unique_ptr<core::transport>(new skmsg_transport(ctx, skel));
}

} // namespace

void register_transport(core::transport_registry& registry) {
  core::transport_registry::entry e;
  e.name = "shm-skmsg";
  e.description = "shared-memory pools, 16-byte descriptors redirected by an eBPF sk_msg program "
                  "through a sockmap, event-driven (SPRIGHT); needs root or CAP_BPF+CAP_NET_ADMIN";
  e.factory = make;
  e.in_process_instances = false;
  e.shared_pools = true;
  e.measure_hops = measure_hops;
  e.role_main = hop_bench_role_main;
  // What every instance's transport makes first: its reader thread (the constructor) and its
  // endpoint's socket pair (bind). Neither depends on the endpoint.
  e.prepare_spare = [] {
    core::park_spare_threads(1);
    make_socket_pair_ahead();
  };
  registry.add(std::move(e));
}

} // namespace spry::transports::skmsg
