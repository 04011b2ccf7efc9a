#include "transports/tcp/forward_programs.hpp"

#include "forward_maps.h"
#include "xdp_tc_forward.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace spry::transports::tcp {

// The skeleton type is C and generated; this wrapper keeps it out of the header.
struct forward_programs::skeleton : spry_forward {};

namespace {

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

// libbpf's LIBBPF_OPTS macro uses C designated initializers, which C++17 does not have: the
// same thing by hand (value-initialised, so the bytes libbpf checks for zero are zero).
bpf_tc_hook tc_hook(int ifindex, bpf_tc_attach_point where) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = ifindex;
  hook.attach_point = where;
  return hook;
}

} // namespace

core::expected<std::unique_ptr<forward_programs>> forward_programs::load() {
  libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
  spry_forward* s = spry_forward__open_and_load();
  if (!s) {
    const int e = errno;
    if (e == EPERM || e == EACCES)
      return core::make_error("tcp.xdp_tc_redirect: loading the forwarding programs was refused (" +
                              errno_text(e) + "): run as root or with CAP_BPF, CAP_NET_ADMIN and "
                              "CAP_SYS_ADMIN, or set tcp.xdp_tc_redirect: off");
    return core::make_error("tcp.xdp_tc_redirect: the kernel refused the forwarding programs (" +
                            errno_text(e) + "): they need Linux 5.10 or later with BPF, XDP and "
                            "TC clsact (bpf_fib_lookup, bpf_redirect_neigh, DEVMAP_HASH); set "
                            "tcp.xdp_tc_redirect: off on this machine");
  }
  return std::unique_ptr<forward_programs>(new forward_programs(static_cast<skeleton*>(s)));
}

forward_programs::~forward_programs() {
  // Links the programs are attached to are deleted by pod_network before this; destroying the
  // skeleton closes the last program and map fds, so the kernel frees them.
  spry_forward__destroy(skel_);
}

core::status_or_error forward_programs::add_port(int ifindex, port_role role) {
  const __u32 key = static_cast<__u32>(ifindex), dev = static_cast<__u32>(ifindex);
  const __u32 kind = role == port_role::nic ? SPRY_FWD_PORT_NIC : SPRY_FWD_PORT_POD;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.spry_fwd_ports), &key, &kind, BPF_ANY) != 0 ||
      (role == port_role::exposed_pod &&
       bpf_map_update_elem(bpf_map__fd(skel_->maps.spry_fwd_devmap), &key, &dev, BPF_ANY) != 0))
    return core::make_error("tcp.xdp_tc_redirect: cannot add port " + std::to_string(ifindex) +
                            ": " + errno_text(errno));
  return {};
}

void forward_programs::remove_port(int ifindex) noexcept {
  const __u32 key = static_cast<__u32>(ifindex);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.spry_fwd_ports), &key);
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.spry_fwd_devmap), &key);
}

core::status_or_error forward_programs::attach_tc(int ifindex) {
  bpf_tc_hook hook = tc_hook(ifindex, BPF_TC_INGRESS);
  int rc = bpf_tc_hook_create(&hook); // the clsact qdisc
  if (rc != 0 && rc != -EEXIST)
    return core::make_error("tcp.xdp_tc_redirect: cannot create the TC hook (clsact) on ifindex " +
                            std::to_string(ifindex) + ": " + errno_text(rc));
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.prog_fd = bpf_program__fd(skel_->progs.spry_tc_forward);
  rc = bpf_tc_attach(&hook, &opts);
  if (rc != 0)
    return core::make_error("tcp.xdp_tc_redirect: cannot attach the TC program on ifindex " +
                            std::to_string(ifindex) + ": " + errno_text(rc));
  return {};
}

core::status_or_error forward_programs::attach_xdp(int ifindex) {
  // Native mode only: generic (skb) XDP would not take the devmap fast path and would hide a
  // driver without XDP support behind a slow emulation.
  const int rc = bpf_xdp_attach(ifindex, bpf_program__fd(skel_->progs.spry_xdp_forward),
                                XDP_FLAGS_DRV_MODE, nullptr);
  if (rc != 0)
    return core::make_error("tcp.xdp_tc_redirect: cannot attach the XDP program (native mode) on "
                            "ifindex " + std::to_string(ifindex) + ": " + errno_text(rc));
  return {};
}

core::status_or_error forward_programs::attach_xdp_pass(int ifindex) {
  const int rc = bpf_xdp_attach(ifindex, bpf_program__fd(skel_->progs.spry_xdp_pass),
                                XDP_FLAGS_DRV_MODE, nullptr);
  if (rc != 0)
    return core::make_error("tcp.xdp_tc_redirect: cannot attach XDP_PASS on the pod side, ifindex " +
                            std::to_string(ifindex) + ": " + errno_text(rc));
  return {};
}

void forward_programs::detach_tc(int ifindex) noexcept {
  // Destroying a hook with both attach points removes the clsact qdisc and every filter on it.
  bpf_tc_hook hook = tc_hook(ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  bpf_tc_hook_destroy(&hook);
}

void forward_programs::detach_xdp(int ifindex) noexcept {
  bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr);
}

forward_counters forward_programs::counters() const {
  forward_counters out;
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0)
    return out;
  std::vector<__u64> per_cpu(static_cast<size_t>(ncpu));
  uint64_t sums[SPRY_FWD_COUNTERS] = {};
  for (__u32 k = 0; k < SPRY_FWD_COUNTERS; ++k)
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.spry_fwd_counters), &k, per_cpu.data()) == 0)
      for (auto v : per_cpu)
        sums[k] += v;
  out.redirected = sums[SPRY_FWD_REDIRECTED];
  out.pass_not_ipv4 = sums[SPRY_FWD_PASS_NOT_IPV4];
  out.pass_fragment = sums[SPRY_FWD_PASS_FRAGMENT];
  out.pass_ttl = sums[SPRY_FWD_PASS_TTL];
  out.pass_no_fib = sums[SPRY_FWD_PASS_NO_FIB];
  out.pass_no_neigh = sums[SPRY_FWD_PASS_NO_NEIGH];
  out.pass_foreign = sums[SPRY_FWD_PASS_FOREIGN];
  return out;
}

} // namespace spry::transports::tcp
