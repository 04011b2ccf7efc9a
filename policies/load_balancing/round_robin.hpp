#pragma once
// Round robin: each instance in turn, ignoring load. Knative's and Kubernetes' default.

#include "policies/load_balancing/load_balancer.hpp"

namespace spry::policies::load_balancing {

class round_robin final : public load_balancer {
public:
  std::string_view name() const noexcept override { return "round_robin"; }
  size_t pick(const instance_load*, size_t n) noexcept override { return next_++ % n; }

private:
  size_t next_ = 0;
};

} // namespace spry::policies::load_balancing
