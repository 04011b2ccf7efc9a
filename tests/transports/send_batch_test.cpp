// shm-skmsg's batch of held sends (transports/shm-skmsg/send_batch.hpp) on plain Unix sockets:
// runs split by destination, ownership handed over only at the flush, a buffer reclaimed while
// held skipped, and what the kernel refuses handed back with the owner word to restore. The
// sk_msg redirect itself is covered by the conformance suite.
#include "transports/shm-skmsg/send_batch.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

using namespace spry;
using spry::transports::skmsg::send_batch;

namespace {

struct sockets {
  int fd[2] = {-1, -1};
  sockets() {
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == 0);
    fcntl(fd[0], F_SETFL, fcntl(fd[0], F_GETFL) | O_NONBLOCK);
    fcntl(fd[1], F_SETFL, fcntl(fd[1], F_GETFL) | O_NONBLOCK);
  }
  ~sockets() {
    for (int f : fd)
      if (f >= 0)
        close(f);
  }
  std::vector<core::descriptor> received() const {
    std::vector<core::descriptor> out;
    core::descriptor d;
    while (recv(fd[1], &d, sizeof d, 0) == static_cast<ssize_t>(sizeof d))
      out.push_back(d);
    return out;
  }
};

struct refusal {
  core::descriptor d;
  uint32_t previous;
  core::send_status why;
};

// Buffers indexed by descriptor offset; every one held by endpoint 3 to begin with.
struct buffers {
  std::vector<core::buffer_header> b = std::vector<core::buffer_header>(8);
  buffers() {
    for (auto& h : b)
      h.owner = 3;
  }
  core::buffer_header* operator()(const core::descriptor& d) {
    return d.offset < b.size() ? &b[d.offset] : nullptr;
  }
};

core::descriptor to(core::endpoint_id dst, uint64_t buffer) { return {dst, 0, 0, buffer}; }

} // namespace

TEST_CASE("send_batch: held sends leave at the flush in order, one send per destination run, "
          "handed over then", "[transports][skmsg]") {
  sockets s;
  buffers bufs;
  send_batch batch{&s};
  const std::vector<core::descriptor> sent = {to(5, 0), to(5, 1), to(6, 2), to(5, 3)};
  for (const auto& d : sent)
    CHECK_FALSE(batch.add(d, 1000));
  CHECK(batch.size() == 4);
  // Held: nothing on the wire and every buffer still the sender's.
  CHECK(s.received().empty());
  for (int i = 0; i < 4; ++i)
    CHECK(bufs.b[i].owner == 3);
  uint32_t skipped = 0;
  std::vector<refusal> refused;
  const uint32_t n = batch.flush(
    s.fd[0], bufs,
    [&](const core::descriptor& d, uint32_t previous, core::send_status why) {
      refused.push_back({d, previous, why});
    },
    skipped);
  CHECK(n == 4);
  CHECK(skipped == 0);
  CHECK(refused.empty());
  CHECK(batch.size() == 0);
  const auto got = s.received();
  REQUIRE(got.size() == 4);
  for (size_t i = 0; i < 4; ++i)
    CHECK(got[i] == sent[i]);
  CHECK(bufs.b[0].owner == 5);
  CHECK(bufs.b[2].owner == 6);
  CHECK(bufs.b[3].owner == 5);
}

TEST_CASE("send_batch: a buffer the gateway reclaimed while held is not sent", "[transports][skmsg]") {
  sockets s;
  buffers bufs;
  send_batch batch{&s};
  batch.add(to(5, 0), 0);
  batch.add(to(5, 1), 0);
  REQUIRE(core::reclaim(bufs.b[1], 3)); // its instance was reported dead meanwhile
  uint32_t skipped = 0;
  const uint32_t n = batch.flush(s.fd[0], bufs, [](auto&&...) { FAIL("nothing is refused"); }, skipped);
  CHECK(n == 1);
  CHECK(skipped == 1);
  const auto got = s.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].offset == 0);
  CHECK(core::reclaimed(bufs.b[1]));
}

TEST_CASE("send_batch: what the kernel refuses is handed back with the owner word to restore",
          "[transports][skmsg]") {
  buffers bufs;
  SECTION("a full socket: backpressure") {
    sockets s;
    const core::descriptor filler{};
    while (send(s.fd[0], &filler, sizeof filler, MSG_DONTWAIT) == static_cast<ssize_t>(sizeof filler)) {
    }
    send_batch batch{&s};
    batch.add(to(5, 0), 0);
    batch.add(to(5, 1), 0);
    uint32_t skipped = 0;
    std::vector<refusal> refused;
    CHECK(batch.flush(s.fd[0], bufs,
                      [&](const core::descriptor& d, uint32_t previous, core::send_status why) {
                        refused.push_back({d, previous, why});
                      },
                      skipped) == 0);
    REQUIRE(refused.size() == 2);
    for (const auto& r : refused) {
      CHECK(r.why == core::send_status::backpressure);
      CHECK(r.previous == 3);
      CHECK(bufs.b[r.d.offset].owner == 5); // handed over; the caller gives it back
    }
  }
  SECTION("a socket that cannot send: not delivered") {
    sockets s;
    shutdown(s.fd[0], SHUT_WR);
    send_batch batch{&s};
    batch.add(to(7, 4), 0);
    uint32_t skipped = 0;
    std::vector<refusal> refused;
    CHECK(batch.flush(s.fd[0], bufs,
                      [&](const core::descriptor& d, uint32_t previous, core::send_status why) {
                        refused.push_back({d, previous, why});
                      },
                      skipped) == 0);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].why == core::send_status::unknown_endpoint);
    CHECK(refused[0].d == to(7, 4));
  }
}

TEST_CASE("send_batch: when a held send is due, and one hold per thread", "[transports][skmsg]") {
  send_batch batch;
  CHECK_FALSE(batch.due(1'000'000, 0)); // nothing held
  batch.add(to(5, 0), 1'000'000);
  CHECK_FALSE(batch.due(1'000'000 + send_batch::budget_ns - 1, 100));
  CHECK(batch.due(1'000'000 + send_batch::budget_ns, 100));        // waited long enough
  CHECK(batch.due(1'000'001, send_batch::budget_ns));              // behind a long function
  for (uint32_t i = 1; i + 1 < send_batch::capacity; ++i)
    CHECK_FALSE(batch.add(to(5, i % 8), 1'000'000));
  CHECK(batch.add(to(5, 0), 1'000'000)); // full: flush now

  int a = 0, b = 0;
  CHECK(send_batch::current() == nullptr);
  REQUIRE(send_batch::begin_hold(&a));
  CHECK(send_batch::current() != nullptr);
  CHECK(send_batch::current()->owner() == &a);
  CHECK_FALSE(send_batch::begin_hold(&b)); // one at a time on a thread
  CHECK(send_batch::end_hold(&b) == nullptr); // not b's
  send_batch* held = send_batch::end_hold(&a);
  REQUIRE(held != nullptr);
  CHECK(send_batch::current() == nullptr);
  {
    send_batch drain{&b};
    const send_batch::scope in_drain{&drain};
    CHECK(send_batch::current() == &drain);
    CHECK_FALSE(send_batch::begin_hold(&a)); // a drain's batch is current
  }
  CHECK(send_batch::current() == nullptr);
}
