// Package bootconfig chooses the configuration routerd runs on a board.
//
// On a board, routerd is u-root init's uinit and is started without
// arguments. It then mounts the board's FAT boot partition on /boot
// (internal/bootpart) and runs passgate.conf from it, keeping the DHCP
// leases beside it. A router must not stay dead because of a missing or
// damaged SD-card partition, so when the partition cannot be mounted, or
// holds no usable configuration, routerd runs the last good backup from
// the partition or else the factory configuration for the board from a
// copy in RAM, and says why on the console. Prepare never writes to the
// partition; commits save to the partition's passgate.conf even then, so
// the first commit repairs the card (Choice.Store). When the partition is
// not mounted or is read-only, Choice.NoSave says why commits cannot be
// saved, and routerd refuses them rather than keep them in RAM.
//
// routerd learns its board from /etc/passgate-board, a file the firmware
// build writes into the initramfs (firmware.BoardFile). Outside the
// firmware that file does not exist, and routerd needs --config: it never
// mounts anything on a development machine.
package bootconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/bootpart"
	"github.com/passgate/passgate/pkg/config"
)

// Where things are on a board.
const (
	// BoardFile names the board routerd runs on; written by the firmware build.
	BoardFile = "/etc/passgate-board"
	// bootMount is where the boot partition is mounted.
	bootMount = "/boot"
	// fallbackDir holds the configuration (and leases) in RAM when the boot
	// partition is unusable.
	fallbackDir = "/run/passgate"
)

// BoardName returns the name of the board routerd runs on, from the file
// the firmware build puts into the initramfs; "" outside passgate firmware.
func BoardName() string {
	b, err := os.ReadFile(BoardFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Choice is the configuration Prepare chose for the board.
type Choice struct {
	// Config is the configuration file to run: /boot/passgate.conf, or a
	// copy in RAM when the partition holds no usable one.
	Config string
	// StateDir keeps the router's state (DHCP leases, SSH host key): the
	// partition when it is mounted, else RAM.
	StateDir string
	// Store is the directory whose passgate.conf commits write: the
	// mounted partition, also when Config is a copy in RAM, so that the
	// first commit repairs the card. "" when the partition is not mounted.
	Store string
	// NoSave says why commits cannot be saved (no partition, or a
	// read-only one); "" when they can.
	NoSave string
	// Note says where the running configuration comes from when it is
	// not the partition's passgate.conf ("show system"); "" otherwise.
	Note string
}

// Prepare mounts the boot partition of board boardName on /boot and
// chooses the configuration to run: /boot/passgate.conf, with the state
// in /boot, when all is well. When the partition cannot be found or
// mounted, or its configuration is missing or unusable, it logs why and
// runs a configuration in RAM (the backup or revision config.Store.Load
// falls back to, else the factory configuration on the board's ports);
// nothing on the partition is changed, but commits go to the partition
// (Choice.Store). err is set only when no configuration can be provided at
// all: not running from passgate firmware (boardName "") or RAM not
// writable.
func Prepare(boardName string, logf func(string, ...any)) (Choice, error) {
	if boardName == "" {
		return Choice{}, fmt.Errorf("no --config given and %s does not exist (not passgate firmware): run routerd --config FILE", BoardFile)
	}
	c := &chooser{
		mountPoint: bootMount,
		runDir:     fallbackDir,
		mount: func(dir, device, label string) error {
			return bootpart.Mount(dir, device, label, logf)
		},
		readOnly: readOnly,
		logf:     logf,
	}
	return c.prepare(boardName)
}

// MountBoot makes sure the boot partition of board boardName is mounted
// where Prepare mounts it, and returns that directory: routerd's
// supervisor records there why a trial boot failed when its worker never
// got as far as Prepare.
func MountBoot(boardName string, logf func(string, ...any)) (string, error) {
	device := ""
	if b, err := board.Get(boardName); err == nil {
		device = b.BootPartition
	}
	return bootMount, bootpart.Mount(bootMount, device, board.BootLabel, logf)
}

// readOnly reports whether the file system holding dir is mounted
// read-only (a write-protected card).
func readOnly(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Flags&unix.ST_RDONLY != 0
}

// chooser is what Prepare touches, replaceable in tests.
type chooser struct {
	mountPoint string                                // /boot
	runDir     string                                // /run/passgate
	mount      func(dir, device, label string) error // bootpart.Mount
	readOnly   func(dir string) bool
	logf       func(string, ...any)
}

func (e *chooser) prepare(boardName string) (Choice, error) {
	b, berr := board.Get(boardName)
	if berr != nil {
		e.logf("boot: %v; looking for the partition labelled %s only", berr, board.BootLabel)
		b = nil
	}
	device := ""
	if b != nil {
		device = b.BootPartition
	}
	if err := e.mount(e.mountPoint, device, board.BootLabel); err != nil {
		e.logf("boot partition not mounted: %v", err)
		ch, ferr := e.fallback(b, nil, "", "the boot partition is not available")
		ch.NoSave = fmt.Sprintf("the configuration cannot be saved: the boot partition is not mounted (%v); insert or fix the SD card and restart the router to commit", err)
		return ch, ferr
	}
	ch := Choice{Config: filepath.Join(e.mountPoint, board.ConfigFile), StateDir: e.mountPoint, Store: e.mountPoint}
	if e.readOnly != nil && e.readOnly(e.mountPoint) {
		ch.NoSave = "the configuration cannot be saved: the boot partition is read-only (a write-protected SD card); unlock the card and restart the router to commit"
	}
	l, lerr := config.NewStore(e.mountPoint).LoadInfo()
	switch {
	case errors.Is(lerr, fs.ErrNotExist):
		e.logf("the boot partition has no %s", board.ConfigFile)
		return e.fallbackState(ch, b, nil, "", "no configuration on the boot partition")
	case lerr != nil:
		e.logf("%v", lerr)
		return e.fallbackState(ch, b, nil, "", "the configuration on the boot partition cannot be used")
	case l.Fallback():
		e.logf("%s", l.Notice)
		return e.fallbackState(ch, b, l.Config, "the backup "+l.File, l.Reason())
	}
	// A hand edit is said by routerd, which loads the file through the
	// store again.
	return ch, nil
}

// fallbackState runs c, or the factory configuration, from RAM with the
// state and the commits still on the mounted partition (ch).
func (e *chooser) fallbackState(ch Choice, b *board.Board, c *config.Config, what, why string) (Choice, error) {
	fb, err := e.fallback(b, c, what, why)
	ch.Config, ch.Note = fb.Config, fb.Note
	if ch.NoSave == "" {
		ch.Note += "; the next commit writes a new " + board.ConfigFile + " on the boot partition"
	}
	return ch, err
}

func (e *chooser) factoryText(b *board.Board) string {
	c := factoryConfig(b)
	return fmt.Sprintf("the factory configuration (LAN %s %v, WAN %s by %s)",
		c.Interfaces.LAN.Device, c.Interfaces.LAN.Address, c.Interfaces.WAN.Device, c.Interfaces.WAN.Mode)
}

// fallback writes c (described by what), or the board's factory
// configuration if c is nil, to RAM and chooses it, with the state in RAM
// too. why says why.
func (e *chooser) fallback(b *board.Board, c *config.Config, what, why string) (Choice, error) {
	if c == nil {
		c = factoryConfig(b)
		what = e.factoryText(b)
	}
	if err := os.MkdirAll(e.runDir, 0o755); err != nil {
		return Choice{}, fmt.Errorf("fallback configuration: %w", err)
	}
	p := filepath.Join(e.runDir, board.ConfigFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.String()), 0o644); err != nil {
		return Choice{}, fmt.Errorf("fallback configuration: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return Choice{}, fmt.Errorf("fallback configuration: %w", err)
	}
	e.logf("%s: running %s from RAM (%s); nothing on the boot partition was changed", why, what, p)
	return Choice{Config: p, StateDir: e.runDir, Note: fmt.Sprintf("running %s from RAM: %s", what, why)}, nil
}

// factoryConfig is config.Default() on the board's LAN and WAN ports.
func factoryConfig(b *board.Board) *config.Config {
	c := config.Default()
	if b != nil {
		c.Interfaces.LAN.Device = b.LAN.Name
		c.Interfaces.WAN.Device = b.WAN.Name
	}
	return c
}
