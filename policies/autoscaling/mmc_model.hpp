#pragma once
// The M/M/c queue LaSS sizes functions with: Poisson arrivals at rate lambda, c identical
// servers, exponential service at rate mu each, one FIFO queue in front (a load balancer that
// keeps every instance busy before queueing approximates this well).
//
// The waiting time W of an arrival has P(W > t) = C(c, a) * exp(-(c mu - lambda) t), where
// a = lambda / mu is the offered load and C is Erlang's C formula (the probability of waiting).

#include <cstdint>

namespace spry::policies::autoscaling {

/// Erlang C: probability an arrival has to wait, c servers, offered load a. 1 when c <= a
/// (the queue is unstable: everyone waits, eventually forever).
double erlang_c(uint32_t c, double a) noexcept;

/// P(W > t) in M/M/c.
double wait_exceeds(uint32_t c, double lambda, double mu, double t) noexcept;

/// The smallest c such that a fraction `percentile` of requests finish within `slo` seconds,
/// taken as P(W > slo - 1/mu) <= 1 - percentile (the wait must leave room for a mean service).
/// If slo <= 1/mu, the wait budget is 0: the chance of waiting at all must be small enough.
/// 0 when lambda is 0; at most `max_servers`.
uint32_t servers_for_slo(double lambda, double mu, double slo, double percentile,
                         uint32_t max_servers = 100000) noexcept;

} // namespace spry::policies::autoscaling
