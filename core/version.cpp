#include "core/version.hpp"

namespace spry::core {

const char* version() { return SPRY_VERSION_STRING; }

} // namespace spry::core
