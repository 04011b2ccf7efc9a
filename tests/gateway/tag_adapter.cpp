// A test adapter that passes payloads through and tags every reply with which build of it ran
// (x-adapter-tag: SPRY_TAG): built twice, as two libraries, to replace one with the other under
// traffic and see which one answered.
#include "core/adapter.hpp"

#include <cstring>

namespace {

class tag_adapter final : public spry::core::adapter {
public:
  void ingress(const spry::core::adapter_request& in, spry::core::adapter_ingress& out) noexcept override {
    if (in.payload == "refuse") {
      out.error = "tag adapter refuses 'refuse'";
      return;
    }
    if (in.payload.size() > out.capacity) {
      out.error = "too large";
      return;
    }
    std::memcpy(out.data, in.payload.data(), in.payload.size());
    out.length = static_cast<uint32_t>(in.payload.size());
  }
  void egress(const spry::core::adapter_request&, uint32_t, spry::core::adapter_reply& r) noexcept override {
    r.headers.emplace_back("x-adapter-tag", SPRY_TAG);
  }
};

} // namespace

SPRY_ADAPTER_LIBRARY(registry) {
  registry.add("tag", [] { return std::make_unique<tag_adapter>(); });
}
