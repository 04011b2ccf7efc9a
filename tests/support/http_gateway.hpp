#pragma once
// A gateway's HTTP side without the rest of the server: the app's runtime (transport local, its
// instances launched), the gateway and an http_server on 127.0.0.1:0, torn down in the order
// gateway::server uses. For the tests of gateway/http_server.cpp and gateway/http_session.cpp.

#include "core/app.hpp"
#include "core/runtime.hpp"
#include "gateway/gateway.hpp"
#include "gateway/http_server.hpp"
#include "gateway/server.hpp"
#include "tests/support/eventually.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>

namespace spry::test {

struct http_gateway {
  explicit http_gateway(core::app& a) {
    a.spec().gateway.host = "127.0.0.1";
    a.spec().gateway.port = 0;
    core::runtime_options opts;
    opts.transports = &gateway::transports();
    opts.balancers = &gateway::balancers();
    auto r = core::runtime::start(a.spec(), a.functions(), opts);
    if (!r)
      FAIL(r.err().message);
    rt = std::move(*r);
    gw = std::make_unique<gateway::gateway>(*rt);
    if (auto ok = rt->launch(); !ok)
      FAIL(ok.err().message);
    http = std::make_unique<gateway::http_server>(*gw, rt->app().gateway);
    if (auto ok = http->start(); !ok)
      FAIL(ok.err().message);
  }
  ~http_gateway() {
    http->stop(0);
    rt->stop_instances();
    gw.reset();
    http.reset();
    rt->stop();
  }
  uint16_t port() const { return http->port(); }
  /// Pool buffers taken now, over every chain.
  uint32_t buffers_in_use() const {
    uint32_t n = 0;
    for (auto& p : rt->pools())
      n += p.stats().in_use;
    return n;
  }

  std::unique_ptr<core::runtime> rt;
  std::unique_ptr<gateway::gateway> gw;
  std::unique_ptr<gateway::http_server> http;
};

} // namespace spry::test
