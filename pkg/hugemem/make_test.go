package hugemem

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

type rec struct {
	a, b uint32
	c    [3]uint64
}

type owner struct{ _ int }

func TestMakeLargeIsMappedAlignedZeroedAndFreed(t *testing.T) {
	before := Mapped()
	o := &owner{}
	const n = 3 << 20 / 32 // 3 MiB of 32-byte records
	s := Make[rec](o, n)
	if len(s) != n || cap(s) != n {
		t.Fatalf("len %d cap %d, want %d", len(s), cap(s), n)
	}
	if runtime.GOOS == "linux" {
		if got := Mapped() - before; got != n*int64(unsafe.Sizeof(rec{})) {
			t.Fatalf("Mapped grew by %d, want %d", got, n*32)
		}
		if a := uintptr(unsafe.Pointer(&s[0])); a%(2<<20) != 0 {
			t.Errorf("slice starts at %#x, not on a 2 MiB boundary", a)
		}
	}
	for i := range s {
		if s[i] != (rec{}) {
			t.Fatalf("record %d not zero: %+v", i, s[i])
		}
		s[i].a = uint32(i)
	}
	for i := range s {
		if s[i].a != uint32(i) {
			t.Fatalf("record %d reads %d", i, s[i].a)
		}
	}
	runtime.KeepAlive(o)
	o, s = nil, nil
	deadline := time.Now().Add(5 * time.Second)
	for Mapped() != before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if Mapped() != before {
		t.Fatalf("after the owner went, Mapped is %d, was %d", Mapped(), before)
	}
}

// The kernel gives the mapping huge pages when it has them: AnonHugePages
// in /proc/self/smaps_rollup grows once the memory is touched.
func TestMakeGetsHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("this kernel gives no transparent huge pages (%q, %v): nothing to check", mode, err)
	}
	o := &owner{}
	before := anonHuge(t)
	s := Make[uint64](o, 16<<20/8)
	for i := 0; i < len(s); i += 512 {
		s[i] = 1
	}
	if got := anonHuge(t) - before; got < 8<<10 {
		t.Errorf("16 MiB touched, AnonHugePages grew by %d KiB: huge pages not used", got)
	}
	runtime.KeepAlive(o)
}

func anonHuge(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "AnonHugePages:" {
			var kb int64
			for _, c := range f[1] {
				kb = kb*10 + int64(c-'0')
			}
			return kb
		}
	}
	t.Fatal("no AnonHugePages line in /proc/self/smaps_rollup")
	return 0
}

func TestMakeSmallAndPointerTypes(t *testing.T) {
	o := &owner{}
	before := Mapped()
	if s := Make[uint32](o, 1000); len(s) != 1000 || Mapped() != before {
		t.Errorf("small slice: len %d, Mapped %d → %d (want from the heap)", len(s), before, Mapped())
	}
	defer func() {
		if recover() == nil {
			t.Error("Make of a pointer type did not panic")
		}
	}()
	Make[*int](o, 1<<20)
}
