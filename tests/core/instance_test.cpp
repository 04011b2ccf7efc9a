// core/instance.cpp: how hop_router::send_to_function picks an instance of the next function,
// against a recording transport and a real endpoint board.

#include "core/endpoint_board.hpp"
#include "core/endpoint_directory.hpp"
#include "core/instance.hpp"
#include "core/load_balancer.hpp"
#include "core/route_table.hpp"
#include "core/transport.hpp"
#include "core/versioned.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

using namespace spry::core;

namespace {

// Accepts every send to an endpoint below `known`, records where it went.
class recording_transport final : public transport {
public:
  std::string_view name() const noexcept override { return "recording"; }
  status_or_error bind(endpoint_id, std::shared_ptr<descriptor_sink>) override { return {}; }
  void unbind(endpoint_id) noexcept override {}
  send_status send(const descriptor& d) noexcept override {
    if (d.dst >= known)
      return send_status::unknown_endpoint;
    sent.push_back(d.dst);
    return send_status::ok;
  }
  void consumed(endpoint_id) noexcept override {}
  uint32_t queue_depth(endpoint_id) const noexcept override { return 0; }
  transport_stats stats() const noexcept override { return {}; }
  void stop() noexcept override {}
  endpoint_id known = 16;
  std::vector<endpoint_id> sent;
};

// Always the first candidate: which candidates are offered is what the tests look at.
class first_balancer final : public load_balancer {
public:
  std::string_view name() const noexcept override { return "first"; }
  size_t pick(const instance_load*, size_t) noexcept override { return 0; }
};

std::shared_ptr<const endpoint_directory> two_instances() {
  endpoint_directory d;
  d.instances = {{}, {3, 4}}; // function 1 runs at endpoints 3 and 4
  return std::make_shared<const endpoint_directory>(d);
}

struct fixture {
  fixture() {
    board.emplace(std::move(*endpoint_board::create(8)));
    for (endpoint_id e : {3, 4})
      board->reset(e, 1);
  }
  hop_router router() {
    hop_router r{versioned<route_table>::reader(routes),
                 versioned<endpoint_directory>::reader(directory), &tp, &balancer, {}};
    r.board = &*board;
    return r;
  }
  versioned<route_table> routes{std::make_shared<const route_table>()};
  versioned<endpoint_directory> directory{two_instances()};
  recording_transport tp;
  first_balancer balancer;
  std::optional<endpoint_board> board;
};

} // namespace

TEST_CASE("hop_router: a send counts an arrival on the board of the instance it went to",
          "[core]") {
  fixture f;
  auto r = f.router();
  CHECK(r.send_to_function(1, descriptor{}) == send_status::ok);
  REQUIRE(f.tp.sent.size() == 1);
  CHECK(f.tp.sent[0] == 3);
  CHECK(f.board->in_flight(3) == 1);
  // A function without instances: nothing sent, nothing counted.
  CHECK(r.send_to_function(0, descriptor{}) == send_status::unknown_endpoint);
  CHECK(f.tp.sent.size() == 1);
}

TEST_CASE("hop_router: without the activator a busy instance still takes requests (it queues)",
          "[core]") {
  fixture f;
  auto r = f.router();
  f.board->arrival(3); // endpoint 3 is at its concurrency (1)
  f.board->arrival(4);
  CHECK(r.send_to_function(1, descriptor{}) == send_status::ok);
  CHECK(f.tp.sent.back() == 3);
  CHECK(f.board->in_flight(3) == 2);
}

TEST_CASE("hop_router: with the activator in the path only an instance with a free slot takes a "
          "request, and none free sends nothing",
          "[core]") {
  fixture f;
  auto r = f.router();
  for (endpoint_id e : {3, 4})
    f.board->slot(e)->activator.store(1);
  f.board->arrival(3); // 3 busy, 4 free: the balancer is offered 4 only
  CHECK(r.send_to_function(1, descriptor{}) == send_status::ok);
  CHECK(f.tp.sent.back() == 4);
  // Both at their concurrency now: the request is not sent, not counted, and the sender is told
  // `unknown_endpoint` (hop outcome no_instance: the gateway holds it).
  CHECK(r.send_to_function(1, descriptor{}) == send_status::unknown_endpoint);
  CHECK(f.tp.sent.size() == 1);
  CHECK(f.board->in_flight(3) == 1);
  CHECK(f.board->in_flight(4) == 1);
  // A completion frees a slot; concurrency 2 gives an instance two.
  f.board->completion(3, 1000, 1);
  CHECK(r.send_to_function(1, descriptor{}) == send_status::ok);
  CHECK(f.tp.sent.back() == 3);
  f.board->slot(4)->concurrency.store(2);
  CHECK(r.send_to_function(1, descriptor{}) == send_status::ok);
  CHECK(f.tp.sent.back() == 4);
  CHECK(r.send_to_function(1, descriptor{}) == send_status::unknown_endpoint);
  // reset (an endpoint id reused for a new instance) clears the mark.
  f.board->reset(3, 1);
  CHECK(r.send_to_function(1, descriptor{}) == send_status::ok);
}
