// Function library of the Online Boutique workload (online-boutique.yaml): the frontend and the
// nine backend services of Google's Online Boutique as functions, each burning the mean CPU
// service time published for it (SPRIGHT, SIGCOMM 2022, appendix C, table 3) x
// SPRY_SERVICE_TIME_SCALE.
//
// Routing is the app file's, with topics (direct function routing): the frontend sets topic
// "s1", and every backend function, after its work, moves the topic one step on ("s3" -> "s4").
// The app's routes map (chain, function, step) to the next function, which is how one function
// (currency, say) can be followed by a different one at each of its visits in a chain. Each
// function appends its name to the payload, so a response shows the path the request took.
#include "core/function_library.hpp"
#include "examples/synthetic/service_time.hpp"

#include <stdexcept>
#include <string>

namespace {

// The topic of step k.
std::string step_topic(unsigned k) { return "s" + std::to_string(k); }

// Step number of a topic "s<k>", or 0 if the topic is not a step.
unsigned step_of(std::string_view topic) {
  if (topic.size() < 2 || topic[0] != 's')
    return 0;
  unsigned k = 0;
  for (char c : topic.substr(1)) {
    if (c < '0' || c > '9' || k > 1000)
      return 0;
    k = k * 10 + static_cast<unsigned>(c - '0');
  }
  return k;
}

// Appends " name" to the trail in place.
void append(spry::core::message& m, std::string_view name) {
  const auto n = m.payload().size();
  if (n + 1 + name.size() > m.capacity())
    throw std::length_error("the trail no longer fits the chain's buffer_size");
  char* p = m.data();
  p[n] = ' ';
  name.copy(p + n + 1, name.size());
  m.set_length(static_cast<uint32_t>(n + 1 + name.size()));
}

// A backend service: burns its service time, signs the trail, moves to the next step.
struct service {
  const char* name;
  double service_time_ms;
  void operator()(spry::core::message& m) const {
    const unsigned k = step_of(m.topic());
    if (k == 0) {
      m.fail(std::string(name) + ": expected a step topic s1, s2, ... (set by the frontend), got '" +
               std::string(m.topic()) + "'",
             500);
      return;
    }
    synthetic::burn_service_time(service_time_ms, synthetic::digest(m.payload()));
    append(m, name);
    m.set_topic(step_topic(k + 1));
  }
};

// The frontend fronts every chain: it reads the request (its body and the rest of the path,
// which arrives as the initial topic), starts the trail and the step count.
void frontend(spry::core::message& m) {
  (void)synthetic::digest(m.payload(), synthetic::digest(m.topic()));
  m.write("frontend");
  m.set_content_type("text/plain");
  m.set_topic(step_topic(1));
}

} // namespace

SPRY_FUNCTION_LIBRARY(registry) {
  registry.add("boutique.frontend", frontend);
  // Published mean CPU service times, in ms.
  registry.add("boutique.productcatalog", service{"productcatalog", 0.6});
  registry.add("boutique.recommendation", service{"recommendation", 2.5});
  registry.add("boutique.checkout", service{"checkout", 260});
  registry.add("boutique.currency", service{"currency", 0.9});
  registry.add("boutique.ad", service{"ad", 1.1});
  registry.add("boutique.email", service{"email", 0.5});
  registry.add("boutique.payment", service{"payment", 0.44});
  registry.add("boutique.shipping", service{"shipping", 0.2});
  registry.add("boutique.cart", service{"cart", 1.2});
}
