#include "gateway/app_check.hpp"

#include "core/function_library.hpp"
#include "core/runtime.hpp"
#include "gateway/adapter_set.hpp"
#include "gateway/app_policies.hpp"
#include "gateway/server.hpp"

namespace spry::gateway {

core::expected<core::route_findings> check_app(const core::app_spec& app,
                                               const core::function_registry& functions) {
  if (auto p = make_app_policies(app); !p)
    return p.err();
  core::function_registry fns = functions; // each entry keeps its library loaded
  for (const auto& path : app.libraries)
    if (auto lib = core::function_library::load(path, fns); !lib)
      return lib.err();
  core::runtime_options opts;
  opts.transports = &transports();
  opts.balancers = &balancers();
  if (auto ok = core::runtime::check(app, fns, opts); !ok)
    return ok.err();
  for (const auto& a : app.adapters) {
    adapter_set adapters;
    if (auto loaded = adapters.load(a.name, a.library); !loaded)
      return core::make_error(a.where.prefix() + loaded.err().message);
  }
  return core::check_routes(app);
}

} // namespace spry::gateway

namespace spry::gateway {

std::string dump_transport_settings(const core::app_spec& app) {
  std::string out;
  auto section = [&](const std::string& key, const core::transport_config& c, bool defaults) {
    out += key + ":" + (defaults ? "  # not in the app: the defaults" : "") + "\n";
    const auto text = c.dump();
    for (size_t i = 0, j; i < text.size(); i = j + 1) {
      j = text.find('\n', i);
      if (j == std::string::npos)
        j = text.size();
      out += "  " + text.substr(i, j - i) + "\n";
    }
  };
  for (const auto* s : transports().sections()) {
    if (const auto* c = app.transport_settings.find(s->key))
      section(s->key, *c, false);
    else if (s->transport == app.transport && s->defaults)
      if (auto d = s->defaults())
        section(s->key, *d, true);
  }
  return out;
}

} // namespace spry::gateway
