// sk_msg program of transport shm-skmsg: every sendmsg() on an endpoint's socket carries one
// 16-byte descriptor, or up to SPRY_SKMSG_MAX_BATCH of them for one destination; the program
// reads the (first) destination endpoint id and redirects the message into that endpoint's
// socket ingress queue through the sockmap, inside the kernel: no protocol stack traversal, no
// copy of the payload (the payload stays in the shared pool), and the receiver is woken only
// when something arrives. A batch is redirected whole: one verdict, one ingress queueing and one
// wake-up for all of it. The receiver checks that every descriptor it reads names it (a sender
// that mixed destinations in one message only reaches the first one's endpoint, where the
// others are refused as not its own).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "skmsg_maps.h"

struct {
  __uint(type, BPF_MAP_TYPE_SOCKMAP);
  __uint(max_entries, SPRY_SKMSG_MAX_ENDPOINTS);
  __type(key, __u32);
  __type(value, __u32);
} spry_endpoints SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SPRY_SKMSG_MAX_ENDPOINTS);
  __type(key, __u32);
  __type(value, struct spry_skmsg_counters);
} spry_counters SEC(".maps");

// Never SK_DROP: on the kernels we run on (6.x), tcp_bpf_send_verdict() keeps a DROP verdict
// cached in the socket's psock and fails every later sendmsg() on that socket with EACCES, so one
// bad descriptor would cut the sender off for good. A descriptor that cannot be redirected is
// passed instead (SK_PASS without a redirect): it travels the normal loopback TCP path to the
// sender's own peer socket, where the transport reads it back and fails that request to the
// gateway. Nothing is lost and the sender keeps working.
SEC("sk_msg")
int spry_redirect(struct sk_msg_md *msg) {
  void *data = msg->data;
  void *end = msg->data_end;
  // A small sendmsg is linear, but the verifier cannot know that: pull the first bytes in
  // explicitly when they are not already in the linear window, then re-read both pointers
  // (pull_data invalidates them).
  if (data + sizeof(__u32) > end) {
    if (bpf_msg_pull_data(msg, 0, SPRY_SKMSG_DESCRIPTOR_SIZE, 0) != 0)
      return SK_PASS;
    data = msg->data;
    end = msg->data_end;
    if (data + sizeof(__u32) > end) // the verifier needs this bound check after every reload
      return SK_PASS;
  }
  __u32 dst = *(__u32 *)data;
  // Bound the key before using it as an array index: the verifier rejects unbounded lookups
  // on some kernels, and a key past the end is a malformed descriptor anyway.
  if (dst >= SPRY_SKMSG_MAX_ENDPOINTS)
    return SK_PASS;
  struct spry_skmsg_counters *c = bpf_map_lookup_elem(&spry_counters, &dst);
  const __u32 size = msg->size;
  if (size == 0 || size % SPRY_SKMSG_DESCRIPTOR_SIZE != 0 ||
      size > SPRY_SKMSG_MAX_BATCH * SPRY_SKMSG_DESCRIPTOR_SIZE) {
    if (c)
      __sync_fetch_and_add(&c->rejected, 1);
    return SK_PASS;
  }
  if (bpf_msg_redirect_map(msg, &spry_endpoints, dst, BPF_F_INGRESS) != SK_PASS) {
    if (c) // no socket registered under dst: bounce back to the sender
      __sync_fetch_and_add(&c->rejected, 1);
    return SK_PASS;
  }
  if (c) {
    __sync_fetch_and_add(&c->messages, size / SPRY_SKMSG_DESCRIPTOR_SIZE);
    __sync_fetch_and_add(&c->bytes, msg->size);
    c->last_ns = bpf_ktime_get_ns();
  }
  return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
