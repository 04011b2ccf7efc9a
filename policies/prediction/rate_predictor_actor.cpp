#include "policies/prediction/rate_predictor_actor.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace spry::policies::prediction {

namespace {

struct predictor_state {
  std::shared_ptr<rate_predictor> predictor;
  static inline const char* name = "spry.rate_predictor";
};

caf::behavior predictor_actor(caf::stateful_actor<predictor_state>* self,
                              std::shared_ptr<rate_predictor> predictor) {
  self->state.predictor = std::move(predictor);
  return {
    [self](observe_atom, double t, double rate) { self->state.predictor->observe(t, rate); },
    [self](predict_atom, double horizon) { return self->state.predictor->predict(horizon); },
  };
}

} // namespace

caf::actor spawn_rate_predictor_actor(caf::actor_system& sys,
                                      std::unique_ptr<rate_predictor> predictor) {
  return sys.spawn(predictor_actor, std::shared_ptr<rate_predictor>(std::move(predictor)));
}

} // namespace spry::policies::prediction
