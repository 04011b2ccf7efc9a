#pragma once
// Mutual TLS for the cluster's control channel (CAF's middleman over libcaf_openssl).
//
// Why certificates rather than a join secret: with TLS the middleman itself refuses a peer whose
// certificate the cluster's CA did not sign, during the handshake, before CAF reads a single
// message from it, so no code of spry's (nor CAF's deserializer) ever sees an unauthenticated
// peer's bytes; the channel is also encrypted, so the data link's secret the controller hands
// out cannot be sniffed. A join secret checked in a message would let any peer reach CAF's
// deserializer and the controller's behavior first.

#include "core/error.hpp"

#include <string>

namespace caf {
class actor_system_config;
}

namespace spry::cluster {

struct tls_files {
  std::string ca;   ///< the cluster CA's certificate (PEM): peers must be signed by it
  std::string cert; ///< this member's certificate (PEM), signed by the CA
  std::string key;  ///< its private key (PEM)
};

/// Checks that the three files exist and are readable; the error names the missing one and how
/// to make them (scripts/cluster-certs).
core::status_or_error check(const tls_files& files);

/// Loads the middleman and the OpenSSL manager into `cfg` and points them at the files.
void configure(caf::actor_system_config& cfg, const tls_files& files);

} // namespace spry::cluster
