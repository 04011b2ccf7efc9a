#include "core/transport_registry.hpp"

namespace spry::core {

status_or_error transport_registry::add(entry e) {
  if (e.name.empty() || !e.factory)
    return make_error("a transport needs a name and a factory");
  auto name = e.name;
  if (!entries_.emplace(name, std::move(e)).second)
    return make_error("transport '" + name + "' is registered twice");
  return {};
}

const transport_registry::entry* transport_registry::find(const std::string& name) const {
  auto i = entries_.find(name);
  return i == entries_.end() ? nullptr : &i->second;
}

expected<std::unique_ptr<transport>>
transport_registry::create(const std::string& name, const transport_context& ctx) const {
  auto* e = find(name);
  if (!e) {
    std::string known;
    for (const auto& [n, entry] : entries_)
      known += (known.empty() ? "" : ", ") + n;
    return make_error("unknown transport '" + name + "' (available in this build: " + known + ")");
  }
  return e->factory(ctx);
}

std::vector<const transport_registry::entry*> transport_registry::entries() const {
  std::vector<const entry*> out;
  for (const auto& [n, e] : entries_)
    out.push_back(&e);
  return out;
}

status_or_error transport_registry::add_section(config_section s) {
  if (s.key.empty() || !s.parse)
    return make_error("an app file section needs a key and a parser");
  auto key = s.key;
  if (!sections_.emplace(key, std::move(s)).second)
    return make_error("app file section '" + key + "' is registered twice");
  return {};
}

const config_section* transport_registry::find_section(const std::string& key) const {
  auto i = sections_.find(key);
  return i == sections_.end() ? nullptr : &i->second;
}

std::vector<const config_section*> transport_registry::sections() const {
  std::vector<const config_section*> out;
  for (const auto& [k, s] : sections_)
    out.push_back(&s);
  return out;
}

} // namespace spry::core
