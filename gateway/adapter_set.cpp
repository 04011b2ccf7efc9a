#include "gateway/adapter_set.hpp"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

namespace spry::gateway {

core::expected<adapter_ref> adapter_set::load(const std::string& name,
                                              const std::string& library) {
  auto fail = [this](std::string why) -> core::expected<adapter_ref> {
    std::lock_guard<std::mutex> guard{mtx_};
    ++load_failures_;
    return core::make_error(std::move(why));
  };
  void* h = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = dlerror();
    return fail("cannot load adapter library '" + library + "': " + (why ? why : "unknown"));
  }
  std::shared_ptr<void> handle(h, [](void* p) { dlclose(p); });
  using abi_fn = uint32_t (*)();
  using reg_fn = void (*)(core::adapter_registry*);
  auto abi = reinterpret_cast<abi_fn>(dlsym(h, "spry_adapter_abi_version"));
  auto reg = reinterpret_cast<reg_fn>(dlsym(h, "spry_register_adapters"));
  if (!abi || !reg)
    return fail("'" + library +
                "' is not a spry adapter library: it does not export spry_adapter_abi_version "
                "and spry_register_adapters (define its adapters inside SPRY_ADAPTER_LIBRARY)");
  if (const uint32_t v = abi(); v != SPRY_ADAPTER_ABI)
    return fail("adapter library '" + library + "' was built for adapter ABI " +
                std::to_string(v) + ", this spry has ABI " + std::to_string(SPRY_ADAPTER_ABI) +
                ": rebuild it against this spry");
  auto made = std::make_shared<loaded_adapter>();
  {
    core::adapter_registry registry;
    try {
      reg(&registry);
      std::string names;
      for (auto& [n, make] : registry.entries()) {
        names += (names.empty() ? "" : ", ") + n;
        if (n == name && !made->impl)
          made->impl = make();
      }
      if (!made->impl)
        return fail("adapter library '" + library + "' has no adapter named '" + name +
                    "' (it defines: " + (names.empty() ? "none" : names) + ")");
    } catch (const std::exception& e) {
      return fail("adapter library '" + library + "' failed to create '" + name + "': " + e.what());
    }
  } // the registry (factories: code in the library) goes before anything can dlclose it
  made->name = name;
  made->library = library;
  made->handle = std::move(handle);
  std::lock_guard<std::mutex> guard{mtx_};
  made->generation = ++generations_[name];
  adapter_ref ref = std::move(made);
  by_name_[name] = ref; // the previous one lives on in the requests that hold it
  spdlog::info("gateway: adapter '{}' generation {} loaded from {}", name, ref->generation, library);
  return ref;
}

bool adapter_set::unload(const std::string& name) {
  adapter_ref old;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = by_name_.find(name);
    if (i == by_name_.end())
      return false;
    old = std::move(i->second);
    by_name_.erase(i);
  }
  spdlog::info("gateway: adapter '{}' unloaded", name);
  return true; // `old` (and maybe the library) goes here unless a request still holds it
}

adapter_ref adapter_set::get(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = by_name_.find(name);
  return i == by_name_.end() ? nullptr : i->second;
}

std::vector<adapter_ref> adapter_set::list() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<adapter_ref> out;
  for (auto& [n, a] : by_name_)
    out.push_back(a);
  return out;
}

void adapter_set::count_rejected(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++rejected_[name];
}

std::string adapter_set::metrics_text() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::string t;
  t += "# HELP spry_adapter_generation Generation of each loaded adapter (+1 per replacement)\n"
       "# TYPE spry_adapter_generation gauge\n";
  for (auto& [n, a] : by_name_)
    t += "spry_adapter_generation{adapter=\"" + n + "\"} " + std::to_string(a->generation) + "\n";
  t += "# HELP spry_adapter_rejected_total Requests an adapter refused (bad payload or event)\n"
       "# TYPE spry_adapter_rejected_total counter\n";
  for (auto& [n, c] : rejected_)
    t += "spry_adapter_rejected_total{adapter=\"" + n + "\"} " + std::to_string(c) + "\n";
  t += "# HELP spry_adapter_load_failures_total Adapter libraries refused when loading\n"
       "# TYPE spry_adapter_load_failures_total counter\n"
       "spry_adapter_load_failures_total " + std::to_string(load_failures_) + "\n";
  return t;
}

} // namespace spry::gateway
