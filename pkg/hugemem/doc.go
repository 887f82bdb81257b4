// Package hugemem allocates large arrays of plain values outside the Go
// heap, on memory the kernel is asked to back with transparent huge pages.
//
// The NAT's flow table is probed at random: with 4 KiB pages every lookup
// in a table of a few megabytes also misses the TLB, and the page walk
// costs as much as the cache miss it precedes. With 2 MiB pages the whole
// table is covered by a few TLB entries. Go's heap does not ask for huge
// pages, so the table's big arrays come from here.
//
// The memory is anonymous, zeroed, and committed page by page as it is
// first touched, like a fresh Go allocation. It belongs to an owner: it is
// unmapped when the owner becomes unreachable, so a slice from Make must
// not be kept beyond its owner. The element type must hold no Go pointers
// (the garbage collector does not see this memory); Make refuses types
// that do.
package hugemem
