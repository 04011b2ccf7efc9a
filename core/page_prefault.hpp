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
//
// Likewise the pages it shares with the template and would copy at its first write to them.

#include <cstddef>

namespace spry::core {

struct prefault_counts {
  size_t mappings = 0; ///< mappings looked at
  size_t pages = 0;    ///< pages mapped in, or copied
  int error = 0;       ///< errno of the first failure (0: none); what was mapped stays mapped
};

/// Maps every resident page of this process's private, read-only, file-backed mappings (its
/// executable's and libraries' code and read-only data) into its page tables now
/// (MADV_POPULATE_READ, Linux 5.14; older kernels: error EINVAL, nothing done). Allocates no
/// memory on the heap (safe in a forked child of a single-threaded process, which is where it
/// is meant to run). Blocks for about a millisecond per few thousand pages.
prefault_counts map_in_file_pages() noexcept;

/// Copies now every page of this process's private writable mappings (heap, stacks, the
/// libraries' data) that it still shares with the process it was forked from
/// (MADV_POPULATE_WRITE on the present pages /proc/self/pagemap shows as not exclusively
/// mapped). A forked child's first write to such a page is a copy-on-write fault; an instance
/// takes a few hundred of them as it starts (malloc's free lists, the thread stacks glibc kept
/// from the template's warm-up, the libraries' data). The memory is what those writes would
/// copy anyway, taken ahead: the pages the template holds. Same conditions as above.
prefault_counts copy_shared_pages() noexcept;

} // namespace spry::core
