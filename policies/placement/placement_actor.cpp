#include "policies/placement/placement_actor.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace spry::policies::placement {

namespace {

struct placement_state {
  std::shared_ptr<placement_engine> engine;
  static inline const char* name = "spry.placement";
};

caf::behavior placement_actor(caf::stateful_actor<placement_state>* self,
                              std::shared_ptr<placement_engine> engine) {
  self->state.engine = std::move(engine);
  return {
    [self](place_atom, const placement_request& r) {
      placement_result out;
      self->state.engine->place(r, out);
      return out;
    },
  };
}

} // namespace

caf::actor spawn_placement_actor(caf::actor_system& sys,
                                 std::unique_ptr<placement_engine> engine) {
  return sys.spawn(placement_actor, std::shared_ptr<placement_engine>(std::move(engine)));
}

} // namespace spry::policies::placement
