// Package bootpart finds a board's FAT boot partition among the block
// devices in sysfs and mounts it.
//
// The partition is the block device the board definition names, if it
// holds a FAT file system, else a FAT file system with the given label
// (read from the device itself: there is no udev under u-root). SD cards
// and USB disks are probed asynchronously after the kernel starts, so
// Mount waits for the device until a bound measured from boot.
package bootpart

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Wait bounds how long after the kernel started Mount waits for the
// partition to appear.
const Wait = 10 * time.Second

// FAT mount: no devices, set-uid or programs on the partition; files
// 0644, directories 0755; timestamps in UTC (a PC shows them as such);
// "flush" writes data back early, as the card may be pulled at any time;
// mixed short names keep names a PC wrote as they were.
const (
	mountFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME
	mountData  = "shortname=mixed,flush,tz=UTC,fmask=0133,dmask=0022"
)

// Mount makes sure the boot partition is mounted on dir: already (by a
// previous run) or by finding and mounting it. device is the block device
// the board names ("/dev/mmcblk0p1" or "mmcblk0p1"; "" for none) and label
// the FAT volume label to look for otherwise. A write-protected card is
// mounted read-only. logf gets what Mount does and waits for. The error
// says why no partition is mounted; dir is then left as it was, and a
// mount of something else on dir is never covered.
func Mount(dir, device, label string, logf func(string, ...any)) error {
	s := &system{
		sysBlock:  "/sys/class/block",
		devDir:    "/dev",
		byLabel:   "/dev/disk/by-label",
		mountInfo: "/proc/self/mountinfo",
		wait:      Wait,
		poll:      25 * time.Millisecond,
		mount:     unix.Mount,
		logf:      logf,
	}
	if up, err := uptime(); err == nil {
		s.wait = Wait - up
	}
	return s.mountBoot(dir, device, label)
}

// system is what Mount looks at and changes, replaceable in tests.
type system struct {
	sysBlock  string // /sys/class/block
	devDir    string // /dev
	byLabel   string // /dev/disk/by-label (udev; absent under u-root)
	mountInfo string // /proc/self/mountinfo
	wait      time.Duration
	poll      time.Duration
	mount     func(source, target, fstype string, flags uintptr, data string) error
	logf      func(string, ...any)
}

// uptime is the time since the kernel started (CLOCK_BOOTTIME).
func uptime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}

// mountBoot is Mount on s.
func (s *system) mountBoot(dir, device, label string) error {
	if src, fstype, ok := s.mountedAt(dir); ok {
		if fstype == "vfat" || fstype == "msdos" {
			return nil
		}
		return fmt.Errorf("%s is already a %s mount of %s, not a FAT boot partition; leaving it alone", dir, fstype, src)
	}
	named := ""
	if device != "" {
		named = filepath.Join(s.devDir, strings.TrimPrefix(device, "/dev/"))
	}
	start := time.Now()
	dev, ok := s.waitForDevice(named, label)
	if !ok {
		what := "no FAT file system labelled " + label
		if named != "" {
			what = fmt.Sprintf("neither %s (FAT) nor a FAT file system labelled %s", named, label)
		}
		return fmt.Errorf("%s was found (waited %v)", what, time.Since(start).Round(100*time.Millisecond))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("boot partition mount point: %w", err)
	}
	flags := uintptr(mountFlags)
	err := s.mount(dev.Path, dir, "vfat", flags, mountData)
	if errors.Is(err, unix.EINVAL) {
		// A kernel that does not know one of the options.
		err = s.mount(dev.Path, dir, "vfat", flags, "")
	}
	ro := false
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) {
		// A write-protected card: read-only is better than nothing.
		ro = true
		err = s.mount(dev.Path, dir, "vfat", flags|unix.MS_RDONLY, mountData)
	}
	if err != nil {
		return fmt.Errorf("mounting %s (label %q) on %s: %w", dev.Path, dev.Label, dir, err)
	}
	note := ""
	if ro {
		note = " read-only (write-protected): changes cannot be saved"
	}
	s.logf("boot partition %s (FAT, label %q) mounted on %s%s", dev.Path, dev.Label, dir, note)
	return nil
}

// waitForDevice polls until the boot partition shows up or the wait is
// over (at least one look is always taken).
func (s *system) waitForDevice(named, label string) (blockDev, bool) {
	deadline := time.Now().Add(s.wait)
	logged := false
	for {
		// The board's own device, when it holds a FAT file system, is
		// the choice whatever else is there (chooseBootDevice): the
		// other disks (a slow or failing USB stick) are not read.
		if name, ok := s.deviceName(named); ok {
			if d, ok := s.readBlockDevice(name); ok && d.FAT {
				return d, true
			}
		}
		devs := s.scanBlockDevices(label)
		if d, ok := chooseBootDevice(named, label, devs); ok {
			return d, true
		}
		if !time.Now().Before(deadline) {
			return blockDev{}, false
		}
		if !logged {
			s.logf("waiting up to %v for the boot partition (%s or label %s)", time.Until(deadline).Round(100*time.Millisecond), orNone(named), label)
			logged = true
		}
		time.Sleep(s.poll)
	}
}

// deviceName is the sysfs name of the device path named, a path in the
// device directory; false if named is empty or deeper in it.
func (s *system) deviceName(named string) (string, bool) {
	rel, err := filepath.Rel(s.devDir, named)
	if named == "" || err != nil || rel == "." || strings.Contains(rel, "/") || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return rel, true
}

func orNone(s string) string {
	if s == "" {
		return "no device named by the board"
	}
	return s
}
