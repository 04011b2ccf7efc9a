#include "core/transport_config.hpp"

namespace spry::core {

transport_configs::transport_configs(const transport_configs& other) {
  for (const auto& [key, c] : other.sections_)
    sections_.emplace(key, c->clone());
}

transport_configs& transport_configs::operator=(const transport_configs& other) {
  if (this != &other) {
    transport_configs copy(other);
    sections_ = std::move(copy.sections_);
  }
  return *this;
}

void transport_configs::set(std::unique_ptr<transport_config> c) {
  if (!c)
    return;
  auto key = c->section();
  sections_[std::move(key)] = std::move(c);
}

const transport_config* transport_configs::find(const std::string& key) const {
  auto it = sections_.find(key);
  return it == sections_.end() ? nullptr : it->second.get();
}

std::vector<std::string> transport_configs::keys() const {
  std::vector<std::string> out;
  for (const auto& kv : sections_)
    out.push_back(kv.first);
  return out;
}

} // namespace spry::core
