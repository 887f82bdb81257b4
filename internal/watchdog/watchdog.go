// Package watchdog drives a Linux hardware watchdog (/dev/watchdog, the
// kernel's watchdog API): once opened it resets the machine unless it is
// fed within its timeout, and only a "magic close" stops it. routerd's
// supervisor arms it for a trial boot of a new firmware version, so that
// a kernel or supervisor that hangs still ends the trial (QEMU's
// i6300esb, the Raspberry Pi's bcm2835-wdt, the Rock Pi E's dw_wdt).
package watchdog

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Device is the default watchdog device.
const Device = "/dev/watchdog"

// Dog is an armed watchdog: it resets the machine unless Feed is called
// within Timeout, until Disarm.
type Dog interface {
	// Name is the driver's identity ("i6300ESB timer").
	Name() string
	// Timeout is the time without Feed after which the machine resets.
	Timeout() time.Duration
	Feed() error
	// Disarm stops the watchdog (magic close). A kernel built with
	// CONFIG_WATCHDOG_NOWAYOUT ignores it and resets the machine later;
	// the boards' Debian kernel is not.
	Disarm() error
}

// Hardware is a watchdog device.
type Hardware struct {
	f       *os.File
	name    string
	timeout time.Duration
}

// Open arms the watchdog at path and asks for timeout (rounded to a
// second; the driver may choose another, which Timeout then says).
func Open(path string, timeout time.Duration) (*Hardware, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	h := &Hardware{f: f}
	fd := int(f.Fd())
	if info, err := unix.IoctlGetWatchdogInfo(fd); err == nil {
		h.name = strings.TrimRight(string(info.Identity[:]), "\x00")
	}
	if h.name == "" {
		h.name = path
	}
	secs := int(timeout.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs); err != nil {
		// Some drivers have a fixed timeout: keep theirs.
		secs = 0
	}
	if got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT); err == nil && got > 0 {
		secs = got
	}
	if secs <= 0 {
		h.Disarm()
		return nil, fmt.Errorf("watchdog %s: its timeout cannot be read", h.name)
	}
	h.timeout = time.Duration(secs) * time.Second
	if err := h.Feed(); err != nil {
		h.Disarm()
		return nil, err
	}
	return h, nil
}

// Name is the driver's identity.
func (h *Hardware) Name() string { return h.name }

// Timeout is the driver's timeout.
func (h *Hardware) Timeout() time.Duration { return h.timeout }

// Feed restarts the watchdog's count.
func (h *Hardware) Feed() error {
	if err := unix.IoctlWatchdogKeepalive(int(h.f.Fd())); err != nil {
		// Drivers without the ioctl are fed by any write.
		if _, werr := h.f.Write([]byte{0}); werr != nil {
			return fmt.Errorf("watchdog %s: feeding: %v", h.name, err)
		}
	}
	return nil
}

// Disarm stops the watchdog with the magic close: a 'V' and then close.
func (h *Hardware) Disarm() error {
	_, werr := h.f.Write([]byte("V"))
	cerr := h.f.Close()
	return errors.Join(werr, cerr)
}
