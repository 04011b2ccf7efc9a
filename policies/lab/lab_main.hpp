#pragma once
// The policy lab's command line: `spry lab EXPERIMENT.yaml` (and the stand-alone `spry-lab`).
// Parses its arguments with CLI11 (--help lists them), runs the experiment matrix with progress on
// stderr, writes the report, and returns the process exit code (0 ok, 1 a run or the output
// failed, 2 bad arguments or a bad experiment file). argv[0] is the program name.

namespace spry::policies::lab {

int lab_main(int argc, char** argv);

} // namespace spry::policies::lab
