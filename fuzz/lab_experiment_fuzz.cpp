// The policy lab's experiment loader (policies/lab/experiment.cpp): an experiment file as
// `spry lab` reads it, validated against the registered policies. Every input must give an
// experiment or a core::error: an escaping exception or a crash is a finding.
//
// Input: the experiment file's text. Relative file names in it resolve below a directory that
// does not exist, so the harness never reads files of the machine it runs on.
#include "policies/lab/experiment.hpp"
#include "policies/lab/simulator.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spry::policies::lab;
  static const policy_registries registries = [] {
    policy_registries r;
    register_all(r);
    return r;
  }();
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto e = parse_experiment(text, "spry-fuzz-no-such-dir/experiment.yaml", registries);
  if (!e && e.err().message.empty())
    abort();
  return 0;
}
