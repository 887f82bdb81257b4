package bootslot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// The files on the boot partition through which the OS and the boot
// loader agree on the slot. The image package writes the first ones; the
// loaders below rewrite them.
const (
	// u-boot (image.UBootScript reads them; u-boot environment text).
	UBootDefaultFile = "passgate-default.txt" // passgate_slot=a|b; missing: a
	UBootTryFile     = "passgate-tryboot.txt" // passgate_try=a|b; deleted by the script before the trial kernel
	UBootTriedFile   = "passgate-tried.txt"   // written by the script as it takes the trial: the sign it was tried
	// Raspberry Pi firmware: config.txt names the default slot with
	// os_prefix; tryboot.txt is read instead once after reboot "0 tryboot".
	PiConfigFile  = "config.txt"
	PiTrybootFile = "tryboot.txt"
)

// maxBootFile bounds what a loader reads of a boot file.
const maxBootFile = 64 << 10

// FromCmdline reads what the boot loader told the kernel: passgate.slot=a
// or b and passgate.trial=0 or 1 (image: boot.scr; Pi: the slot's
// cmdline.txt names its slot). ok is false when the kernel was started
// without a slot (QEMU loading the kernel itself): such a router has no
// slots to update.
func FromCmdline(cmdline string) (b Boot, ok bool) {
	for _, w := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(w, "=")
		switch k {
		case "passgate.slot":
			s, err := ParseSlot(v)
			if err != nil {
				return Boot{}, false
			}
			b.Slot, ok = s, true
		case "passgate.trial":
			b.Trial = v == "1"
		}
	}
	return b, ok
}

// UBootFiles is the Loader of a u-boot board (and qemu-arm64): files on
// the boot partition that its boot script reads, each written atomically.
type UBootFiles struct {
	Dir string // the mounted boot partition
}

// SetDefault writes passgate-default.txt.
func (u UBootFiles) SetDefault(s Slot) error {
	return atomicfile.Write(filepath.Join(u.Dir, UBootDefaultFile), []byte("passgate_slot="+s.String()+"\n"), 0o644)
}

// ArmTrial writes passgate-tryboot.txt, which the boot script deletes as
// it starts the trial (leaving passgate-tried.txt): the arm survives a
// power cut until that boot.
func (u UBootFiles) ArmTrial(s Slot) error {
	if err := atomicfile.Remove(filepath.Join(u.Dir, UBootTriedFile)); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(u.Dir, UBootTryFile), []byte("passgate_try="+s.String()+"\n"), 0o644)
}

// TrialConsumed reports whether the boot script took the armed trial
// (it left passgate-tried.txt).
func (u UBootFiles) TrialConsumed() bool {
	_, err := os.Stat(filepath.Join(u.Dir, UBootTriedFile))
	return err == nil
}

// DisarmTrial removes passgate-tryboot.txt, and passgate-tried.txt with
// it: the trial's outcome is recorded.
func (u UBootFiles) DisarmTrial() error {
	for _, name := range []string{UBootTryFile, UBootTriedFile} {
		if err := atomicfile.Remove(filepath.Join(u.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// PiTryboot is the Loader of a Raspberry Pi: config.txt's os_prefix is
// the default slot; the trial is tryboot.txt's os_prefix, started once by
// rebooting with the argument "0 tryboot" (Reboot's arg). The firmware
// keeps that flag in memory only: a power cut before the reboot loses
// the arm, which bootslot.Open handles as a trial that never started.
type PiTryboot struct {
	Dir string // the mounted boot partition

	mu    sync.Mutex
	armed bool
}

// SetDefault points config.txt at slot s.
func (p *PiTryboot) SetDefault(s Slot) error {
	return p.point(PiConfigFile, s)
}

// ArmTrial points tryboot.txt at slot s; the next reboot asks the
// firmware for it (RebootArg).
func (p *PiTryboot) ArmTrial(s Slot) error {
	if err := p.point(PiTrybootFile, s); err != nil {
		return err
	}
	p.mu.Lock()
	p.armed = true
	p.mu.Unlock()
	return nil
}

// DisarmTrial makes the next reboot an ordinary one.
func (p *PiTryboot) DisarmTrial() error {
	p.mu.Lock()
	p.armed = false
	p.mu.Unlock()
	return nil
}

// RebootArg is the argument of the next reboot(2) (LINUX_REBOOT_CMD_RESTART2):
// "0 tryboot" when a trial is armed, "" otherwise.
func (p *PiTryboot) RebootArg() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed {
		return "0 tryboot"
	}
	return ""
}

// point rewrites the os_prefix line of name (config.txt or tryboot.txt)
// to slot s, keeping every other line, atomically. A file without the line
// gets it first.
func (p *PiTryboot) point(name string, s Slot) error {
	path := filepath.Join(p.Dir, name)
	var text string
	switch b, err := atomicfile.ReadMax(path, maxBootFile); {
	case err == nil:
		text = string(b)
	case name == PiTrybootFile && errors.Is(err, fs.ErrNotExist):
		// No tryboot.txt yet: config.txt for the other slot.
		b, err := atomicfile.ReadMax(filepath.Join(p.Dir, PiConfigFile), maxBootFile)
		if err != nil {
			return fmt.Errorf("bootslot: %w", err)
		}
		text = string(b)
	default:
		return fmt.Errorf("bootslot: %w", err)
	}
	line := "os_prefix=" + s.Dir() + "/"
	lines := strings.Split(text, "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "os_prefix=") {
			lines[i], found = line, true
		}
	}
	out := strings.Join(lines, "\n")
	if !found {
		out = line + "\n" + out
	}
	return atomicfile.Write(path, []byte(out), 0o644)
}
