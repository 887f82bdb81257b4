package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/kmod"
)

// loadOffloadModules loads the kernel modules flow offload needs (the
// clsact qdisc and the bpf classifier, board.OnDemandModules), each after
// its dependencies (the firmware's modules.dep). A module already loaded
// or built in (/sys/module/NAME) is left alone; outside the firmware
// (no modules.dep for the running kernel) there is nothing to do and it
// returns nil. It says what it loaded through logf.
func loadOffloadModules(logf func(string, ...any)) error {
	var want []string
	for _, m := range board.OnDemandModules {
		if _, err := os.Stat(filepath.Join("/sys/module", m)); err != nil {
			want = append(want, m)
		}
	}
	if len(want) == 0 {
		return nil
	}
	rel, err := kmod.Release()
	if err != nil {
		return fmt.Errorf("flow offload modules: %w", err)
	}
	dir := kmod.Dir("/", rel)
	dep, err := os.Open(filepath.Join(dir, "modules.dep"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flow offload modules: %w", err)
	}
	t, err := kmod.Parse(dep, nil)
	dep.Close()
	if err != nil {
		return fmt.Errorf("flow offload modules: %s: %w", dir, err)
	}
	res, err := t.LoadAll(want, func(file string) error { return kmod.LoadFile(filepath.Join(dir, file)) })
	if err != nil {
		return fmt.Errorf("flow offload modules: %w", err)
	}
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("kernel module %s: %w", kmod.Name(r.File), r.Err))
			continue
		}
		logf("kernel module %s loaded for flow offload", kmod.Name(r.File))
	}
	return errors.Join(errs...)
}
