#pragma once
// A rate predictor as an actor: `(observe_atom, double t, double rate)` feeds it (no reply),
// `(predict_atom, double horizon) -> double` asks it. One actor per function; messages from one
// sender arrive in order, so a predict after an observe sees that observation.

#include "policies/prediction/rate_predictor.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

#include <memory>

namespace spry::policies::prediction {

using observe_atom = caf::atom_constant<caf::atom("rp_observe")>;
using predict_atom = caf::atom_constant<caf::atom("rp_predict")>;

caf::actor spawn_rate_predictor_actor(caf::actor_system& sys,
                                      std::unique_ptr<rate_predictor> predictor);

} // namespace spry::policies::prediction
