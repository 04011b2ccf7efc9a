#include "cluster/tls.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include <chrono>
#include <fstream>

namespace spry::cluster {

void openssl_error_queue_fix(); // openssl_error_queue.cpp

core::status_or_error check(const tls_files& files) {
  const std::pair<const char*, const std::string*> all[] = {
    {"--ca", &files.ca}, {"--cert", &files.cert}, {"--key", &files.key}};
  for (const auto& [flag, path] : all) {
    if (path->empty())
      return core::make_error(std::string("cluster TLS: ") + flag +
                              " is required (make the files with scripts/cluster-certs DIR NAME...)");
    std::ifstream in(*path);
    std::string line;
    if (!in || !std::getline(in, line))
      return core::make_error(std::string("cluster TLS: cannot read ") + flag + " file '" + *path + "'");
    if (line.rfind("-----BEGIN", 0) != 0)
      return core::make_error(std::string("cluster TLS: ") + flag + " file '" + *path +
                              "' is not PEM (no -----BEGIN line)");
  }
  return {};
}

void configure(caf::actor_system_config& cfg, const tls_files& files) {
  openssl_error_queue_fix();
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  cfg.openssl_cafile = files.ca;
  cfg.openssl_certificate = files.cert;
  cfg.openssl_key = files.key;
  // No automatic direct connections between nodes: nodes talk to the controller only.
  cfg.set("middleman.enable-automatic-connections", false);
  // A peer that stops answering (cut off: no FIN, no RST) is dropped after the timeout, which
  // raises the down message on the other side; heartbeats keep an idle channel from tripping it.
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(250)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(1500)});
}

} // namespace spry::cluster
