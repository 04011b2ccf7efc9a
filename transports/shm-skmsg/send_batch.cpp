#include "transports/shm-skmsg/send_batch.hpp"

namespace spry::transports::skmsg {

thread_local send_batch* send_batch::current_ = nullptr;

namespace {
// The batch a hold_sends() on this thread fills (the gateway's I/O loop).
thread_local send_batch held_by_loop;
} // namespace

bool send_batch::begin_hold(const void* owner) noexcept {
  if (current_)
    return false; // held already (a hold, or a drain of this or another transport)
  held_by_loop.set_owner(owner);
  held_by_loop.n_ = 0;
  current_ = &held_by_loop;
  return true;
}

send_batch* send_batch::end_hold(const void* owner) noexcept {
  if (current_ != &held_by_loop || held_by_loop.owner_ != owner)
    return nullptr;
  current_ = nullptr;
  return &held_by_loop;
}

} // namespace spry::transports::skmsg
