// What a receiver does with a descriptor and a buffer another process wrote: the descriptor
// check every receiver applies (core/descriptor_check.hpp: pool, offset, tag), the function's
// view of the buffer (core::message: payload, topic, content type from an untrusted header),
// the instance's corrupt-length check, and the gateway reading the result out of the buffer
// (gateway/chain_result.hpp), including completions of buffers already released (double
// completion) and descriptors naming free buffers.
//
// Input: 256 bytes written over the header of buffer A (as a function in another process could),
// then up to 64 payload bytes, then 16-byte descriptors. A descriptor's offset is XORed with
// buffer A's offset, so offset 0 names buffer A and every other value is still reachable; bit 0
// of its dst releases the buffer after reading it (a completion), bit 1 checks the ownership
// word against dst >> 2 (shared pools).
#include "core/descriptor_check.hpp"
#include "core/message.hpp"
#include "fuzz/fuzz_input.hpp"
#include "gateway/chain_result.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

namespace {

constexpr uint32_t buffer_size = 512;

std::vector<spry::core::pool>& pools() {
  static std::vector<spry::core::pool> p = [] {
    std::vector<spry::core::pool> out;
    for (int i = 0; i < 2; ++i) {
      spry::core::pool_options o;
      o.name = "spry-fuzz";
      o.buffer_count = 4;
      o.buffer_size = buffer_size;
      o.try_hugepages = false;
      auto made = spry::core::pool::create(o);
      if (!made) {
        fprintf(stderr, "cannot create a pool: %s\n", made.err().message.c_str());
        abort();
      }
      out.push_back(std::move(*made));
    }
    return out;
  }();
  return p;
}

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "invariant broken: %s\n", what);
  abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spry;
  auto& ps = pools();
  fuzz::fuzz_input in(data, size);
  // Buffer A (the request under test) and B in pool 0, C in pool 1.
  core::buffer_header* a = ps[0].alloc();
  core::buffer_header* b = ps[0].alloc();
  core::buffer_header* c = ps[1].alloc();
  if (!a || !b || !c)
    broken("a fresh pool has no free buffer (a buffer leaked in an earlier input)");
  const uint64_t request_id = 0x1234;
  a->request_id = b->request_id = c->request_id = request_id;
  const auto header = in.bytes(sizeof(core::buffer_header));
  std::memcpy(a, header.data(), header.size());
  const auto payload = in.bytes(64);
  std::memcpy(core::pool::payload(a), payload.data(), payload.size());
  const uint64_t base = ps[0].offset_of(a);

  while (!in.empty()) {
    core::descriptor d{};
    const auto raw = in.bytes(sizeof d);
    std::memcpy(&d, raw.data(), raw.size());
    d.offset ^= base;
    // Bit 1 of dst: pools shared between processes, so the ownership word must name the
    // receiver (dst >> 2); the header bytes above set buffer A's ownership word.
    const auto owner = (d.dst & 2) ? std::optional<uint32_t>(d.dst >> 2) : std::nullopt;
    const auto checked = core::check_descriptor(ps, d, owner);
    if (!checked.buffer) {
      if (!checked.why)
        broken("a refused descriptor has no reason");
      continue;
    }
    core::buffer_header* h = checked.buffer;
    auto& p = ps[d.pool];
    const uint32_t index = p.index_of(h);
    if (index >= p.capacity() || p.at(index) != h)
      broken("check_descriptor accepted a reference that is not a buffer of the pool");
    // The function's view (instance.cpp builds exactly this message).
    core::message m(h, p.buffer_size(), d.offset);
    if (m.payload().size() > p.buffer_size())
      broken("message::payload() is larger than the buffer");
    (void)m.topic();
    (void)m.content_type();
    if (h->payload_length > p.buffer_size())
      m.fail("request arrived with a corrupt payload length", 502);
    // The gateway's answer from it.
    const auto r = gateway::result_of(h, p, request_id);
    if (r.body.size() > p.buffer_size() + 1 || r.http_status < 200 || r.http_status > 599)
      broken("result_of read past the buffer or made an invalid status");
    if (d.dst & 1)
      p.release(h); // a completion: the buffer goes back; a second one must be refused
  }
  // Whatever the descriptors did, releasing what is still held empties both pools.
  for (auto* h : {a, b})
    ps[0].release(h);
  ps[1].release(c);
  if (ps[0].stats().in_use != 0 || ps[1].stats().in_use != 0)
    broken("buffers leaked");
  return 0;
}
