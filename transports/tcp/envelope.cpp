#include "transports/tcp/envelope.hpp"

#include "core/data_path_counters.hpp"
#include "core/message.hpp"
#include "core/msgpack_frame.hpp"
#include "core/pool.hpp"

#include <cstddef>
#include <cstring>

namespace spry::transports::tcp {

namespace {

// msgpack's packer writes through any type with write(const char*, size_t).
struct string_sink {
  std::string* out;
  void write(const char* p, size_t n) { out->append(p, n); }
};

constexpr uint32_t field_count = 18;

} // namespace

std::string encode_envelope(core::endpoint_id dst, const core::buffer_header& h,
                            std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 160);
  string_sink sink{&out};
  msgpack::packer<string_sink> pk(sink);
  const auto topic = core::fixed_field(h.topic, core::topic_capacity);
  const auto ct = core::fixed_field(h.content_type, core::content_type_capacity);
  pk.pack_array(field_count);
  pk.pack(envelope_version);
  pk.pack(dst);
  pk.pack(h.chain);
  pk.pack(h.request_id);
  pk.pack(h.hop_count);
  pk.pack(h.status);
  pk.pack(h.http_status);
  pk.pack(h.function);
  pk.pack(h.queue_length);
  pk.pack(h.instance);
  pk.pack(h.t_ingress_ns);
  pk.pack(h.t_sent_ns);
  pk.pack(h.exec_ns);
  pk.pack(h.home_offset);
  pk.pack_str(static_cast<uint32_t>(topic.size()));
  pk.pack_str_body(topic.data(), static_cast<uint32_t>(topic.size()));
  pk.pack_str(static_cast<uint32_t>(ct.size()));
  pk.pack_str_body(ct.data(), static_cast<uint32_t>(ct.size()));
  pk.pack_bin(static_cast<uint32_t>(payload.size()));
  pk.pack_bin_body(payload.data(), static_cast<uint32_t>(payload.size()));
  // Last, so that the fields before it keep their places: a request a transport could not
  // deliver names the endpoint it did not reach (buffer_status::undelivered).
  pk.pack(h.failed_at);
  // For the overhead audit: the message is serialized, and its payload copied into the frame.
  using namespace core::data_path;
  count(site::chain, event::serialization);
  if (!payload.empty())
    count(site::chain, event::copy);
  return out;
}

core::expected<envelope> parse_envelope(std::string_view bytes, msgpack::object_handle& keep) {
  try {
    // Reference the frame's bytes for str/bin instead of copying them into the zone.
    keep = core::unpack_frame(bytes.data(), bytes.size(),
                              [](msgpack::type::object_type, std::size_t, void*) { return true; });
  } catch (const std::exception& e) {
    return core::make_error(std::string("malformed envelope: not msgpack (") + e.what() + ")");
  }
  const msgpack::object& o = keep.get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size != field_count)
    return core::make_error("malformed envelope: expected an array of " +
                            std::to_string(field_count) + " fields");
  const msgpack::object* f = o.via.array.ptr;
  envelope e;
  auto& h = e.header;
  try {
    const auto version = f[0].as<unsigned>();
    if (version != envelope_version)
      return core::make_error("envelope version " + std::to_string(version) +
                              " is not supported (expected " + std::to_string(envelope_version) + ")");
    e.dst = f[1].as<uint32_t>();
    h.chain = f[2].as<uint16_t>();
    h.request_id = f[3].as<uint64_t>();
    h.hop_count = f[4].as<uint16_t>();
    h.status = f[5].as<uint16_t>();
    h.http_status = f[6].as<uint16_t>();
    h.function = f[7].as<uint16_t>();
    h.queue_length = f[8].as<uint16_t>();
    h.instance = f[9].as<uint32_t>();
    h.t_ingress_ns = f[10].as<uint64_t>();
    h.t_sent_ns = f[11].as<uint64_t>();
    h.exec_ns = f[12].as<uint64_t>();
    h.home_offset = f[13].as<uint64_t>();
    h.failed_at = f[17].as<uint32_t>();
  } catch (const std::exception&) {
    return core::make_error("malformed envelope: a header field has the wrong type or range");
  }
  if (f[14].type != msgpack::type::STR || f[14].via.str.size > core::topic_capacity)
    return core::make_error("malformed envelope: topic must be a string of at most " +
                            std::to_string(core::topic_capacity) + " bytes");
  if (f[15].type != msgpack::type::STR || f[15].via.str.size > core::content_type_capacity)
    return core::make_error("malformed envelope: content type must be a string of at most " +
                            std::to_string(core::content_type_capacity) + " bytes");
  if (f[16].type != msgpack::type::BIN)
    return core::make_error("malformed envelope: payload must be binary");
  // The header keeps both strings NUL-padded, so an embedded NUL would silently cut them (a
  // topic that routes differently from the one sent); no honest sender makes one.
  const std::string_view topic(f[14].via.str.ptr, f[14].via.str.size);
  const std::string_view content_type(f[15].via.str.ptr, f[15].via.str.size);
  if (topic.find('\0') != std::string_view::npos)
    return core::make_error("malformed envelope: topic contains a NUL byte");
  if (content_type.find('\0') != std::string_view::npos)
    return core::make_error("malformed envelope: content type contains a NUL byte");
  core::set_fixed_field(h.topic, core::topic_capacity, topic);
  core::set_fixed_field(h.content_type, core::content_type_capacity, content_type);
  e.payload = std::string_view(f[16].via.bin.ptr, f[16].via.bin.size);
  h.payload_length = static_cast<uint32_t>(e.payload.size());
  // The payload is referenced, not copied, here: write_envelope copies it.
  core::data_path::count(core::data_path::site::chain, core::data_path::event::deserialization);
  return e;
}

void write_envelope(const envelope& e, core::buffer_header* b, bool home) {
  static_assert(offsetof(core::buffer_header, request_id) == 0 &&
                sizeof(core::buffer_header::request_id) == 8, "the request id leads the header");
  if (home) // every field after the request id: the id is the lock, not ours to store
    std::memcpy(reinterpret_cast<char*>(b) + 8, reinterpret_cast<const char*>(&e.header) + 8,
                sizeof(core::buffer_header) - 8);
  else
    *b = e.header;
  std::memcpy(core::pool::payload(b), e.payload.data(), e.payload.size());
  if (!e.payload.empty())
    core::data_path::count(core::data_path::site::chain, core::data_path::event::copy);
}

} // namespace spry::transports::tcp
