// Run-to-completion delivery (core/descriptor_sink.hpp): who runs a descriptor, in which order,
// and what happens when the endpoint is busy, nested or closed.

#include "core/descriptor_sink.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace spry::core;

namespace {

// What a sink's handler saw: request numbers (descriptor offsets) and the threads that ran them.
struct journal {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<uint64_t> order;
  std::vector<std::thread::id> threads;
  std::vector<std::string> events;

  void note(uint64_t n) {
    std::lock_guard<std::mutex> guard{mtx};
    order.push_back(n);
    threads.push_back(std::this_thread::get_id());
    cv.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return order.size() >= n; });
  }
};

// An inline_sink with its actor, as spawn_instance and the gateway build them.
std::shared_ptr<inline_sink> make_sink(caf::actor_system& sys, inline_sink::handler h,
                                       std::vector<caf::actor>& actors) {
  auto sink = std::make_shared<inline_sink>(std::move(h));
  auto a = sys.spawn([sink](caf::event_based_actor*) -> caf::behavior {
    return {[sink](const descriptor& d) { sink->run_queued(d); }};
  });
  sink->attach(a);
  actors.push_back(a);
  return sink;
}

descriptor numbered(uint64_t n) { return descriptor{1, 0, 0, n}; }

struct system_fixture {
  system_fixture() : sys(cfg()) {}
  ~system_fixture() {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }
  static caf::actor_system_config& cfg() {
    static caf::actor_system_config c = [] {
      caf::actor_system_config x;
      x.set("scheduler.max-threads", size_t{2});
      return x;
    }();
    return c;
  }
  caf::actor_system sys;
  std::vector<caf::actor> actors;
};

} // namespace

TEST_CASE("inline_sink runs an idle endpoint's descriptor on the delivering thread", "[sink]") {
  // No actor: nothing here may go through a mailbox (and ThreadSanitizer sees every hand-over).
  journal j;
  auto sink = std::make_shared<inline_sink>([&j](const descriptor& d) { j.note(d.offset); });
  std::thread receiver([&] {
    for (uint64_t i = 0; i < 100; ++i)
      sink->deliver(numbered(i));
  });
  const auto receiver_id = receiver.get_id();
  receiver.join();
  REQUIRE(j.order.size() == 100);
  for (uint64_t i = 0; i < 100; ++i) {
    CHECK(j.order[i] == i);
    CHECK(j.threads[i] == receiver_id);
  }
  CHECK(sink->ran_inline() == 100);
  CHECK(sink->ran_queued() == 0);
  CHECK_FALSE(inline_sink::in_handler());
}

TEST_CASE("inline_sink: a busy endpoint's descriptors go through the mailbox, in order", "[sink]") {
  system_fixture f;
  journal j;
  std::atomic<bool> entered{false}, release{false};
  auto sink = make_sink(
    f.sys,
    [&](const descriptor& d) {
      if (d.offset == 0) { // the first one holds the endpoint until the test lets it go
        entered = true;
        while (!release)
          std::this_thread::yield();
      }
      j.note(d.offset);
    },
    f.actors);
  std::thread first([&] { sink->deliver(numbered(0)); });
  while (!entered)
    std::this_thread::yield();
  // Busy: these cannot run here; they queue in the actor's mailbox, and the ones after them
  // follow them there even though nothing holds the lock any more by then.
  sink->deliver(numbered(1));
  sink->deliver(numbered(2));
  release = true;
  first.join();
  sink->deliver(numbered(3));
  REQUIRE(j.wait_for(4));
  CHECK(j.order == std::vector<uint64_t>{0, 1, 2, 3});
  // Both counters move after the handler returned (and the mailbox count went down): wait for
  // the last one.
  for (int i = 0; i < 20000 && sink->ran_inline() + sink->ran_queued() < 4; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(sink->ran_inline() + sink->ran_queued() == 4);
  CHECK(sink->ran_queued() >= 2); // 1 and 2 found the endpoint busy
  // The mailbox is drained: delivery is inline again.
  const auto before = sink->ran_inline();
  sink->deliver(numbered(4));
  REQUIRE(j.order.size() == 5);
  CHECK(j.order.back() == 4);
  CHECK(j.threads.back() == std::this_thread::get_id());
  CHECK(sink->ran_inline() == before + 1);
}

TEST_CASE("inline_sink: a handler's delivery to another endpoint runs after it, on its thread",
          "[sink]") {
  std::mutex mtx;
  std::vector<std::string> events;
  auto log = [&](std::string e) {
    std::lock_guard<std::mutex> guard{mtx};
    events.push_back(std::move(e));
  };
  std::shared_ptr<inline_sink> second;
  auto first = std::make_shared<inline_sink>([&](const descriptor& d) {
    log("first begin");
    CHECK(inline_sink::in_handler());
    second->deliver(d); // what transport local does for a send from inside a handler
    log("first end");
  });
  std::thread::id second_thread;
  second = std::make_shared<inline_sink>([&](const descriptor&) {
    second_thread = std::this_thread::get_id();
    log("second");
  });
  first->deliver(numbered(7));
  CHECK(events == std::vector<std::string>{"first begin", "first end", "second"});
  CHECK(second_thread == std::this_thread::get_id());
  CHECK(second->ran_inline() == 1);
  CHECK_FALSE(inline_sink::in_handler());
}

TEST_CASE("inline_sink: after close() the handler never runs again", "[sink]") {
  std::atomic<int> runs{0};
  auto sink = std::make_shared<inline_sink>([&](const descriptor&) { ++runs; });
  sink->deliver(numbered(1));
  CHECK(runs == 1);
  sink->close();
  sink->deliver(numbered(2));
  sink->run_queued(numbered(3));
  CHECK(runs == 1);
}

TEST_CASE("mailbox_sink hands every descriptor to its actor", "[sink]") {
  system_fixture f;
  journal j;
  auto a = f.sys.spawn([&j](caf::event_based_actor*) -> caf::behavior {
    return {[&j](const descriptor& d) { j.note(d.offset); }};
  });
  f.actors.push_back(a);
  mailbox_sink sink(a);
  for (uint64_t i = 0; i < 10; ++i)
    sink.deliver(numbered(i));
  REQUIRE(j.wait_for(10));
  for (uint64_t i = 0; i < 10; ++i) {
    CHECK(j.order[i] == i);
    CHECK(j.threads[i] != std::this_thread::get_id());
  }
}

TEST_CASE("inline_sink::release destroys the handler unless it is running", "[sink]") {
  // No actor: nothing here is ever busy enough to go through a mailbox (each descriptor finds
  // the sink free), and an actor's exit message is a CAF hand-over ThreadSanitizer cannot see.
  // What the handler holds (an instance's function body keeps its library mapped): released
  // with it, so its use count says whether the handler is gone.
  auto held = std::make_shared<int>(0);
  std::atomic<bool> running{false}, finish{false};
  auto sink = std::make_shared<inline_sink>(
    [held, &running, &finish](const descriptor& d) {
      if (d.offset == 2) { // a "wedged" function: runs until told to finish
        running = true;
        while (!finish)
          std::this_thread::yield();
      }
    });
  sink->deliver(numbered(1));
  CHECK(held.use_count() == 2);
  std::thread busy([&] { sink->deliver(numbered(2)); });
  while (!running)
    std::this_thread::yield();
  CHECK_FALSE(sink->release()); // never blocks on, nor destroys, a running handler
  CHECK(held.use_count() == 2);
  finish = true;
  busy.join();
  CHECK(sink->release());
  CHECK(held.use_count() == 1);
  sink->deliver(numbered(3)); // after release: never runs (the handler is gone)
  CHECK(held.use_count() == 1);
}
