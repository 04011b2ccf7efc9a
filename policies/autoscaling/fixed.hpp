#pragma once
// A fixed number of instances per function, whatever the load: the baseline that isolates load
// balancing from scaling in experiments, and what a statically provisioned deployment does.

#include "policies/autoscaling/autoscaler.hpp"

namespace spry::policies::autoscaling {

class fixed final : public autoscaler {
public:
  explicit fixed(uint32_t instances) : instances_(instances) {}
  std::string_view name() const noexcept override { return "fixed"; }
  void decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) override {
    out.assign(s.functions.size(), scaling_decision{instances_, 1.0});
  }

private:
  uint32_t instances_;
};

} // namespace spry::policies::autoscaling
