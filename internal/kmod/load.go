package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ListFile is the firmware's list of the modules routerd loads at boot,
// one name a line ('#' starts a comment), relative to the root. It is not
// under /lib/modules-load.d: u-root's init would load those, one at a time,
// before it starts routerd.
const ListFile = "etc/passgate-modules"

// ReadList reads a module list: one name a line, blank lines and lines
// starting with '#' skipped.
func ReadList(r io.Reader) ([]string, error) {
	var mods []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			mods = append(mods, l)
		}
	}
	return mods, sc.Err()
}

// Result is what loading one module file did.
type Result struct {
	File string        // path relative to the release's module directory
	Err  error         // nil: loaded, or already there
	Took time.Duration // the load call itself (not the wait for dependencies)
}

// LoadAll loads the module files the table needs for mods, each after its
// dependencies, and otherwise at the same time, with one exception: the
// drivers of mods load in mods' order, each after the one before it,
// because the order in which drivers find their devices names them (with
// a bus driver and a NIC driver loading at once, the second NIC could
// become eth0). File systems and code pages (kernel/fs/) name no device
// and load in parallel with the drivers, as do dependencies that are not
// in mods. load loads one file (a path relative to the release's module
// directory; LoadFile on a board). A file whose dependency failed is not
// tried; a driver whose predecessor failed still is. It returns one result
// per file, in Closure's order, and an error naming what is neither in
// modules.dep nor built in.
func (t *Table) LoadAll(mods []string, load func(file string) error) ([]Result, error) {
	files, _, err := t.Closure(mods)
	if err != nil {
		return nil, err
	}
	type state struct {
		done  chan struct{}
		after string // the driver listed before this one, "" for none
		res   Result
	}
	st := make(map[string]*state, len(files))
	for _, f := range files {
		st[f] = &state{done: make(chan struct{}), res: Result{File: f}}
	}
	// The order of the drivers. A module that an earlier one depends on
	// is loaded as that dependency and is not chained (no cycle).
	needed := map[string]bool{} // the closures of the modules listed so far
	prev := ""
	for _, m := range mods {
		p, ok := t.path[Name(m)]
		if !ok {
			continue // built in
		}
		if !needed[p] && !strings.HasPrefix(p, "kernel/fs/") {
			st[p].after = prev
			prev = p
		}
		sub, _, _ := t.Closure([]string{p})
		for _, f := range sub {
			needed[f] = true
		}
	}
	var wg sync.WaitGroup
	for _, f := range files {
		s := st[f]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(s.done)
			if s.after != "" {
				<-st[s.after].done
			}
			for _, d := range t.deps[f] {
				ds, ok := st[d]
				if !ok {
					continue // Closure holds every dependency
				}
				<-ds.done
				if ds.res.Err != nil {
					s.res.Err = fmt.Errorf("not loaded: its dependency %s failed", Name(d))
					return
				}
			}
			start := time.Now()
			s.res.Err = load(f)
			s.res.Took = time.Since(start)
		}()
	}
	wg.Wait()
	out := make([]Result, len(files))
	for i, f := range files {
		out[i] = st[f].res
	}
	return out, nil
}

// Boot loads the modules in root's ListFile for the running kernel
// release (a board's firmware), in parallel as LoadAll does. It returns
// the results and how long it took; no list file is no modules, not an
// error.
func Boot(root, release string, init func(path string) error) ([]Result, time.Duration, error) {
	start := time.Now()
	f, err := os.Open(filepath.Join(root, ListFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("kernel modules: %w", err)
	}
	mods, err := ReadList(f)
	f.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("kernel modules: %s: %w", ListFile, err)
	}
	if len(mods) == 0 {
		return nil, 0, nil
	}
	dir := Dir(root, release)
	dep, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, 0, fmt.Errorf("kernel modules: %w", err)
	}
	t, err := Parse(dep, nil)
	dep.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("kernel modules: %s: %w", dir, err)
	}
	res, err := t.LoadAll(mods, func(file string) error { return init(filepath.Join(dir, file)) })
	if err != nil {
		return nil, 0, fmt.Errorf("kernel modules: %w", err)
	}
	return res, time.Since(start), nil
}
