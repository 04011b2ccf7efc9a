// Built instead of forward_programs.cpp when clang, bpftool or libbpf were missing at configure
// time: tcp.namespaces still works, tcp.xdp_tc_redirect: on says why it cannot.
#include "transports/tcp/forward_programs.hpp"

namespace spry::transports::tcp {

struct forward_programs::skeleton {};

core::expected<std::unique_ptr<forward_programs>> forward_programs::load() {
  return core::make_error("tcp.xdp_tc_redirect: this build of spry has no eBPF support (clang, "
                          "bpftool or libbpf-dev were missing at build time; scripts/setup "
                          "installs them)");
}
forward_programs::~forward_programs() = default;
core::status_or_error forward_programs::add_port(int, port_role) { return {}; }
void forward_programs::remove_port(int) noexcept {}
core::status_or_error forward_programs::attach_tc(int) { return {}; }
core::status_or_error forward_programs::attach_xdp(int) { return {}; }
core::status_or_error forward_programs::attach_xdp_pass(int) { return {}; }
void forward_programs::detach_tc(int) noexcept {}
void forward_programs::detach_xdp(int) noexcept {}
forward_counters forward_programs::counters() const { return {}; }

} // namespace spry::transports::tcp
