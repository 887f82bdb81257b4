package bootslot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/passgate/passgate/pkg/atomicfile"
	"github.com/passgate/passgate/pkg/updatefile"
)

// tmpSuffix marks a slot file still being written.
const tmpSuffix = ".part"

// Install writes the update file read from r into the slot that is not
// running, a directory of bootDir (the boot partition), and records the
// slot ready with the update's version. The update is read whole into
// stageDir first (RAM on a router: the initramfs) and checked there —
// signature and board before any file, each file's SHA-256
// (updatefile.Read) — so a file that is unsigned, signed with another key,
// for another board, damaged or cut short changes nothing on the card.
// Only then is the slot marked "writing", its old files removed and the
// new ones written aside (name.part), fsynced and renamed into place, and
// the slot recorded ready. The running slot and everything else on the
// partition are never written; a power cut while the slot is written
// leaves it "writing" — never armed, never booted — and the next Install
// starts it over.
//
// carry names files of the running slot the update does not hold that
// the new slot needs (the Pi's cmdline.txt); each is copied with
// "passgate.slot=X" made the new slot's. logf, if set, is told when the
// checked update starts being written to the card.
func (m *Machine) Install(bootDir, stageDir string, r io.Reader, o updatefile.Options, logf func(string, ...any), carry ...string) (*updatefile.Manifest, Slot, error) {
	if m.running != m.st.Committed {
		return nil, None, fmt.Errorf("%w: the router runs slot %v on trial; commit it or roll back first", ErrBusy, m.running)
	}
	stage, err := os.MkdirTemp(stageDir, "passgate-update-")
	if err != nil {
		return nil, None, fmt.Errorf("bootslot: %w", err)
	}
	defer os.RemoveAll(stage)
	var names []string
	man, err := updatefile.Read(r, o, func(f updatefile.File, fr io.Reader) error {
		names = append(names, f.Name)
		return writeSynced(filepath.Join(stage, f.Name), fr, false)
	})
	if err != nil {
		return nil, None, err
	}
	target, err := m.BeginInstall()
	if err != nil {
		return nil, None, err
	}
	if logf != nil {
		logf("update %s checked: writing it to slot %v", man.Version, target)
	}
	dir := filepath.Join(bootDir, target.Dir())
	// The slot's old files go first: a slot is never a mix of versions.
	if err := os.RemoveAll(dir); err != nil {
		return nil, target, fmt.Errorf("bootslot: clearing slot %v: %w", target, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, target, fmt.Errorf("bootslot: %w", err)
	}
	for _, name := range names {
		f, err := os.Open(filepath.Join(stage, name))
		if err != nil {
			return nil, target, fmt.Errorf("bootslot: %w", err)
		}
		err = writeSynced(filepath.Join(dir, name+tmpSuffix), f, true)
		f.Close()
		if err != nil {
			return nil, target, fmt.Errorf("bootslot: writing %s into slot %v: %w", name, target, err)
		}
	}
	for _, name := range carry {
		if slices.Contains(names, name) {
			continue
		}
		b, err := atomicfile.ReadMax(filepath.Join(bootDir, m.running.Dir(), name), maxBootFile)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, target, fmt.Errorf("bootslot: %w", err)
		}
		text := strings.ReplaceAll(string(b), "passgate.slot="+m.running.String(), "passgate.slot="+target.String())
		if err := atomicfile.Write(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, target, fmt.Errorf("bootslot: %w", err)
		}
	}
	for _, name := range names {
		if err := os.Rename(filepath.Join(dir, name+tmpSuffix), filepath.Join(dir, name)); err != nil {
			return nil, target, fmt.Errorf("bootslot: %w", err)
		}
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, target, fmt.Errorf("bootslot: %w", err)
	}
	if err := m.FinishInstall(target, man.Version); err != nil {
		return nil, target, err
	}
	return man, target, nil
}

// writeSynced writes r to path, and fsyncs it when sync is set.
func writeSynced(path string, r io.Reader, sync bool) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(f, r, make([]byte, 1<<20)); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
