package main

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/passgate/passgate/internal/bootconfig"
	"github.com/passgate/passgate/pkg/config"
)

// Where the configuration comes from and where commits go. On a board,
// bootconfig chooses: the boot partition's passgate.conf, or a fallback
// copy in RAM when the partition holds no usable one. Commits always go to
// the partition's passgate.conf, never to RAM: the first commit after a
// fallback repairs the card, and when there is no writable partition a
// commit is refused with the reason instead of being lost at the next
// restart.

// useBootChoice takes bootconfig's choice.
func (r *router) useBootChoice(ch bootconfig.Choice) {
	r.cfgPath = ch.Config
	if r.stateDir == "" {
		r.stateDir = ch.StateDir
	}
	if ch.Store != "" {
		r.store = config.NewStore(ch.Store)
		r.runFile = r.cfgPath != r.store.File()
	}
	r.noSave = ch.NoSave
	r.configNote = ch.Note
	if ch.NoSave != "" {
		r.configNote = joinNotes(ch.Note, ch.NoSave)
	}
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (r *router) setConfigNote(n string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.configNote = joinNotes(n, r.noSave)
}

// saveProblem says why a commit cannot be saved; nil when it can.
func (r *router) saveProblem() error {
	switch {
	case r.noSave != "":
		return errors.New(r.noSave)
	case r.store == nil:
		return fmt.Errorf("the configuration %s cannot be saved: commits need a file named passgate.conf", r.cfgPath)
	}
	return nil
}

// committed records a successful save: the store's passgate.conf is now
// the configuration, as saved, and a fallback or hand edit is over.
func (r *router) committed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runFile {
		r.cfgPath, r.runFile = r.store.File(), false
		r.logf("the configuration is now saved in %s (it ran from RAM until this commit)", r.cfgPath)
	}
	r.configNote = ""
}

// saveError makes a failed save plain: a read-only partition (the card is
// write-protected, or the kernel made the file system read-only after an
// error) is said as such.
func saveError(err error) error {
	if errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("the boot partition is read-only (a write-protected SD card, or the file system was made read-only after an error), so passgate.conf cannot be written: %w", err)
	}
	return err
}
