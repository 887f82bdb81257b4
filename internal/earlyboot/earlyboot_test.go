package earlyboot

import (
	"errors"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/kmod"
)

// The preparation happens before start returns; the modules load behind
// it, and Modules waits for them.
func TestStartLoadsBehindTheCaller(t *testing.T) {
	release := make(chan struct{})
	prepared := false
	want := Modules{Results: []kmod.Result{{File: "kernel/drivers/net/virtio_net.ko"}}, Took: time.Second}
	r := start(func() error { prepared = true; return errors.New("mount /sys: busy") },
		func() Modules { <-release; return want })
	if !prepared {
		t.Fatal("start returned before the preparation ran")
	}
	if err := r.Prepared(); err == nil || err.Error() != "mount /sys: busy" {
		t.Fatalf("Prepared() = %v, want the preparation's error", err)
	}
	got := make(chan Modules)
	go func() { got <- r.Modules() }()
	select {
	case <-got:
		t.Fatal("Modules returned while the modules were still loading")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	m := <-got
	if len(m.Results) != 1 || m.Results[0].File != want.Results[0].File || m.Took != want.Took {
		t.Fatalf("Modules() = %+v, want %+v", m, want)
	}
	if m2 := r.Modules(); len(m2.Results) != 1 {
		t.Fatalf("a second Modules() = %+v, want the same outcome", m2)
	}
}

// A test binary is not the first process: its initialisation started
// nothing (no mounts, no modules), and Now loads nothing outside a
// firmware.
func TestNotTheFirstProcess(t *testing.T) {
	if Started() != nil {
		t.Fatal("the package's init started the first process's work in a test binary")
	}
	r := Now()
	if err := r.Prepared(); err != nil {
		t.Fatalf("Now() prepared with error %v; it should not prepare at all", err)
	}
	if m := r.Modules(); m.Err != nil || len(m.Results) != 0 {
		t.Fatalf("Now() outside a firmware loaded %+v; want nothing (no %s)", m, kmod.ListFile)
	}
}
