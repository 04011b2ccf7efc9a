// The transport conformance suite: every registered transport must pass every case here.
// Each TEST_CASE loops over the registry, so a new transport is covered the moment it is
// registered in transports/register.cpp.

#include "core/transport.hpp"
#include "core/transport_registry.hpp"
#include "transports/register.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace spry::core;

namespace {

// What a receiving endpoint saw, shared between its actor and the test thread.
struct inbox {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<descriptor> got;

  bool wait_for(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, timeout, [&] { return got.size() >= n; });
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return got.size();
  }
};

struct harness {
  explicit harness(const std::string& name, uint32_t queue_capacity = 1 << 20)
    : sys(make_config()) {
    transport_registry reg;
    spry::transports::register_all(reg);
    transport_context ctx;
    ctx.system = &sys;
    ctx.max_endpoints = 64;
    ctx.queue_capacity = queue_capacity;
    auto t = reg.create(name, ctx);
    REQUIRE(t);
    tp = std::move(*t);
  }
  ~harness() {
    tp->stop();
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  static caf::actor_system_config& make_config() {
    static caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", size_t{2});
    return cfg;
  }

  /// Binds `id` to an actor that records what it gets; with `ack`, it acknowledges at once.
  std::shared_ptr<inbox> endpoint(endpoint_id id, bool ack = true) {
    auto box = std::make_shared<inbox>();
    auto* t = tp.get();
    auto a = sys.spawn([box, t, id, ack](caf::event_based_actor*) -> caf::behavior {
      return {[=](const descriptor& d) {
        if (ack)
          t->consumed(id);
        std::lock_guard<std::mutex> guard{box->mtx};
        box->got.push_back(d);
        box->cv.notify_all();
      }};
    });
    auto ok = tp->bind(id, a);
    REQUIRE(ok);
    actors.push_back(a);
    return box;
  }

  caf::actor_system sys;
  std::unique_ptr<transport> tp;
  std::vector<caf::actor> actors;
};

std::vector<std::string> transport_names() {
  transport_registry reg;
  spry::transports::register_all(reg);
  std::vector<std::string> out;
  for (const auto* e : reg.entries())
    out.push_back(e->name);
  return out;
}

descriptor make(endpoint_id dst, uint64_t n) {
  return descriptor{dst, static_cast<chain_id>(n % 7), 1, 4096 + n * 64};
}

} // namespace

TEST_CASE("conformance: a descriptor arrives intact at its endpoint", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      auto a = h.endpoint(1);
      auto b = h.endpoint(2);
      const descriptor d{2, 3, 1, 123456789012ull};
      REQUIRE(h.tp->send(d) == send_status::ok);
      REQUIRE(b->wait_for(1));
      CHECK(b->got[0] == d);
      CHECK(a->size() == 0);
      CHECK(h.tp->name() == name);
    }
  }
}

TEST_CASE("conformance: one sender's descriptors arrive in order, none lost", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      auto b = h.endpoint(5);
      constexpr uint64_t n = 20000;
      for (uint64_t i = 0; i < n; ++i)
        REQUIRE(h.tp->send(make(5, i)) == send_status::ok);
      REQUIRE(b->wait_for(n));
      for (uint64_t i = 0; i < n; ++i)
        REQUIRE(b->got[i] == make(5, i));
      CHECK(h.tp->stats().sent >= n);
    }
  }
}

TEST_CASE("conformance: concurrent senders, every descriptor exactly once", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      auto b = h.endpoint(3);
      constexpr uint64_t per_thread = 10000;
      std::vector<std::thread> senders;
      for (uint64_t t = 0; t < 3; ++t)
        senders.emplace_back([&, t] {
          for (uint64_t i = 0; i < per_thread; ++i)
            while (h.tp->send(make(3, t * per_thread + i)) == send_status::backpressure)
              std::this_thread::yield();
        });
      for (auto& s : senders)
        s.join();
      REQUIRE(b->wait_for(3 * per_thread));
      std::set<uint64_t> offsets;
      for (const auto& d : b->got)
        offsets.insert(d.offset);
      CHECK(offsets.size() == 3 * per_thread);
    }
  }
}

TEST_CASE("conformance: unknown and unbound endpoints are reported", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      auto b = h.endpoint(4);
      CHECK(h.tp->send(make(9, 0)) == send_status::unknown_endpoint);
      CHECK(h.tp->send(make(1u << 30, 0)) == send_status::unknown_endpoint);
      CHECK(h.tp->send(make(4, 0)) == send_status::ok);
      REQUIRE(b->wait_for(1));
      h.tp->unbind(4);
      CHECK(h.tp->send(make(4, 1)) == send_status::unknown_endpoint);
      CHECK(h.tp->stats().rejected >= 3);
    }
  }
}

TEST_CASE("conformance: binding an endpoint twice or out of range is an error", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
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

TEST_CASE("conformance: a full endpoint pushes back, and recovers when drained", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name, 8);
      auto slow = h.endpoint(6, /*ack=*/false);
      int accepted = 0;
      send_status last = send_status::ok;
      for (int i = 0; i < 64 && last == send_status::ok; ++i) {
        last = h.tp->send(make(6, static_cast<uint64_t>(i)));
        accepted += last == send_status::ok;
      }
      CHECK(last == send_status::backpressure);
      CHECK(accepted >= 8);
      CHECK(h.tp->queue_depth(6) >= 8);
      REQUIRE(slow->wait_for(static_cast<size_t>(accepted)));
      for (int i = 0; i < accepted; ++i)
        h.tp->consumed(6);
      CHECK(h.tp->queue_depth(6) == 0);
      CHECK(h.tp->send(make(6, 1000)) == send_status::ok);
      REQUIRE(slow->wait_for(static_cast<size_t>(accepted) + 1));
    }
  }
}

TEST_CASE("conformance: a stopped transport refuses sends and binds", "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      h.endpoint(1);
      h.tp->stop();
      h.tp->stop(); // idempotent
      CHECK(h.tp->send(make(1, 0)) == send_status::closed);
      auto extra = h.sys.spawn([](caf::event_based_actor*) -> caf::behavior {
        return {[](const descriptor&) {}};
      });
      h.actors.push_back(extra);
      CHECK_FALSE(h.tp->bind(2, extra));
    }
  }
}
