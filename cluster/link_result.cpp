#include "cluster/link_result.hpp"

#include "core/msgpack_frame.hpp"

#include <msgpack.hpp>

namespace spry::cluster {

std::string encode_result(const gateway::chain_result& r) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(6);
  pk.pack(r.http_status);
  pk.pack(r.content_type);
  pk.pack(r.body);
  pk.pack(r.retry_after_s);
  pk.pack(r.topic);
  pk.pack_array(static_cast<uint32_t>(r.headers.size()));
  for (const auto& [k, v] : r.headers) {
    pk.pack_array(2);
    pk.pack(k);
    pk.pack(v);
  }
  return std::string(buf.data(), buf.size());
}

core::expected<gateway::chain_result> decode_result(std::string_view bytes) {
  try {
    auto oh = core::unpack_frame(bytes.data(), bytes.size());
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 6)
      return core::make_error("result frame: expected an array of 6 fields");
    const auto* f = o.via.array.ptr;
    gateway::chain_result r;
    const auto status = f[0].as<uint32_t>();
    if (status < 100 || status > 599)
      return core::make_error("result frame: HTTP status " + std::to_string(status) + " out of range");
    r.http_status = static_cast<uint16_t>(status);
    r.content_type = f[1].as<std::string>();
    r.body = f[2].as<std::string>();
    r.retry_after_s = f[3].as<uint32_t>();
    r.topic = f[4].as<std::string>();
    if (f[5].type != msgpack::type::ARRAY)
      return core::make_error("result frame: headers must be an array");
    for (uint32_t i = 0; i < f[5].via.array.size; ++i) {
      const auto& h = f[5].via.array.ptr[i];
      if (h.type != msgpack::type::ARRAY || h.via.array.size != 2)
        return core::make_error("result frame: a header must be a [name, value] pair");
      r.headers.emplace_back(h.via.array.ptr[0].as<std::string>(), h.via.array.ptr[1].as<std::string>());
    }
    return r;
  } catch (const std::exception& e) {
    return core::make_error(std::string("result frame: ") + e.what());
  }
}

} // namespace spry::cluster
