// transports/tcp/pod_network: pods that talk through the root namespace, with the forwarding
// programs off and on, counters, teardown and the sweep of a killed run. Needs root: says so and
// does not run otherwise (ctest label netns).
#include "tests/support/netns.hpp"
#include "transports/tcp/pod_network.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <sys/wait.h>

using spry::test::in_namespace;
using spry::transports::tcp::pod_network;

namespace {

// Listens on the pod socket, echoes one message per connection, `n` connections.
std::thread echo_server(int listen_fd, int n) {
  // accept() honours SO_RCVTIMEO: a connection that never arrives fails the test, not hangs it.
  timeval tv{5, 0};
  setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return std::thread([listen_fd, n] {
    for (int i = 0; i < n; ++i) {
      const int c = accept(listen_fd, nullptr, nullptr);
      if (c < 0)
        return;
      char buf[256];
      const ssize_t got = recv(c, buf, sizeof buf, 0);
      if (got > 0)
        (void)!send(c, buf, static_cast<size_t>(got), MSG_NOSIGNAL);
      ::close(c);
    }
  });
}

std::string echo_once(const std::string& address, const std::string& text) {
  const auto colon = address.rfind(':');
  const std::string ip = address.substr(0, colon);
  const auto port = static_cast<uint16_t>(std::stoul(address.substr(colon + 1)));
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); // bounds connect() too
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  std::string out;
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(s, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size())) {
    char buf[256];
    const ssize_t got = recv(s, buf, sizeof buf, 0);
    if (got > 0)
      out.assign(buf, static_cast<size_t>(got));
  }
  ::close(s);
  return out;
}

} // namespace

TEST_CASE("pod_network: pods reach each other with redirect off and on and leave nothing behind",
          "[netns]") {
  if (auto missing = spry::test::netns_missing(); !missing.empty()) {
    WARN("SKIPPED: pod_network did not run: " << missing);
    return;
  }
  const int programs_before = spry::test::forwarding_programs_loaded();
  for (const bool redirect : {false, true}) {
    INFO("xdp_tc_redirect " << (redirect ? "on" : "off"));
    auto net = pod_network::create({redirect});
    if (!net && redirect) {
      WARN("SKIPPED: the redirect half did not run: " << net.err().message);
      break;
    }
    REQUIRE(net);
    auto a = (*net)->open(7);
    REQUIRE(a);
    auto b = (*net)->open(8);
    REQUIRE(b);
    CHECK(a->address.rfind("10.213.", 0) == 0);
    auto server = echo_server(b->listen_fd, 2);
    // Pod 7 -> pod 8 (the tcp baseline between instances), and the client node -> pod 8.
    std::string from_pod, from_client;
    CHECK(in_namespace("spry-" + std::to_string(getpid()) + "-e7",
                       [&] { from_pod = echo_once(b->address, "pod to pod"); }));
    CHECK(in_namespace((*net)->client_namespace(),
                       [&] { from_client = echo_once(b->address, "client to pod"); }));
    server.join();
    CHECK(from_pod == "pod to pod");
    CHECK(from_client == "client to pod");
    const auto c = (*net)->counters();
    if (redirect) {
      CHECK(c.redirected > 0);
    } else {
      CHECK(c.redirected == 0);
      CHECK(c.passed() == 0);
    }
    if (redirect)
      CHECK(spry::test::forwarding_programs_loaded() == programs_before + 3);
    ::close(a->listen_fd);
    ::close(b->listen_fd);
    (*net)->close(7);
    CHECK(spry::test::run_command("ip netns list | grep -c '^spry-" + std::to_string(getpid()) +
                                  "-e7' || true").second == "0\n");
    net->reset();
    CHECK(spry::test::netns_leftovers(getpid()).empty());
    CHECK(spry::test::wait_for_programs(programs_before) == programs_before);
  }
}

TEST_CASE("pod_network: a killed run's namespaces veths and rules are swept at the next start",
          "[netns]") {
  if (auto missing = spry::test::netns_missing(); !missing.empty()) {
    WARN("SKIPPED: pod_network did not run: " << missing);
    return;
  }
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) { // a run that dies without cleaning up
    auto net = pod_network::create({false});
    if (net)
      (void)(*net)->open(3);
    (void)!write(ready[1], net ? "1" : "0", 1);
    pause();
    _exit(0);
  }
  ::close(ready[1]);
  char ok = '0';
  (void)!read(ready[0], &ok, 1);
  ::close(ready[0]);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  REQUIRE(ok == '1');
  CHECK_FALSE(spry::test::netns_leftovers(child).empty()); // it really left things behind
  const auto removed = pod_network::sweep();
  CHECK(removed.size() >= 4); // 3 namespaces, 3 links, 3 chains (some links go with their netns)
  CHECK(spry::test::netns_leftovers(child).empty());
}
