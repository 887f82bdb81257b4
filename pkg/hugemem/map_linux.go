//go:build linux

package hugemem

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the transparent huge page size of the kernels passgate runs
// on (x86-64, and arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// mapHuge maps at least size bytes of anonymous memory and returns mem,
// size bytes starting on a huge page boundary and advised for huge pages,
// and raw, the whole mapping, for unmap. The advice failing (a kernel
// without transparent huge pages) leaves ordinary pages, which work the
// same, only slower.
func mapHuge(size int) (mem, raw []byte, err error) {
	whole := (size+hugePage-1)&^(hugePage-1) + hugePage
	// One huge page more than needed, never touched beyond the aligned
	// part: only aligned 2 MiB ranges can become huge pages.
	raw, err = unix.Mmap(-1, 0, whole, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, nil, fmt.Errorf("hugemem: mmap %d bytes: %w", whole, err)
	}
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (hugePage - 1)); r != 0 {
		off = hugePage - r
	}
	mem = raw[off : off+size : off+size]
	aligned := raw[off : off+(size+hugePage-1)&^(hugePage-1)]
	_ = unix.Madvise(aligned, unix.MADV_HUGEPAGE)
	return mem, raw, nil
}

func unmap(raw []byte) { unix.Munmap(raw) }
