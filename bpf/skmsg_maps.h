/* Map layouts shared by the sk_msg program (sk_msg_redirect.bpf.c) and its loader
 * (transports/shm-skmsg). Plain C, fixed-size types only: both sides must agree byte for byte. */
#ifndef SPRY_BPF_SKMSG_MAPS_H
#define SPRY_BPF_SKMSG_MAPS_H

#include <linux/types.h>

/* Endpoint ids are 0 (the gateway) .. SPRY_SKMSG_MAX_ENDPOINTS-1; the sockmap is keyed by them. */
#define SPRY_SKMSG_MAX_ENDPOINTS 4096

/* A descriptor is 16 bytes; the destination endpoint id is its first 4 bytes (little endian, as
 * core/descriptor.hpp lays it out). */
#define SPRY_SKMSG_DESCRIPTOR_SIZE 16

/* A sender may put up to this many descriptors for one destination in one sendmsg() (the
 * transport does when it sends what one batch of functions produced); the program redirects the
 * whole message by the first one's destination. */
#define SPRY_SKMSG_MAX_BATCH 64

/* Per destination endpoint, counted in the kernel on every redirect: the event-driven proxy
 * that replaces a queue-proxy sidecar's request counting. */
struct spry_skmsg_counters {
  __u64 messages;  /* descriptors redirected to this endpoint (a batched message counts each) */
  __u64 bytes;     /* bytes redirected to this endpoint */
  __u64 last_ns;   /* bpf_ktime_get_ns() of the last one (CLOCK_MONOTONIC) */
  __u64 rejected;  /* messages for this endpoint that could not be redirected (bounced) */
};

#endif
