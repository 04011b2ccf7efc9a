// The tcp transport's envelope (transports/tcp/envelope.cpp): a msgpack frame from another
// process parsed, checked as the receiver does (the payload must fit the chain's buffer), written
// into a pool-sized buffer, and re-encoded: what parses must survive a round trip unchanged.
//
// Input: the frame (the body of one hop's HTTP POST).
#include "core/message.hpp"
#include "transports/tcp/envelope.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr uint32_t buffer_size = 1024;

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "invariant broken: %s\n", what);
  abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spry;
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  msgpack::object_handle keep;
  auto env = transports::tcp::parse_envelope(frame, keep);
  if (!env) {
    if (env.err().message.empty())
      broken("a refused envelope has no reason");
    return 0;
  }
  const auto& e = *env;
  if (e.payload.size() > size)
    broken("the payload view is larger than the frame");
  if (e.payload.size() > buffer_size)
    return 0; // 413, as tcp_transport's receive() answers
  // An exactly-sized heap buffer so that ASan sees any write past it.
  std::vector<char> mem(sizeof(core::buffer_header) + buffer_size);
  auto* b = reinterpret_cast<core::buffer_header*>(mem.data());
  transports::tcp::write_envelope(e, b);
  core::message m(b, buffer_size);
  if (m.payload() != e.payload)
    broken("the buffer's payload differs from the envelope's");
  const std::string again = transports::tcp::encode_envelope(e.dst, e.header, e.payload);
  msgpack::object_handle keep2;
  auto env2 = transports::tcp::parse_envelope(again, keep2);
  if (!env2)
    broken("a re-encoded envelope does not parse");
  if (env2->dst != e.dst || env2->payload != e.payload ||
      std::memcmp(&env2->header, &e.header, sizeof e.header) != 0)
    broken("an envelope changed in a round trip");
  return 0;
}
