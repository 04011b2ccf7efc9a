// Works around a bug in CAF 0.17's OpenSSL sessions (libcaf_openssl): they call SSL_read,
// SSL_write, SSL_accept and SSL_connect without clearing the thread's OpenSSL error queue first,
// and then ask SSL_get_error what happened. OpenSSL's contract is that the queue is empty before
// every I/O call, else SSL_get_error reports a stale error. All sessions share the middleman's
// one thread, so a peer that fails the handshake (a certificate from another CA: exactly the peer
// the cluster refuses) leaves errors in the queue, and the next read on a healthy node's session
// reports SSL_ERROR_SSL: the controller dropped a joined node every time a stranger knocked
// (measured: one lost node per refused handshake; none with this file).
//
// The executable defines these four symbols, so the dynamic linker binds libcaf_openssl's calls to
// them; each clears the queue and calls OpenSSL's own function. For every other caller in the
// process clearing first is what OpenSSL asks anyway.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

template <class F>
F real(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (!p) {
    std::fprintf(stderr, "spry: cannot find OpenSSL's %s: %s\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<F>(p);
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto f = real<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto f = real<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto f = real<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return f(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto f = real<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return f(ssl);
}

} // extern "C"

namespace spry::cluster {
/// Referenced from tls.cpp so that this object is linked from the static library.
void openssl_error_queue_fix() {}
} // namespace spry::cluster
