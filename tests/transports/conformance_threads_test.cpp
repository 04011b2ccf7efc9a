// The transport conformance suite, part two: which thread runs a delivery. Run-to-completion
// endpoints run on the thread that took the descriptor off the socket or ring, and an owner that
// takes an endpoint's delivery over (the gateway's HTTP loop) runs it on its own thread. Every
// registered transport must pass (see conformance_test.cpp for the rest of the suite).

#include "tests/transports/conformance_harness.hpp"

using namespace spry::core;
using namespace spry::test::conformance;

TEST_CASE("conformance: run-to-completion endpoints run on the receiving thread, in order, once",
          "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      auto* t = h.tp.get();
      auto* p = &h.pools[0];
      constexpr uint64_t total = 300;
      // Endpoint 5 forwards every request to endpoint 6 from inside its handler (as an instance
      // sends to the next function); endpoint 6 records it and returns the buffer.
      struct seen {
        std::mutex mtx;
        std::condition_variable cv;
        std::vector<uint64_t> ids;
        std::vector<std::thread::id> first_threads, second_threads;
        uint64_t forward_failures = 0;
      } s;
      std::shared_ptr<inline_sink> second;
      auto first = std::make_shared<inline_sink>([&](const descriptor& d) {
        t->consumed(5);
        descriptor next = d;
        next.dst = 6;
        const bool ok = t->send(next) == send_status::ok;
        std::lock_guard<std::mutex> guard{s.mtx};
        s.first_threads.push_back(std::this_thread::get_id());
        if (!ok) {
          s.forward_failures++;
          p->release(p->resolve(d.offset));
        }
      });
      second = std::make_shared<inline_sink>([&](const descriptor& d) {
        t->consumed(6);
        buffer_header* b = p->resolve(d.offset);
        std::lock_guard<std::mutex> guard{s.mtx};
        s.second_threads.push_back(std::this_thread::get_id());
        s.ids.push_back(b && d.dst == 6 ? b->request_id : UINT64_MAX);
        if (b)
          p->release(b);
        s.cv.notify_all();
      });
      for (auto* sink : {first.get(), second.get()}) {
        auto a = h.sys.spawn([sink](caf::event_based_actor*) -> caf::behavior {
          return {[sink](const descriptor& d) { sink->run_queued(d); }};
        });
        sink->attach(a);
        h.actors.push_back(a);
      }
      REQUIRE(h.tp->bind(5, first));
      REQUIRE(h.tp->bind(6, second));
      for (uint64_t i = 0; i < total; ++i)
        REQUIRE(h.tp->send(h.make(5, i)) == send_status::ok);
      {
        std::unique_lock<std::mutex> lock{s.mtx};
        REQUIRE(s.cv.wait_for(lock, std::chrono::seconds(20), [&] { return s.ids.size() >= total; }));
      }
      // The sinks count a run after its handler returned: let the last one finish.
      for (int i = 0; i < 20000 && (first->ran_inline() + first->ran_queued() < total ||
                                    second->ran_inline() + second->ran_queued() < total); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::lock_guard<std::mutex> guard{s.mtx};
      CHECK(s.forward_failures == 0);
      REQUIRE(s.ids.size() == total);
      if (name == "tcp") { // several connections per peer: exactly once, in no fixed order
        CHECK(std::set<uint64_t>(s.ids.begin(), s.ids.end()).size() == total);
        CHECK(*std::max_element(s.ids.begin(), s.ids.end()) == total - 1);
      } else { // one queue per endpoint: order kept across both hops
        for (uint64_t i = 0; i < total; ++i)
          CHECK(s.ids[i] == i);
      }
      const auto test_thread = std::this_thread::get_id();
      if (name == "local") {
        // No receive thread: the test thread's sends go through 5's mailbox (it must not run
        // functions on a sender's thread), and 5's sends run 6 inline on the worker running 5.
        CHECK(first->ran_queued() == total);
        for (size_t i = 0; i < total; ++i)
          CHECK(s.second_threads[i] == s.first_threads[i]);
      } else {
        // The transport's own thread took each descriptor and ran the handler itself.
        CHECK(first->ran_inline() == total);
        for (size_t i = 0; i < total; ++i)
          CHECK(s.first_threads[i] != test_thread);
      }
      CHECK(second->ran_inline() == total); // nothing ever waited in 6's mailbox
      CHECK(second->ran_queued() == 0);
      for (size_t i = 0; i < total; ++i)
        CHECK(s.second_threads[i] != test_thread);
      CHECK(h.tp->queue_depth(5) == 0);
      CHECK(h.tp->queue_depth(6) == 0);
    }
  }
}

TEST_CASE("conformance: an owner that takes an endpoint's delivery over runs it on its own thread, "
          "and gives it back, losing nothing",
          "[conformance]") {
  for (const auto& name : transport_names()) {
    DYNAMIC_SECTION(name) {
      harness h(name);
      if (h.skipped)
        continue;
      auto* t = h.tp.get();
      auto* p = &h.pools[0];
      constexpr endpoint_id id = 7;
      struct seen {
        std::mutex mtx;
        std::condition_variable cv;
        std::vector<uint64_t> ids;
        std::vector<std::thread::id> threads;
      } s;
      auto sink = std::make_shared<inline_sink>([&](const descriptor& d) {
        t->consumed(id);
        buffer_header* b = p->resolve(d.offset);
        std::lock_guard<std::mutex> guard{s.mtx};
        s.threads.push_back(std::this_thread::get_id());
        s.ids.push_back(b && d.dst == id ? b->request_id : UINT64_MAX);
        if (b)
          p->release(b);
        s.cv.notify_all();
      });
      auto a = h.sys.spawn([sink](caf::event_based_actor*) -> caf::behavior {
        return {[sink](const descriptor& d) { sink->run_queued(d); }};
      });
      sink->attach(a);
      h.actors.push_back(a);
      REQUIRE(h.tp->bind(id, sink));
      auto received = [&] {
        std::lock_guard<std::mutex> guard{s.mtx};
        return s.ids.size();
      };
      auto wait_received = [&](size_t n) {
        std::unique_lock<std::mutex> lock{s.mtx};
        return s.cv.wait_for(lock, std::chrono::seconds(20), [&] { return s.ids.size() >= n; });
      };
      // A sender that keeps going while the delivery changes hands: nothing may be lost or
      // delivered twice in the hand-over, whichever thread reads at that moment.
      constexpr uint64_t first_part = 400;
      std::atomic<uint64_t> next{0};
      std::thread sender([&] {
        for (uint64_t i = 0; i < first_part; ++i) {
          descriptor d = h.make(id, i);
          while (t->send(d) != send_status::ok)
            std::this_thread::yield();
          next = i + 1;
          if (i % 16 == 0)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      });
      while (received() < 50 && next < first_part)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const int fd = t->take_delivery(id);
      const size_t before_take = received();
      if (fd < 0) {
        // This transport delivers on its own threads only: the endpoint stays as it was.
        sender.join();
        REQUIRE(wait_received(first_part));
        CHECK(t->take_delivery(99) == -1); // and nothing unbound can be taken either
        continue;
      }
      CHECK(t->take_delivery(99) == -1);
      const auto me = std::this_thread::get_id();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      t->drain_owned(id); // before the first wait: what arrived during the hand-over
      while (received() < first_part && std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{fd, POLLIN, 0};
        ::poll(&pfd, 1, 50);
        t->drain_owned(id);
      }
      sender.join();
      REQUIRE(received() == first_part);
      {
        std::lock_guard<std::mutex> guard{s.mtx};
        for (uint64_t i = 0; i < first_part; ++i)
          CHECK(s.ids[i] == i); // once each, in order, across the hand-over
        size_t on_transport = 0;
        for (size_t i = before_take; i < first_part; ++i)
          on_transport += s.threads[i] != me;
        CHECK(on_transport == 0); // after take_delivery returned, only the owner delivered
        CHECK(s.threads.front() != me);
      }
      // Given back: the transport's thread delivers again, the owner no more.
      t->return_delivery(id);
      for (uint64_t i = first_part; i < first_part + 100; ++i)
        REQUIRE(t->send(h.make(id, i)) == send_status::ok);
      REQUIRE(wait_received(first_part + 100));
      std::lock_guard<std::mutex> guard{s.mtx};
      for (uint64_t i = first_part; i < first_part + 100; ++i) {
        CHECK(s.ids[i] == i);
        CHECK(s.threads[i] != me);
      }
      CHECK(h.tp->queue_depth(id) == 0);
    }
  }
}
