// Package cacheline asks the CPU to fetch memory into its caches ahead of
// use: a software prefetch, which — unlike a load — does not hold up the
// instructions after it while the line is on its way. The data plane
// prefetches, for a whole batch of packets, first the flow-index slots and
// then the session records, so that the cache misses of a large table
// overlap instead of following one another.
//
// On amd64 and arm64 Prefetch is one instruction (PREFETCHT0, PRFM
// PLDL1KEEP) in an assembly function; elsewhere it does nothing. A prefetch
// never faults, but the pointer must still point into live memory.
package cacheline

// Size is the cache line of the CPUs passgate runs on, in bytes: 64 on
// the boards' Cortex-A53 and Cortex-A72 and on x86-64.
const Size = 64
