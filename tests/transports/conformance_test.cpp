// The transport conformance suite: every registered transport must pass every case here.
// Each TEST_CASE loops over the registry, so a new transport is covered the moment it is
// registered in transports/register.cpp.
//
// What is checked is what the runtime relies on: the buffer a receiver gets carries the header
// and payload the sender wrote (same buffer on shared-memory transports, a copy on tcp), per-
// sender order, exactly-once delivery, clear errors for unknown endpoints, backpressure that
// never loses a message (refused at send(), or failed back to the gateway endpoint), and a
// descriptor that cannot be delivered coming back to the gateway as it was (undelivered).

#include "tests/transports/conformance_harness.hpp"

using namespace spry::core;
using namespace spry::test::conformance;

TEST_CASE("conformance: a buffer arrives intact at its endpoint", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      auto a = h.endpoint(1);
      auto b = h.endpoint(2);
      REQUIRE(h.tp->send(h.make(2, 77)) == send_status::ok);
      REQUIRE(b->wait_for(1));
      CHECK(b->got[0].request_id == 77);
      CHECK(b->got[0].payload == "payload 77");
      CHECK(a->size() == 0);
      CHECK(h.tp->name() == name);
    }
  }
}

TEST_CASE("conformance: one sender's descriptors arrive in order, none lost", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      // Order is per (sender, connection); tcp with one connection per peer keeps it.
      harness h(name);
      if (h.skipped)
        continue;
      auto b = h.endpoint(5);
      constexpr uint64_t n = 5000;
      for (uint64_t i = 0; i < n; ++i) {
        auto d = h.make(5, i);
        send_status st;
        while ((st = h.tp->send(d)) == send_status::backpressure)
          std::this_thread::yield();
        REQUIRE(st == send_status::ok);
      }
      REQUIRE(b->wait_for(n));
      std::set<uint64_t> ids;
      for (const auto& r : b->got) {
        ids.insert(r.request_id);
        REQUIRE(r.payload == "payload " + std::to_string(r.request_id));
      }
      CHECK(ids.size() == n);
      if (name == "local") { // strict FIFO where there is a single queue
        for (uint64_t i = 0; i < n; ++i)
          REQUIRE(b->got[i].request_id == i);
      }
      CHECK(h.tp->stats().sent >= n);
    }
  }
}

TEST_CASE("conformance: sends an event loop holds leave at its flush, each once, to its endpoint",
          "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      auto a = h.endpoint(5);
      auto b = h.endpoint(6);
      // 150 requests, alternating runs for two endpoints and more than one batch's worth: a held
      // batch must split by destination and by size.
      constexpr uint64_t total = 150;
      auto dst_of = [](uint64_t i) -> endpoint_id { return (i / 7) % 2 ? 6 : 5; };
      const bool held = h.tp->hold_sends();
      if (held)
        CHECK_FALSE(h.tp->hold_sends()); // one hold per thread at a time
      for (uint64_t i = 0; i < total; ++i)
        REQUIRE(h.tp->send(h.make(dst_of(i), i)) == send_status::ok);
      // shm-dpdk holds only the wake-ups: its descriptors are in the ring at once, and a
      // poller that is awake takes them before the flush.
      if (held && name != "shm-dpdk") {
        // Nothing leaves before the flush, unless the hold filled up (then in whole batches).
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        CHECK(a->size() + b->size() < total);
      }
      h.tp->flush_sends();
      h.tp->flush_sends(); // no hold: a no-op
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (a->size() + b->size() < total && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      REQUIRE(a->size() + b->size() == total);
      std::set<uint64_t> ids;
      for (auto* box : {a.get(), b.get()}) {
        uint64_t last = 0;
        bool first = true;
        for (const auto& r : box->got) {
          ids.insert(r.request_id);
          CHECK(r.payload == "payload " + std::to_string(r.request_id));
          CHECK(dst_of(r.request_id) == (box == a.get() ? 5u : 6u));
          if (name != "tcp") { // one queue per endpoint: each endpoint's requests in order
            CHECK((first || r.request_id > last));
            last = r.request_id;
            first = false;
          }
        }
      }
      CHECK(ids.size() == total);
      // After the flush sends go out at once again.
      const size_t before = b->size();
      REQUIRE(h.tp->send(h.make(6, 1000)) == send_status::ok);
      REQUIRE(b->wait_for(before + 1));
    }
  }
}

TEST_CASE("conformance: concurrent senders, every descriptor exactly once", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      auto b = h.endpoint(3);
      constexpr uint64_t per_thread = 3000;
      std::vector<std::thread> senders;
      for (uint64_t t = 0; t < 3; ++t)
        senders.emplace_back([&, t] {
          for (uint64_t i = 0; i < per_thread; ++i) {
            buffer_header* buf = h.pools[0].alloc();
            buf->request_id = t * per_thread + i;
            descriptor d{3, 0, 1, h.pools[0].offset_of(buf)};
            while (h.tp->send(d) == send_status::backpressure)
              std::this_thread::yield();
          }
        });
      for (auto& s : senders)
        s.join();
      REQUIRE(b->wait_for(3 * per_thread));
      std::set<uint64_t> ids;
      for (const auto& r : b->got)
        ids.insert(r.request_id);
      CHECK(ids.size() == 3 * per_thread);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      CHECK(b->size() == 3 * per_thread); // and nothing twice
    }
  }
}

TEST_CASE("conformance: unknown and unbound endpoints are reported", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      // Reported at send() (unknown_endpoint, the caller keeps the buffer), or, where the
      // kernel decides (shm-skmsg), returned to the gateway endpoint undelivered: the payload
      // as it was sent (the request never reached an instance, so nothing is failed yet).
      harness h(name);
      if (h.skipped)
        continue;
      auto gateway = h.endpoint(gateway_endpoint);
      auto b = h.endpoint(4);
      size_t reported_async = 0;
      auto expect_refused = [&](descriptor d) {
        const auto st = h.tp->send(d);
        if (st == send_status::ok) {
          ++reported_async;
          REQUIRE(gateway->wait_for(reported_async));
          std::lock_guard<std::mutex> guard{gateway->mtx};
          CHECK(gateway->got.back().status == static_cast<uint16_t>(buffer_status::undelivered));
          CHECK(gateway->got.back().failed_at == d.dst);
          CHECK(gateway->got.back().payload ==
                "payload " + std::to_string(gateway->got.back().request_id));
        } else {
          CHECK(st == send_status::unknown_endpoint);
          h.reclaim(d);
        }
      };
      expect_refused(h.make(9, 0));
      expect_refused(h.make(1u << 30, 0));
      CHECK(h.tp->send(h.make(4, 0)) == send_status::ok);
      REQUIRE(b->wait_for(1));
      h.tp->unbind(4);
      expect_refused(h.make(4, 1));
      CHECK(h.tp->stats().rejected >= 3);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      CHECK(b->size() == 1);
      CHECK(h.pools[0].stats().in_use == 0);
    }
  }
}

TEST_CASE("conformance: a descriptor that cannot be delivered comes back to the gateway as it was",
          "[conformance]") {
  // The contract the gateway's resend relies on (gateway/undelivered.cpp): an endpoint the
  // sender was told about but that is not there (never bound, unbound, its peer address dead)
  // either refuses the send at once (the caller keeps the buffer, untouched) or returns the
  // buffer to the gateway endpoint with buffer_status::undelivered, failed_at naming the
  // endpoint, and the request id and payload exactly as they were sent: never a failure text
  // in place of the payload, never lost.
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      auto gateway = h.endpoint(gateway_endpoint);
      auto bound = h.endpoint(5);
      // A peer address where nothing listens (copying transports connect to it and fail).
      uint16_t closed_port = 0;
      {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        closed_port = ntohs(a.sin_port);
        ::close(fd);
      }
      REQUIRE(h.tp->set_peer(7, "127.0.0.1:" + std::to_string(closed_port)));
      CHECK(h.tp->send(h.make(5, 1)) == send_status::ok);
      REQUIRE(bound->wait_for(1));
      h.tp->unbind(5);
      std::set<uint64_t> returned, refused;
      const std::vector<std::pair<endpoint_id, uint64_t>> sends = {
        {7, 100}, {7, 101}, {5, 102}, {5, 103}, {9, 104}};
      for (const auto& [dst, n] : sends) {
        const descriptor d = h.make(dst, n);
        const auto st = h.tp->send(d);
        if (st == send_status::ok) {
          returned.insert(n);
        } else {
          CHECK(st == send_status::unknown_endpoint);
          // Refused at send(): the buffer is the caller's, as it was.
          buffer_header* b = h.pools[0].resolve(d.offset);
          REQUIRE(b);
          CHECK(b->request_id == n);
          CHECK(std::string(message(b, h.pools[0].buffer_size()).payload()) ==
                "payload " + std::to_string(n));
          refused.insert(n);
          h.reclaim(d);
        }
      }
      INFO(returned.size() << " returned to the gateway, " << refused.size() << " refused");
      REQUIRE(gateway->wait_for(returned.size()));
      {
        std::lock_guard<std::mutex> guard{gateway->mtx};
        REQUIRE(gateway->got.size() == returned.size());
        std::set<uint64_t> seen;
        for (const auto& g : gateway->got) {
          CAPTURE(g.request_id);
          seen.insert(g.request_id);
          CHECK(g.status == static_cast<uint16_t>(buffer_status::undelivered));
          CHECK(g.payload == "payload " + std::to_string(g.request_id));
          const endpoint_id to = g.request_id <= 101 ? 7 : g.request_id <= 103 ? 5 : 9;
          CHECK(g.failed_at == to);
        }
        CHECK(seen == returned);
      }
      CHECK(returned.size() + refused.size() == sends.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      CHECK(bound->size() == 1);
      CHECK(gateway->size() == returned.size()); // each exactly once
      CHECK(h.pools[0].stats().in_use == 0);
    }
  }
}

TEST_CASE("conformance: binding an endpoint twice or out of range is an error", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      h.endpoint(1);
      auto extra = h.sys.spawn([](caf::event_based_actor*) -> caf::behavior {
        return {[](const descriptor&) {}};
      });
      h.actors.push_back(extra);
      CHECK_FALSE(h.tp->bind(1, extra));
      CHECK_FALSE(h.tp->bind(1u << 30, extra));
      CHECK(h.tp->bind(2, extra));
    }
  }
}

TEST_CASE("conformance: a full endpoint pushes back and loses nothing", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      constexpr uint32_t capacity = 8;
      harness h(name, capacity);
      if (h.skipped)
        continue;
      auto gateway = h.endpoint(gateway_endpoint);
      auto slow = h.endpoint(6, /*ack=*/false);
      constexpr int total = 40;
      int refused = 0;
      for (int i = 0; i < total; ++i) {
        auto d = h.make(6, static_cast<uint64_t>(i));
        const auto st = h.tp->send(d);
        if (st == send_status::backpressure) {
          ++refused;
          h.reclaim(d);
        } else {
          REQUIRE(st == send_status::ok);
        }
        // Let tcp's asynchronous answers settle so the outcome does not depend on timing.
        if (name == "tcp")
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      // The slow endpoint never holds more than `capacity` unconsumed descriptors.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      CHECK(slow->size() <= capacity);
      CHECK(slow->size() >= 1);
      CHECK(h.tp->queue_depth(6) == slow->size());
      // Every message is accounted for: refused at send(), failed back to the gateway as
      // overloaded, or delivered to the slow endpoint once it makes room (a transport may hold
      // the surplus in its own queue, e.g. the kernel's, meanwhile).
      size_t consumed = 0;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (slow->size() + gateway->size() + static_cast<size_t>(refused) < total &&
             std::chrono::steady_clock::now() < deadline) {
        for (; consumed < slow->size(); ++consumed)
          h.tp->consumed(6);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      for (; consumed < slow->size(); ++consumed)
        h.tp->consumed(6);
      CHECK(slow->size() + gateway->size() + static_cast<size_t>(refused) == total);
      for (const auto& r : gateway->got) {
        CHECK(r.status == static_cast<uint16_t>(buffer_status::overloaded));
        CHECK_THAT(r.payload, Catch::Contains("endpoint 6"));
      }
      std::set<uint64_t> ids;
      for (const auto& r : slow->got)
        ids.insert(r.request_id);
      CHECK(ids.size() == slow->size()); // none twice
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      CHECK(h.tp->queue_depth(6) == 0);
      const auto before = slow->size();
      CHECK(h.tp->send(h.make(6, 1000)) == send_status::ok);
      REQUIRE(slow->wait_for(before + 1));
      CHECK(slow->got.back().request_id == 1000);
    }
  }
}

TEST_CASE("conformance: a stopped transport refuses sends and binds", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      h.endpoint(1);
      h.tp->stop();
      h.tp->stop(); // idempotent
      auto d = h.make(1, 0);
      CHECK(h.tp->send(d) == send_status::closed);
      h.reclaim(d);
      auto extra = h.sys.spawn([](caf::event_based_actor*) -> caf::behavior {
        return {[](const descriptor&) {}};
      });
      h.actors.push_back(extra);
      CHECK_FALSE(h.tp->bind(2, extra));
    }
  }
}
