// The control channel (core/control_channel.cpp): length-prefixed msgpack frames an instance
// process sends the node agent (and back), fed to control_reader in arbitrary pieces as reads
// deliver them. A message that decodes must re-encode to a frame that decodes to the same.
//
// Input: byte 0 picks the read size (1..256); the rest is the byte stream on the socket.
#include "core/control_channel.hpp"
#include "fuzz/fuzz_input.hpp"

#include <cstdio>
#include <cstdlib>

namespace {

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "invariant broken: %s\n", what);
  abort();
}

bool same(const spry::core::control_message& a, const spry::core::control_message& b) {
  return a.type == b.type && a.endpoint == b.endpoint && a.address == b.address &&
         a.peers == b.peers && a.directory == b.directory && a.version == b.version;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spry::core;
  spry::fuzz::fuzz_input in(data, size);
  const size_t chunk = size_t{in.byte()} + 1;
  std::string_view stream = in.rest();
  control_reader reader;
  while (!stream.empty()) {
    const auto piece = stream.substr(0, chunk);
    stream.remove_prefix(piece.size());
    reader.feed(piece.data(), piece.size());
    for (;;) {
      auto next = reader.next();
      if (!next)
        break;
      if (!*next) {
        if (next->err().message.empty())
          broken("a refused frame has no reason");
        return 0; // the channel is closed after a bad frame
      }
      const control_message& m = **next;
      control_reader again;
      const std::string frame = encode_control(m);
      again.feed(frame.data(), frame.size());
      auto decoded = again.next();
      if (!decoded || !*decoded || !same(**decoded, m))
        broken("a control message changed in a round trip");
    }
  }
  return 0;
}
