// Package bootconfig chooses the configuration routerd runs on a board.
//
// On a board, routerd is u-root init's uinit and is started without
// arguments. It then mounts the board's FAT boot partition on /boot
// (internal/bootpart) and runs passgate.conf from it, keeping the DHCP
// leases beside it. A router must not stay dead because of a missing or
// damaged SD-card partition, so when the partition cannot be mounted, or
// holds no usable configuration, routerd runs the last good backup from
// the partition or else the factory configuration for the board from a
// copy in RAM, and says why on the console; it never writes to the
// partition to repair it.
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

// Prepare mounts the boot partition of board boardName on /boot and
// returns the configuration file to run and the directory that keeps the
// router's state (DHCP leases): /boot/passgate.conf and /boot when all is
// well. When the partition cannot be found or mounted, or its
// configuration is missing or invalid, it logs why and returns a
// configuration in RAM (the last good backup from the partition if there
// is one, else the factory configuration on the board's ports), and
// nothing on the partition is changed. err is set only when no
// configuration can be provided at all: not running from passgate
// firmware (boardName "") or RAM not writable.
func Prepare(boardName string, logf func(string, ...any)) (cfgPath, stateDir string, err error) {
	if boardName == "" {
		return "", "", fmt.Errorf("no --config given and %s does not exist (not passgate firmware): run routerd --config FILE", BoardFile)
	}
	c := &chooser{
		mountPoint: bootMount,
		runDir:     fallbackDir,
		mount: func(dir, device, label string) error {
			return bootpart.Mount(dir, device, label, logf)
		},
		logf: logf,
	}
	return c.prepare(boardName)
}

// chooser is what Prepare touches, replaceable in tests.
type chooser struct {
	mountPoint string                                // /boot
	runDir     string                                // /run/passgate
	mount      func(dir, device, label string) error // bootpart.Mount
	logf       func(string, ...any)
}

func (e *chooser) prepare(boardName string) (cfgPath, stateDir string, err error) {
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
		return e.fallback(b, nil, "the boot partition is not available")
	}
	store := config.NewStore(e.mountPoint)
	c, notice, lerr := store.Load()
	conf := filepath.Join(e.mountPoint, board.ConfigFile)
	switch {
	case errors.Is(lerr, fs.ErrNotExist):
		e.logf("the boot partition has no %s", board.ConfigFile)
		return e.fallbackState(b, nil, "no configuration on the boot partition")
	case lerr != nil:
		e.logf("%v", lerr)
		return e.fallbackState(b, nil, "the configuration on the boot partition cannot be used")
	}
	if notice != "" {
		e.logf("%s", notice)
	}
	if errs := validationErrors(c); errs != "" {
		if notice != "" {
			e.logf("that backup is invalid:%s", errs)
			return e.fallbackState(b, nil, "no valid configuration on the boot partition")
		}
		e.logf("%s is invalid:%s", conf, errs)
		bak, err := config.ReadFile(filepath.Join(e.mountPoint, config.BackupName))
		if err != nil || validationErrors(bak) != "" {
			return e.fallbackState(b, nil, "no valid configuration on the boot partition")
		}
		return e.fallbackState(b, bak, "running the backup "+config.BackupName)
	}
	if notice != "" {
		return e.fallbackState(b, c, board.ConfigFile+" cannot be used")
	}
	return conf, e.mountPoint, nil
}

func validationErrors(c *config.Config) string {
	errs, _ := c.Validate()
	var s strings.Builder
	for _, x := range errs {
		fmt.Fprintf(&s, "\n  %v", x)
	}
	return s.String()
}

// fallbackState is fallback with the state (leases) still kept on the
// mounted partition.
func (e *chooser) fallbackState(b *board.Board, c *config.Config, why string) (string, string, error) {
	p, _, err := e.fallback(b, c, why)
	return p, e.mountPoint, err
}

// fallback writes c, or the board's factory configuration if c is nil, to
// RAM and returns its path; state is kept in RAM too.
func (e *chooser) fallback(b *board.Board, c *config.Config, why string) (string, string, error) {
	what := "the configuration found on the boot partition"
	if c == nil {
		c = factoryConfig(b)
		what = fmt.Sprintf("the factory configuration (LAN %s %v, WAN %s by %s)",
			c.Interfaces.LAN.Device, c.Interfaces.LAN.Address, c.Interfaces.WAN.Device, c.Interfaces.WAN.Mode)
	}
	if err := os.MkdirAll(e.runDir, 0o755); err != nil {
		return "", "", fmt.Errorf("fallback configuration: %w", err)
	}
	p := filepath.Join(e.runDir, board.ConfigFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.String()), 0o644); err != nil {
		return "", "", fmt.Errorf("fallback configuration: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", "", fmt.Errorf("fallback configuration: %w", err)
	}
	e.logf("%s: running %s from RAM (%s); nothing on the boot partition was changed", why, what, p)
	return p, e.runDir, nil
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
