// shm-skmsg's loopback socket pairs (transports/shm-skmsg/loopback_pair.hpp): the pair a spare
// instance process makes ahead is handed out once, and pairs are made afresh after it.
#include "transports/shm-skmsg/loopback_pair.hpp"

#include "core/instance_template.hpp"

#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

using spry::transports::skmsg::make_socket_pair;
using spry::transports::skmsg::make_socket_pair_ahead;
using spry::transports::skmsg::socket_pair;

namespace {

// The descriptors open in this process now.
std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = opendir("/proc/self/fd");
  REQUIRE(d);
  const int own = dirfd(d);
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.' && std::atoi(e->d_name) != own)
      fds.insert(std::atoi(e->d_name));
  closedir(d);
  return fds;
}

std::set<int> added(const std::set<int>& before, const std::set<int>& after) {
  std::set<int> r;
  for (int fd : after)
    if (!before.count(fd))
      r.insert(fd);
  return r;
}

// The two ends are one connection: what one sends the other receives.
bool connected(const socket_pair& p) {
  const char out = 'x';
  char in = 0;
  if (send(p.other, &out, 1, 0) != 1)
    return false;
  for (int i = 0; i < 1000 && recv(p.mine, &in, 1, 0) != 1; ++i)
    usleep(1000); // mine is non-blocking
  return in == out;
}

void close_pair(const socket_pair& p) {
  close(p.mine);
  close(p.other);
}

} // namespace

TEST_CASE("the socket pair made ahead is taken once, then pairs are made fresh",
          "[shm-skmsg][loopback_pair]") {
  const auto before = open_fds();
  make_socket_pair_ahead();
  const auto with_ahead = open_fds();
  const auto ahead = added(before, with_ahead);
  REQUIRE(ahead.size() == 2); // the pair, kept open; the listener closed again
  // Out of the way of the numbers a spare's instance descriptors are placed at.
  CHECK(*ahead.begin() >= spry::core::spare_fd_floor);
  make_socket_pair_ahead();   // one is kept already: nothing more is made
  CHECK(open_fds() == with_ahead);

  auto first = make_socket_pair();
  REQUIRE(first);
  CHECK(open_fds() == with_ahead); // nothing new was opened
  CHECK(ahead == std::set<int>{first->mine, first->other});
  CHECK(connected(*first));

  auto second = make_socket_pair();
  REQUIRE(second);
  const auto made = added(with_ahead, open_fds());
  CHECK(made == std::set<int>{second->mine, second->other}); // made now
  CHECK(connected(*second));

  auto third = make_socket_pair();
  REQUIRE(third);
  CHECK(third->mine != second->mine);
  for (const auto& p : {*first, *second, *third})
    close_pair(p);
}
