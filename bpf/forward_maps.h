/* Map layouts shared by the forwarding programs (xdp_tc_forward.bpf.c) and their loader
 * (transports/tcp/redirect_programs.cpp). Plain C, fixed-size types only. */
#ifndef SPRY_BPF_FORWARD_MAPS_H
#define SPRY_BPF_FORWARD_MAPS_H

#include <linux/types.h>

/* Indexes of the per-CPU counter array spry_fwd_counters: why each packet was redirected or
 * handed to the normal stack. The loader sums them over CPUs. */
enum spry_fwd_counter {
  SPRY_FWD_REDIRECTED = 0,    /* FIB hit on one of our ports: frame redirected */
  SPRY_FWD_PASS_NOT_IPV4 = 1, /* ARP, IPv6, anything not IPv4 */
  SPRY_FWD_PASS_FRAGMENT = 2, /* IPv4 fragments and packets with IP options */
  SPRY_FWD_PASS_TTL = 3,      /* TTL <= 1: the stack sends the ICMP time exceeded */
  SPRY_FWD_PASS_NO_FIB = 4,   /* FIB says local delivery, no route, blackhole, forwarding off */
  SPRY_FWD_PASS_NO_NEIGH = 5, /* XDP only: next hop has no neighbour entry yet (stack resolves) */
  SPRY_FWD_PASS_FOREIGN = 6,  /* FIB egress is not one of our ports: not ours to shortcut */
  SPRY_FWD_COUNTERS = 7,
};

/* Ports (ifindex -> SPRY_FWD_PORT_*) the programs may redirect to: the host sides of the pods'
 * veths and the node's NIC. Anything else the FIB picks (the machine's own uplink) goes through
 * the stack. */
#define SPRY_FWD_PORT_POD 1
#define SPRY_FWD_PORT_NIC 2
#define SPRY_FWD_MAX_PORTS 1024

#endif
