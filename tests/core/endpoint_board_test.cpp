#include "core/endpoint_board.hpp"

#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace spry::core;

TEST_CASE("endpoint board: queue length is arrivals minus completions, per endpoint", "[core]") {
  auto b = endpoint_board::create(4);
  REQUIRE(b);
  CHECK(b->size() == 4);
  for (endpoint_id e = 0; e < 4; ++e) {
    CHECK(b->in_flight(e) == 0);
    CHECK(b->slot(e)->concurrency.load() == 1);
    CHECK(b->service_time_s(e) == 0);
  }
  b->arrival(2);
  b->arrival(2);
  b->arrival(3);
  CHECK(b->in_flight(2) == 2);
  CHECK(b->in_flight(3) == 1);
  CHECK(b->in_flight(1) == 0);
  b->completion(2, 5000, 100);
  CHECK(b->in_flight(2) == 1);
  // More completions than arrivals (a reset raced a late completion) reads as empty, not as a
  // wrapped-around queue of four billion.
  b->completion(3, 5000, 100);
  b->completion(3, 5000, 100);
  CHECK(b->in_flight(3) == 0);
}

TEST_CASE("endpoint board: ids from other processes are untrusted, out of range is ignored",
          "[core]") {
  auto b = endpoint_board::create(2);
  REQUIRE(b);
  CHECK(b->slot(2) == nullptr);
  CHECK(b->slot(no_endpoint) == nullptr);
  b->arrival(2);
  b->rejected(7);
  b->completion(9, 1, 1);
  b->reset(5, 3);
  CHECK(b->in_flight(2) == 0);
  CHECK(b->service_time_s(9) == 0);
  CHECK(b->in_flight(0) == 0);
  CHECK(b->in_flight(1) == 0);
}

TEST_CASE("endpoint board: a completion feeds busy time, the decade histogram and the average",
          "[core]") {
  auto b = endpoint_board::create(1);
  REQUIRE(b);
  b->arrival(0);
  b->completion(0, 8000, 42); // 8 us: the first bucket (<= 10 us)
  auto* s = b->slot(0);
  CHECK(s->busy_ns.load() == 8000);
  CHECK(s->exec_histogram[0].load() == 1);
  CHECK(s->last_done_ns.load() == 42);
  CHECK(b->service_time_s(0) == Approx(8e-6)); // the first sample is the average
  b->completion(0, 2'000'000, 50);             // 2 ms: (1 ms, 10 ms]
  CHECK(s->exec_histogram[3].load() == 1);
  // Weight 1/8: 8000 - 1000 + 250000.
  CHECK(b->service_time_s(0) == Approx(257000e-9));
  b->completion(0, 20'000'000'000ull, 60); // above the last bound: the last bucket
  CHECK(s->exec_histogram[exec_buckets - 1].load() == 1);
  CHECK(s->busy_ns.load() == 8000 + 2'000'000 + 20'000'000'000ull);
}

TEST_CASE("endpoint board: reset starts a reused endpoint id from an empty queue", "[core]") {
  auto b = endpoint_board::create(1);
  REQUIRE(b);
  for (int i = 0; i < 5; ++i)
    b->arrival(0);
  b->completion(0, 3000, 1);
  REQUIRE(b->in_flight(0) == 4);
  b->reset(0, 4);
  CHECK(b->in_flight(0) == 0);
  CHECK(b->service_time_s(0) == 0);
  CHECK(b->slot(0)->exec_histogram[0].load() == 0);
  CHECK(b->slot(0)->concurrency.load() == 4);
  b->reset(0, 0); // concurrency 0 would divide capacity by zero downstream
  CHECK(b->slot(0)->concurrency.load() == 1);
  b->arrival(0);
  CHECK(b->in_flight(0) == 1);
}

TEST_CASE("endpoint board: another process maps the same counters through the fd", "[core]") {
  auto b = endpoint_board::create(3);
  REQUIRE(b);
  const int fd = b->fd();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The instance's side: attach a copy of the fd, count what an instance counts.
    auto mine = endpoint_board::attach(dup(fd));
    if (!mine || mine->size() != 3)
      _exit(1);
    mine->arrival(1);
    mine->arrival(1);
    mine->completion(1, 1000, 7);
    mine->rejected(2);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(b->in_flight(1) == 1);
  CHECK(b->slot(1)->last_done_ns.load() == 7);
  CHECK(b->slot(2)->rejected.load() == 1);
}

TEST_CASE("endpoint board: attach refuses an fd that is not a board", "[core]") {
  const int fd = memfd_create("not-a-board", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, sizeof(endpoint_slot) + 1) == 0);
  auto b = endpoint_board::attach(fd);
  REQUIRE_FALSE(b);
  CHECK(b.err().message.find("not a board") != std::string::npos);
  const int empty = memfd_create("empty", MFD_CLOEXEC);
  auto e = endpoint_board::attach(empty);
  CHECK_FALSE(e);
}
