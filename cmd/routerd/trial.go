package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/bootconfig"
	"github.com/passgate/passgate/internal/trialguard"
	"github.com/passgate/passgate/internal/watchdog"
	"github.com/passgate/passgate/pkg/bootslot"
)

// watchdogTimeout is asked of the hardware watchdog on a trial boot (the
// Raspberry Pi's allows at most about 15 s, and says so).
const watchdogTimeout = 60 * time.Second

// guardTrial returns the supervisor's guard of this boot when it is a
// trial boot of a boot slot, with the board's hardware watchdog armed
// when it has one; nil otherwise.
func guardTrial(logf func(string, ...any)) *trialguard.Guard {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil
	}
	boot, ok := bootslot.FromCmdline(string(cmdline))
	if !ok {
		return nil
	}
	boardName := bootconfig.BoardName()
	if b, err := board.Get(boardName); err == nil && b.Boot == board.BootRaspberryPi {
		boot.Trial = piTryboot()
	}
	if !boot.Trial {
		return nil
	}
	g := &trialguard.Guard{
		Committed: func() bool {
			_, err := os.Stat(committedMarker)
			return err == nil
		},
		Ready: func() (time.Duration, bool) {
			b, err := os.ReadFile(trialReadyFile)
			if err != nil {
				return 0, false
			}
			d, err := time.ParseDuration(strings.TrimSpace(string(b)))
			return d, err == nil
		},
		Record: func(why string) error {
			// The worker may have ended before it mounted the partition.
			dir, err := bootconfig.MountBoot(boardName, logf)
			if err != nil {
				return err
			}
			return bootslot.RecordTrialFailure(bootslot.FileStore{Path: filepath.Join(dir, slotStateFile)}, boot.Slot, why)
		},
		Reboot: func() error { return rebootTo("") },
		Logf:   logf,
	}
	dog, err := watchdog.Open(watchdog.Device, watchdogTimeout)
	switch {
	case err == nil:
		g.Dog = dog
		logf("firmware: trial boot of slot %v: watchdog %s armed (%v) until the version is committed", boot.Slot, dog.Name(), dog.Timeout())
	case errors.Is(err, fs.ErrNotExist):
		logf("firmware: trial boot of slot %v: no hardware watchdog (%s); the supervisor alone ends a trial that fails", boot.Slot, watchdog.Device)
	default:
		logf("firmware: trial boot of slot %v: the hardware watchdog cannot be armed (%v); the supervisor alone ends a trial that fails", boot.Slot, err)
	}
	return g
}
