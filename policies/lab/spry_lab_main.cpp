// spry-lab: the policy lab on its own (`spry lab` runs the same entry point).
#include "policies/lab/lab_main.hpp"

int main(int argc, char** argv) { return spry::policies::lab::lab_main(argc, argv); }
