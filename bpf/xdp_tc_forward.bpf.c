// Forwarding fast path for traffic between pods (network namespaces) and from the node's NIC to
// pods: the transport tcp's `xdp_tc_redirect: on`.
//
// spry_tc_forward runs at TC ingress of every pod's host-side veth (a frame the pod sent),
// spry_xdp_forward at XDP of the NIC-like device (a frame from outside the node). Both ask the
// kernel FIB where the packet goes (bpf_fib_lookup, the same table `ip route` shows), rewrite the
// Ethernet header and TTL as a router would, and redirect the frame straight to the egress
// device: no netfilter hooks (PREROUTING/FORWARD/POSTROUTING), no conntrack, no ip_forward().
// That is the whole point and the price: iptables policy no longer sees this traffic.
//
// Everything the programs do not handle goes to the normal stack unchanged (TC_ACT_OK /
// XDP_PASS) and is counted by reason: non-IPv4 (ARP, IPv6), fragments, IP options, TTL <= 1,
// no FIB entry or local delivery, and egress devices that are not ours.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "forward_maps.h"

#ifndef AF_INET
#define AF_INET 2 /* <sys/socket.h> is not usable with -target bpf */
#endif
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SPRY_FWD_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} spry_fwd_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SPRY_FWD_MAX_PORTS);
  __type(key, __u32);   /* ifindex */
  __type(value, __u32); /* SPRY_FWD_PORT_* */
} spry_fwd_ports SEC(".maps");

/* XDP redirects go through a devmap: bpf_redirect() from XDP works too, but a devmap is the
 * documented fast path for XDP_REDIRECT (bulked ndo_xdp_xmit). Keyed and valued by ifindex.
 * Only ports whose far side runs an XDP program are in it (a veth drops XDP frames otherwise):
 * the gateway pod's, the one pod a client outside the node talks to. */
struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
  __uint(max_entries, SPRY_FWD_MAX_PORTS);
  __type(key, __u32);
  __type(value, __u32);
} spry_fwd_devmap SEC(".maps");

static __always_inline void count(__u32 what) {
  __u64 *c = bpf_map_lookup_elem(&spry_fwd_counters, &what);
  if (c)
    *c += 1; /* per-CPU slot: no atomic needed */
}

/* RFC 1624 incremental checksum update for the TTL decrement (the 16-bit word TTL|protocol
 * drops by 0x0100), as the kernel's ip_decrease_ttl() does. */
static __always_inline void decrease_ttl(struct iphdr *ip) {
  __u32 check = ip->check;
  check += bpf_htons(0x0100);
  ip->check = (__u16)(check + (check >= 0xFFFF));
  ip->ttl--;
}

/* Whether TC may redirect from pod port `from` to `to`. Towards the NIC only from pods the NIC's
 * XDP program redirects to as well: a flow must take the fast path both ways or neither, or
 * conntrack on the host sees one direction only, marks the other INVALID, and the CNI rule set
 * drops it. */
static __always_inline int tc_may_go(__u32 from, __u32 to) {
  __u32 *kind = bpf_map_lookup_elem(&spry_fwd_ports, &to);
  if (!kind)
    return 0;
  if (*kind == SPRY_FWD_PORT_NIC)
    return bpf_map_lookup_elem(&spry_fwd_devmap, &from) != 0;
  return 1;
}

/* Outcome of the common part. */
enum verdict { V_PASS, V_REDIRECT, V_REDIRECT_NEIGH };

/* Parses [data, end) of the packet behind `ctx` (the program's context: the helper wants it,
 * not the packet pointer), looks the packet up in the FIB and, on a hit towards one of our ports,
 * rewrites TTL and MACs. `*egress` is the ifindex to redirect to. */
static __always_inline enum verdict route(void *ctx, void *data, void *end, __u32 ingress, int xdp,
                                          __u32 *egress, struct bpf_fib_lookup *fib) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end)
    return count(SPRY_FWD_PASS_NOT_IPV4), V_PASS;
  if (eth->h_proto != bpf_htons(ETH_P_IP))
    return count(SPRY_FWD_PASS_NOT_IPV4), V_PASS;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end)
    return count(SPRY_FWD_PASS_NOT_IPV4), V_PASS;
  /* Options (ihl > 5) and fragments are rare and have rules of their own (reassembly for
   * conntrack, record-route): the stack handles them. */
  if (ip->ihl != 5 || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
    return count(SPRY_FWD_PASS_FRAGMENT), V_PASS;
  if (ip->ttl <= 1)
    return count(SPRY_FWD_PASS_TTL), V_PASS;

  __builtin_memset(fib, 0, sizeof(*fib));
  fib->family = AF_INET;
  fib->tos = ip->tos;
  fib->l4_protocol = ip->protocol;
  fib->tot_len = bpf_ntohs(ip->tot_len);
  fib->ipv4_src = ip->saddr;
  fib->ipv4_dst = ip->daddr;
  fib->ifindex = ingress;
  const long rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH && !xdp) {
    /* TC can let the kernel resolve the neighbour itself (bpf_redirect_neigh); XDP cannot. */
    if (!tc_may_go(ingress, fib->ifindex))
      return count(SPRY_FWD_PASS_FOREIGN), V_PASS;
    decrease_ttl(ip);
    *egress = fib->ifindex;
    return V_REDIRECT_NEIGH;
  }
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
    return count(SPRY_FWD_PASS_NO_NEIGH), V_PASS;
  if (rc != BPF_FIB_LKUP_RET_SUCCESS)
    return count(SPRY_FWD_PASS_NO_FIB), V_PASS;
  /* XDP may only redirect into the devmap: veths whose pod side can take XDP frames. Checked
   * here, before the header is rewritten, so a frame that cannot go is passed untouched. */
  if (xdp ? !bpf_map_lookup_elem(&spry_fwd_devmap, &fib->ifindex) : !tc_may_go(ingress, fib->ifindex))
    return count(SPRY_FWD_PASS_FOREIGN), V_PASS;
  decrease_ttl(ip);
  __builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
  *egress = fib->ifindex;
  return V_REDIRECT;
}

SEC("tc")
int spry_tc_forward(struct __sk_buff *skb) {
  struct bpf_fib_lookup fib;
  __u32 egress = 0;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  const enum verdict v = route(skb, data, end, skb->ingress_ifindex, 0, &egress, &fib);
  if (v == V_PASS)
    return TC_ACT_OK;
  count(SPRY_FWD_REDIRECTED);
  if (v == V_REDIRECT_NEIGH)
    return bpf_redirect_neigh(egress, 0, 0, 0);
  return bpf_redirect(egress, 0);
}

SEC("xdp")
int spry_xdp_forward(struct xdp_md *ctx) {
  struct bpf_fib_lookup fib;
  __u32 egress = 0;
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  const enum verdict v = route(ctx, data, end, ctx->ingress_ifindex, 1, &egress, &fib);
  if (v == V_PASS)
    return XDP_PASS;
  count(SPRY_FWD_REDIRECTED);
  /* XDP_PASS as the flag: if the egress is missing from the devmap the frame goes up the stack
   * instead of being dropped (bpf_redirect_map's fallback action, the low bits of flags). */
  return bpf_redirect_map(&spry_fwd_devmap, egress, XDP_PASS);
}

/* Attached to the pod side of a veth when redirect is on: a veth only accepts frames redirected
 * by XDP (ndo_xdp_xmit) when its peer runs an XDP program (that switches it to NAPI mode).
 * Everything passes. */
SEC("xdp")
int spry_xdp_pass(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
