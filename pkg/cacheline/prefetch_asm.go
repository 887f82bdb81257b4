//go:build amd64 || arm64

package cacheline

import "unsafe"

// Prefetch asks for the cache line holding p to be brought into the
// first-level data cache.
//
//go:noescape
func Prefetch(p unsafe.Pointer)
