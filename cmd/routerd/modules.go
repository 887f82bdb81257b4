package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/passgate/passgate/internal/earlyboot"
	"github.com/passgate/passgate/internal/kmod"
)

// logModules logs what loading the firmware's kernel modules did
// (kmod.ListFile; internal/earlyboot loads them, each after its
// dependencies and the others in parallel, once, before the first worker
// starts): the worker needs the ports' drivers, the boot partition's block
// device and file system, and TUN for self0. Outside the firmware there is
// no list and nothing to log. A module that fails is logged; the worker
// then says what it lacks (a port that never appears, the factory
// configuration in RAM).
func logModules(m earlyboot.Modules, logf func(string, ...any)) {
	if m.Err != nil {
		logf("%v", m.Err)
		return
	}
	res := m.Results
	if len(res) == 0 {
		return
	}
	var each []string // load times: where module loading spends the boot
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
			logf("kernel module %s: %v", kmod.Name(r.File), r.Err)
			continue
		}
		each = append(each, fmt.Sprintf("%s %v", kmod.Name(r.File), r.Took.Round(time.Millisecond)))
	}
	logf("%d kernel modules loaded in %v (%s)%s", len(res)-failed, m.Took.Round(time.Millisecond), strings.Join(each, ", "), failedNote(failed))
}

func failedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d failed", n)
}
