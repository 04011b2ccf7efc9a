#include "core/app.hpp"

namespace spry::core {

chain_spec& chain_builder::spec() { return owner_->spec_.chains[index_]; }

chain_builder& chain_builder::http(std::string method, std::string path) {
  spec().http = http_binding{std::move(method), std::move(path)};
  return *this;
}

chain_builder& chain_builder::then(const std::string& function) {
  spec().functions.push_back(function);
  return *this;
}

chain_builder& chain_builder::route(std::string from, std::string topic, std::string to) {
  spec().routes.push_back(route_spec{std::move(from), std::move(topic), std::move(to), {}});
  return *this;
}

chain_builder& chain_builder::head(std::string function) {
  spec().head = std::move(function);
  return *this;
}

chain_builder& chain_builder::pool(uint32_t buffers, uint32_t buffer_size) {
  spec().pool = pool_spec{buffers, buffer_size};
  return *this;
}

chain_builder& chain_builder::timeout_ms(uint32_t ms) {
  spec().timeout_ms = ms;
  return *this;
}

app::app(std::string name) { spec_.name = std::move(name); }

app& app::function(const std::string& name, function_body body, uint32_t instances) {
  if (auto ok = functions_.add(name, std::move(body)); !ok)
    errors_.push_back(ok.err().message);
  function_spec f;
  f.name = f.handler = name;
  f.min_instances = f.max_instances = instances;
  spec_.functions.push_back(std::move(f));
  return *this;
}

chain_builder app::chain(std::string name) {
  chain_spec c;
  c.name = std::move(name);
  c.http.path = "/" + c.name;
  spec_.chains.push_back(std::move(c));
  return chain_builder(this, spec_.chains.size() - 1);
}

app& app::transport(std::string name) {
  spec_.transport = std::move(name);
  return *this;
}

app& app::listen(std::string host, uint16_t port) {
  spec_.gateway.host = std::move(host);
  spec_.gateway.port = port;
  return *this;
}

app& app::load_balancer(std::string name) {
  spec_.load_balancer = std::move(name);
  return *this;
}

} // namespace spry::core
