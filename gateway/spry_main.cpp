// The `spry` command: a thin main, everything lives in the gateway library.
#include "gateway/run.hpp"

int main(int argc, char** argv) { return spry::gateway::spry_main(argc, argv); }
