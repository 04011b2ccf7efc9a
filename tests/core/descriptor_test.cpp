#include "core/descriptor.hpp"
#include "core/descriptor_check.hpp"
#include "core/pool.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

using namespace spry::core;

TEST_CASE("a descriptor is 16 plain bytes", "[descriptor]") {
  STATIC_REQUIRE(sizeof(descriptor) == 16);
  STATIC_REQUIRE(std::is_trivially_copyable_v<descriptor>);
  descriptor a{7, 2, 1, 4096};
  descriptor b = a;
  CHECK(a == b);
  b.offset += 1;
  CHECK_FALSE(a == b);
}

TEST_CASE("descriptor references are validated against the pool", "[descriptor]") {
  pool_options o;
  o.buffer_count = 4;
  o.buffer_size = 100;
  o.try_hugepages = false;
  auto p = pool::create(o);
  REQUIRE(p);
  auto* b = p->alloc();
  const uint64_t off = p->offset_of(b);
  CHECK(p->resolve(off) == b);
  SECTION("outside the mapping") {
    CHECK(p->resolve(p->mapping_size()) == nullptr);
    CHECK(p->resolve(UINT64_MAX) == nullptr);
    CHECK(p->resolve(UINT64_MAX - 255) == nullptr);
  }
  SECTION("inside the control block") {
    CHECK(p->resolve(0) == nullptr);
    CHECK(p->resolve(64) == nullptr);
  }
  SECTION("not at a buffer boundary") {
    CHECK(p->resolve(off + 1) == nullptr);
    CHECK(p->resolve(off + sizeof(buffer_header)) == nullptr);
  }
  SECTION("a free buffer") {
    auto* other = p->alloc();
    const uint64_t other_off = p->offset_of(other);
    p->release(other);
    CHECK(p->resolve(other_off) == nullptr);
  }
  p->release(b);
}

TEST_CASE("check_descriptor refuses an unknown pool a bad offset a stale tag and a buffer not handed over with the reason", "[descriptor]") {
  pool_options o;
  o.buffer_count = 2;
  o.buffer_size = 64;
  o.try_hugepages = false;
  std::vector<pool> pools;
  auto p = pool::create(o);
  REQUIRE(p);
  pools.push_back(std::move(*p));
  auto* b = pools[0].alloc();
  b->request_id = 0x10005;
  const uint64_t off = pools[0].offset_of(b);
  const auto ok = check_descriptor(pools, {1, 0, tag_of(b->request_id), off});
  CHECK(ok.buffer == b);
  CHECK(ok.why == nullptr);
  const auto unknown = check_descriptor(pools, {1, 1, tag_of(b->request_id), off});
  CHECK(unknown.buffer == nullptr);
  CHECK_THAT(unknown.why, Catch::Contains("unknown pool"));
  const auto outside = check_descriptor(pools, {1, 0, tag_of(b->request_id), off + 1});
  CHECK(outside.buffer == nullptr);
  CHECK_THAT(outside.why, Catch::Contains("outside the pool"));
  const auto stale = check_descriptor(pools, {1, 0, static_cast<uint16_t>(tag_of(b->request_id) + 1), off});
  CHECK(stale.buffer == nullptr);
  CHECK_THAT(stale.why, Catch::Contains("stale"));
  b->owner = 7; // shared pools: handed to endpoint 7
  CHECK(check_descriptor(pools, {7, 0, tag_of(b->request_id), off}, 7u).buffer == b);
  const auto not_handed = check_descriptor(pools, {1, 0, tag_of(b->request_id), off}, 1u);
  CHECK(not_handed.buffer == nullptr);
  CHECK_THAT(not_handed.why, Catch::Contains("ownership word"));
  pools[0].release(b);
  CHECK(check_descriptor(pools, {1, 0, tag_of(0x10005), off}).buffer == nullptr); // released
}

// Runs under ThreadSanitizer too (scripts/test-sanitizers tsan): the hand-over every transport
// makes, without CAF in between (which TSan cannot see into). Producers allocate, write the
// payload, name the receiver in the ownership word and pass the descriptor through a queue; the
// consumer checks it as an instance does, reads the payload and releases the buffer, while the
// producers keep allocating others from the same pool.
TEST_CASE("buffers handed between threads by descriptor are checked, read intact and released "
          "once", "[descriptor][threads]") {
  pool_options o;
  o.buffer_count = 8;
  o.buffer_size = 256;
  o.try_hugepages = false;
  auto created = pool::create(o);
  REQUIRE(created);
  std::vector<pool> pools;
  pools.push_back(std::move(*created));
  constexpr uint32_t receiver = 5;
  constexpr int per_producer = 5000;
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<descriptor> queue;
  int refused = 0, corrupt = 0, received = 0;
  std::thread consumer([&] {
    for (int n = 0; n < 2 * per_producer; ++n) {
      descriptor d;
      {
        std::unique_lock<std::mutex> lock{mtx};
        cv.wait(lock, [&] { return !queue.empty(); });
        d = queue.front();
        queue.pop_front();
      }
      auto c = check_descriptor(pools, d, receiver);
      if (!c.buffer) {
        ++refused;
        continue;
      }
      const char* data = reinterpret_cast<const char*>(c.buffer) + sizeof(buffer_header);
      if (c.buffer->payload_length != 8 || std::memcmp(data, &c.buffer->request_id, 8) != 0)
        ++corrupt;
      ++received;
      pools[0].release(c.buffer);
    }
  });
  std::vector<std::thread> producers;
  for (uint64_t t = 0; t < 2; ++t)
    producers.emplace_back([&, t] {
      for (uint64_t i = 0; i < per_producer; ++i) {
        buffer_header* b;
        while (!(b = pools[0].alloc()))
          std::this_thread::yield(); // all 8 in flight: the consumer is behind
        b->request_id = (t << 32) | (i + 1);
        b->payload_length = 8;
        std::memcpy(reinterpret_cast<char*>(b) + sizeof(buffer_header), &b->request_id, 8);
        __atomic_store_n(&b->owner, receiver, __ATOMIC_RELEASE);
        const descriptor d{receiver, 0, tag_of(b->request_id), pools[0].offset_of(b)};
        {
          std::lock_guard<std::mutex> lock{mtx};
          queue.push_back(d);
        }
        cv.notify_one();
      }
    });
  for (auto& p : producers)
    p.join();
  consumer.join();
  CHECK(refused == 0);
  CHECK(corrupt == 0);
  CHECK(received == 2 * per_producer);
  CHECK(pools[0].stats().in_use == 0);
}
