#pragma once
// Mapping a forked process's code in before it needs it.
//
// fork() copies no page-table entries of a file-backed mapping that holds no private pages (the
// kernel expects a fault to fill them as cheaply): code, read-only data, the dynamic linker's
// symbol tables. A forked child therefore takes a page fault on its first touch of every 16
// pages (the fault-around window) of code it runs, although each page is in the page cache and
// mapped in its parent. An instance forked from the template spent about a third of its start
// CPU in these faults (perf, shm-skmsg, hello). A spare (instance_template) has nothing to do
// while it waits, so it maps them in then, off the start path.
//
// Only pages already in the page cache are mapped: what this process or any other has used (the
// gateway, earlier instances), not whole libraries read from disk; the cost is page-table
// entries, no memory of the pages themselves (they stay shared, clean, with the page cache).

#include <cstddef>

namespace spry::core {

struct prefault_counts {
  size_t mappings = 0; ///< mappings looked at (private, read-only, file-backed)
  size_t pages = 0;    ///< pages mapped in (resident in the page cache)
  int error = 0;       ///< errno of the first failure (0: none); what was mapped stays mapped
};

/// Maps every resident page of this process's private, read-only, file-backed mappings (its
/// executable's and libraries' code and read-only data) into its page tables now
/// (MADV_POPULATE_READ, Linux 5.14; older kernels: error EINVAL, nothing done). Allocates no
/// memory on the heap (safe in a forked child of a single-threaded process, which is where it
/// is meant to run). Blocks for about a millisecond per few thousand pages.
prefault_counts map_in_file_pages() noexcept;

} // namespace spry::core
