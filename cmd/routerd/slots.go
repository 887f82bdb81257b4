package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/pkg/bootslot"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/updatefetch"
	"github.com/passgate/passgate/pkg/updatefile"
)

// Firmware updates (issue #17): routerd runs from a boot slot when the
// boot loader says so on the kernel command line; its bootslot.Machine
// keeps the slots' state on the boot partition.

const (
	// slotStateFile is the slots' state on the boot partition.
	slotStateFile = "passgate-slots.json"
	// committedMarker says (in RAM, for the supervisor) that this boot
	// needs no trial watch: its slot is committed, or its trial was
	// rolled back by hand.
	committedMarker = "/run/passgate/slot-committed"
	// trialReadyFile says (in RAM, for the supervisor) that the router on
	// trial is ready, and how long it then waits to commit.
	trialReadyFile = "/run/passgate/trial-ready"
	// piTrybootFlag is where the Pi firmware says this is its tryboot.
	piTrybootFlag = "/proc/device-tree/chosen/bootloader/tryboot"
)

// slotService is the router's boot slots; nil when it did not boot from
// one.
type slotService struct {
	mu      sync.Mutex // one install, commit or rollback at a time
	m       *bootslot.Machine
	bootDir string
	loader  bootslot.Loader
	board   string
	why     string // why there are no slots, when m is nil
}

// readBoot says which slot booted and whether on trial.
func readBoot(b *board.Board) (bootslot.Boot, bool) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return bootslot.Boot{}, false
	}
	boot, ok := bootslot.FromCmdline(string(cmdline))
	if ok && b != nil && b.Boot == board.BootRaspberryPi {
		// The Pi's command line is the slot's cmdline.txt whether tried
		// or not: the firmware says which in the device tree.
		boot.Trial = piTryboot()
	}
	boot.Version = version
	return boot, ok
}

// piTryboot reports whether the Raspberry Pi firmware started this boot
// as its tryboot (a big-endian 1 in the device tree).
func piTryboot() bool {
	f, err := os.ReadFile(piTrybootFlag)
	return err == nil && len(f) == 4 && f[3] == 1
}

// openSlots opens the boot slots' state, when routerd booted from a slot
// and the boot partition holds the configuration.
func (r *router) openSlots() {
	s := &slotService{board: r.board}
	r.slots = s
	b, _ := board.Get(r.board)
	boot, ok := readBoot(b)
	switch {
	case !ok:
		s.why = "the kernel was not started from a boot slot (no passgate.slot= on its command line)"
		return
	case r.store == nil || r.runFile:
		s.why = "the boot partition is not in use: " + r.configNote
		return
	}
	s.bootDir = filepath.Dir(r.store.File())
	if b != nil && b.Boot == board.BootRaspberryPi {
		s.loader = &bootslot.PiTryboot{Dir: s.bootDir}
	} else {
		s.loader = bootslot.UBootFiles{Dir: s.bootDir}
	}
	m, notes, err := bootslot.Open(bootslot.FileStore{Path: filepath.Join(s.bootDir, slotStateFile)}, s.loader, boot, nil)
	for _, n := range notes {
		r.logf("firmware: %s", n)
	}
	if err != nil {
		s.why = fmt.Sprintf("the slot state cannot be saved: %v", err)
		r.logf("firmware: %s", s.why)
		return
	}
	s.m = m
	st := m.Status()
	r.logf("firmware: running version %s from slot %v%s", version, st.Running, map[bool]string{true: ", on trial", false: ""}[st.OnTrial])
	if !st.OnTrial {
		markCommitted()
	}
}

// markCommitted tells the supervisor this boot needs no trial watch.
func markCommitted() {
	os.MkdirAll(filepath.Dir(committedMarker), 0o755)
	os.WriteFile(committedMarker, nil, 0o644)
}

// watchTrial commits the slot on trial once the router has been ready
// for the configured time; it returns at once when not on trial.
func (r *router) watchTrial(ctx context.Context) {
	s := r.slots
	if s == nil || s.m == nil {
		return
	}
	s.mu.Lock()
	onTrial := s.m.Status().OnTrial
	s.mu.Unlock()
	if !onTrial {
		return
	}
	r.mu.Lock()
	d := r.cfg.System.Update.CommitAfter
	r.mu.Unlock()
	r.logf("firmware: version %s is on trial; it is kept if the router stays ready for %v", version, d)
	os.MkdirAll(filepath.Dir(trialReadyFile), 0o755)
	if err := os.WriteFile(trialReadyFile, []byte(d.String()), 0o644); err != nil {
		r.logf("firmware: telling the supervisor the trial is ready: %v", err)
	}
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		err := s.m.Commit()
		s.mu.Unlock()
		if err != nil {
			r.logf("firmware: keeping version %s failed: %v", version, err)
			return
		}
		markCommitted()
		r.logf("firmware: version %s was ready for %v on its trial boot: it is now the committed version", version, d)
		fmt.Printf("passgate: firmware %s committed\n", version)
	}()
}

// slotLines are show system's lines about the slots.
func (s *slotService) slotLines() []string {
	if s == nil {
		return nil
	}
	if s.m == nil {
		return []string{"none: " + s.why}
	}
	s.mu.Lock()
	st := s.m.Status()
	s.mu.Unlock()
	var out []string
	for _, sl := range []bootslot.Slot{bootslot.A, bootslot.B} {
		si := st.Of(sl)
		var what []string
		switch si.Contents {
		case bootslot.Ready:
			what = append(what, "version "+si.Version)
		case bootslot.Writing:
			what = append(what, "an update was being written and did not finish (never booted)")
		default:
			what = append(what, "empty")
		}
		if sl == st.Running {
			what = append(what, "running")
		}
		if sl == st.Committed {
			what = append(what, "committed")
		}
		if sl == st.Trial {
			if st.OnTrial {
				what = append(what, "on trial now")
			} else {
				what = append(what, "tried once at the next reboot")
			}
		}
		out = append(out, fmt.Sprintf("%v: %s", sl, strings.Join(what, ", ")))
	}
	if l := st.Last; l != nil {
		out = append(out, fmt.Sprintf("last: version %s on slot %v %s at %s: %s", l.Version, l.Slot, l.Result, l.At.Local().Format("2006-01-02 15:04:05"), l.Why))
	}
	return out
}

// rebootArg is what reboot(2) must carry: "0 tryboot" for a Pi's trial.
func (s *slotService) rebootArg() string {
	if s == nil {
		return ""
	}
	if p, ok := s.loader.(*bootslot.PiTryboot); ok {
		return p.RebootArg()
	}
	return ""
}

var _ shell.UpdateRouter = shellRouter{}

func (s shellRouter) slotMachine() (*slotService, error) {
	sl := s.r.slots
	if sl == nil || sl.m == nil {
		why := "routerd was started without them"
		if sl != nil {
			why = sl.why
		}
		return nil, errors.New("this router has no boot slots to update: " + why)
	}
	return sl, nil
}

// InstallUpdate installs an update file into the slot that is not running
// and arms its trial boot.
func (s shellRouter) InstallUpdate(ctx context.Context, in io.Reader, w io.Writer) error {
	sl, err := s.slotMachine()
	if err != nil {
		return err
	}
	keys, err := readUpdateKeys(updatefile.KeysFile)
	if err != nil {
		return fmt.Errorf("this router accepts no update: %v", err)
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	fmt.Fprintf(w, "Reading the update (checked whole before anything is written)...\n")
	man, slot, err := sl.m.Install(sl.bootDir, os.TempDir(), io.LimitReader(in, maxUpdateFile),
		updatefile.Options{Keys: keys, Board: sl.board}, func(f string, a ...any) { s.r.logf("firmware: "+f, a...) }, "cmdline.txt")
	if err != nil {
		s.r.logf("firmware: update refused or not written: %v", err)
		return fmt.Errorf("the update was not installed: %v", err)
	}
	if err := sl.m.ArmTrial(); err != nil {
		return fmt.Errorf("version %s is written to slot %v, but its trial boot could not be armed: %v", man.Version, slot, err)
	}
	s.r.logf("firmware: version %s installed in slot %v; its trial boot is armed", man.Version, slot)
	fmt.Fprintf(w, "Version %s is written to slot %v (%d files), and its trial boot is armed.\n", man.Version, slot, len(man.Files))
	fmt.Fprintf(w, "Reboot to try it: it runs once, and is kept if the router is ready for %v; otherwise the router goes back to version %s by itself.\n",
		s.Config().System.Update.CommitAfter, version)
	return nil
}

// maxUpdateFile bounds what is read of an update file.
const maxUpdateFile = updatefile.MaxTotal + updatefile.MaxManifest + (1 << 20)

// FetchUpdate starts downloading an update file from the router itself
// (its traffic goes out through the router's own NAT, like a LAN host's).
func (s shellRouter) FetchUpdate(ctx context.Context, url string) (io.ReadCloser, error) {
	if _, err := s.slotMachine(); err != nil {
		return nil, err
	}
	return updatefetch.Get(ctx, nil, url, maxUpdateFile)
}

// RollbackSlot goes back to the other slot at the next reboot.
func (s shellRouter) RollbackSlot(ctx context.Context, w io.Writer) error {
	sl, err := s.slotMachine()
	if err != nil {
		return err
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	before := sl.m.Status()
	if err := sl.m.Rollback(); err != nil {
		return err
	}
	after := sl.m.Status()
	if before.OnTrial {
		// The trial is over: the supervisor must not give it up.
		markCommitted()
	}
	s.r.logf("firmware: rolled back from slot %v to slot %v", before.Running, after.Committed)
	fmt.Fprintf(w, "Slot %v (version %s) is committed again; reboot to run it.\n", after.Committed, after.Of(after.Committed).Version)
	return nil
}

// readUpdateKeys reads the update signing keys built into the image.
func readUpdateKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("this image was built without an update signing key")
	}
	if err != nil {
		return nil, err
	}
	keys, err := updatefile.ParsePublicKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return keys, nil
}

// rebootTo restarts the machine, with reboot(2)'s RESTART2 argument when
// there is one (the Pi's "0 tryboot").
func rebootTo(arg string) error {
	syscall.Sync()
	if arg == "" {
		return syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
	}
	b, err := syscall.BytePtrFromString(arg)
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall6(syscall.SYS_REBOOT, syscall.LINUX_REBOOT_MAGIC1, syscall.LINUX_REBOOT_MAGIC2,
		syscall.LINUX_REBOOT_CMD_RESTART2, uintptr(unsafe.Pointer(b)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
