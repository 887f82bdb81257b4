// Package earlyboot starts routerd's work as the kernel's first process
// from its package initialisation: internal/pid1's preparation (the
// console's log level, mounts, RCU grace periods expedited, loopback),
// then the firmware's kernel modules
// (internal/kmod), which go on loading while the rest of routerd's
// packages initialise.
//
// Why from an init function: under QEMU's emulation (qemu-arm64, TCG) the
// initialisation of routerd's packages takes about 0.3 s of one CPU
// before main runs, and loading the modules about 0.25 s, mostly in the
// kernel. Started from main, the two ran one after the other; started
// here, they share the two CPUs. Go runs a package's init after the
// packages it imports, and this package imports little (pid1, kmod), so
// it runs early; the goroutine it starts runs beside the later packages'
// init functions.
//
// It does this only in the first process (PID 1): nowhere else does
// routerd mount or load modules. routerd's main imports it; nothing else
// should.
package earlyboot

import (
	"fmt"
	"time"

	"github.com/passgate/passgate/internal/kmod"
	"github.com/passgate/passgate/internal/pid1"
)

// Modules is what loading the firmware's kernel modules did.
type Modules struct {
	Results []kmod.Result // one per module file; none outside a firmware
	Took    time.Duration
	Err     error // the list or the kernel's module table could not be read
}

// Run is the work one start began.
type Run struct {
	prepared error
	done     chan struct{}
	modules  Modules
}

// start prepares the first process, synchronously and first (it is quick,
// and it sets the console's log level that keeps the modules'
// informational lines off the console), and starts loading the modules.
func start(prepare func() error, load func() Modules) *Run {
	r := &Run{prepared: prepare(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.modules = load()
	}()
	return r
}

// Prepared is the preparation's error, nil if all of it worked.
func (r *Run) Prepared() error { return r.prepared }

// Modules waits for the modules to be loaded and returns what that did.
func (r *Run) Modules() Modules {
	<-r.done
	return r.modules
}

// loadModules loads the modules kmod.ListFile names for the running
// kernel.
func loadModules() Modules {
	rel, err := kmod.Release()
	if err != nil {
		return Modules{Err: fmt.Errorf("kernel modules: %w", err)}
	}
	res, took, err := kmod.Boot("/", rel, kmod.LoadFile)
	return Modules{Results: res, Took: took, Err: err}
}

var started *Run

func init() {
	if pid1.Is() {
		started = start(pid1.Prepare, loadModules)
	}
}

// Started returns the work this process's initialisation started, or nil
// when it is not the first process and started nothing.
func Started() *Run { return started }

// Now does the same work synchronously, for a process that is not the
// first one (routerd under another init): no preparation, and the
// modules loaded now (outside a firmware there is no list, and nothing to
// load).
func Now() *Run {
	return start(func() error { return nil }, loadModules)
}
