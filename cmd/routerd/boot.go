package main

// The boot partition. On a board, routerd is u-root init's uinit and is
// started without arguments. The worker then finds the board's FAT boot
// partition (the block device the board definition names, else the FAT file
// system labelled PASSGATE), mounts it at /boot and runs passgate.conf from
// it, keeping the DHCP leases beside it. A router must not stay dead because
// of a missing or damaged SD-card partition, so when the partition cannot be
// mounted, or holds no usable configuration, the worker runs the factory
// configuration for the board from a copy in RAM and says why on the
// console; it never writes to the partition to repair it.
//
// routerd learns its board from /etc/passgate-board, a file the firmware
// build writes into the initramfs (firmware.BoardFile). Outside the
// firmware that file does not exist, and routerd needs --config: it never
// mounts anything on a development machine.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/pkg/config"
)

// Where things are on a board.
const (
	// boardFile names the board routerd runs on; written by the firmware build.
	boardFile = "/etc/passgate-board"
	// bootMount is where the boot partition is mounted.
	bootMount = "/boot"
	// fallbackDir holds the configuration (and leases) in RAM when the boot
	// partition is unusable.
	fallbackDir = "/run/passgate"
)

// bootWait bounds how long after the kernel started routerd waits for the
// boot partition to appear: kernel modules are loaded, and SD cards and USB
// disks probed, asynchronously.
const bootWait = 10 * time.Second

// FAT mount: no devices, set-uid or programs on the partition; files
// 0644, directories 0755; timestamps in UTC (a PC shows them as such);
// "flush" writes data back early, as the card may be pulled at any time;
// mixed short names keep names a PC wrote as they were.
const (
	bootMountFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME
	bootMountData  = "shortname=mixed,flush,tz=UTC,fmask=0133,dmask=0022"
)

// boardName returns the name of the board routerd runs on, from the file
// the firmware build puts into the initramfs; "" outside passgate firmware.
func boardName() string {
	b, err := os.ReadFile(boardFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// prepareBoot mounts the boot partition of board boardName at /boot and
// returns the configuration file the worker runs and the directory that
// keeps its state (DHCP leases): /boot/passgate.conf and /boot when all is
// well. When the partition cannot be found or mounted, or its
// configuration is missing or invalid, it logs why and returns a
// configuration in RAM (the last good backup from the partition if there
// is one, else the factory configuration with the board's ports), and
// nothing on the partition is changed. err is set only when no
// configuration can be provided at all: not running from passgate
// firmware (boardName "") or RAM not writable.
func prepareBoot(boardName string, logf func(string, ...any)) (cfgPath, stateDir string, err error) {
	if boardName == "" {
		return "", "", fmt.Errorf("no --config given and %s does not exist (not passgate firmware): run routerd --config FILE", boardFile)
	}
	e := defaultBootEnv(logf)
	if up, err := uptime(); err == nil {
		e.wait = bootWait - up
	}
	return e.prepare(boardName)
}

// bootEnv is what prepareBoot touches, replaceable in tests.
type bootEnv struct {
	sysBlock   string // /sys/class/block
	devDir     string // /dev
	byLabel    string // /dev/disk/by-label (udev; absent under u-root)
	mountInfo  string // /proc/self/mountinfo
	mountPoint string // /boot
	runDir     string // /run/passgate
	wait       time.Duration
	poll       time.Duration
	mount      func(source, target, fstype string, flags uintptr, data string) error
	logf       func(string, ...any)
}

func defaultBootEnv(logf func(string, ...any)) *bootEnv {
	return &bootEnv{
		sysBlock:   "/sys/class/block",
		devDir:     "/dev",
		byLabel:    "/dev/disk/by-label",
		mountInfo:  "/proc/self/mountinfo",
		mountPoint: bootMount,
		runDir:     fallbackDir,
		wait:       bootWait,
		poll:       25 * time.Millisecond,
		mount:      unix.Mount,
		logf:       logf,
	}
}

// uptime is the time since the kernel started (CLOCK_BOOTTIME).
func uptime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}

func (e *bootEnv) prepare(boardName string) (cfgPath, stateDir string, err error) {
	b, berr := board.Get(boardName)
	if berr != nil {
		e.logf("boot: %v; looking for the partition labelled %s only", berr, board.BootLabel)
		b = nil
	}
	mounted, why := e.mountBoot(b)
	if !mounted {
		e.logf("boot partition not mounted: %s", why)
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
func (e *bootEnv) fallbackState(b *board.Board, c *config.Config, why string) (string, string, error) {
	p, _, err := e.fallback(b, c, why)
	return p, e.mountPoint, err
}

// fallback writes c, or the board's factory configuration if c is nil, to
// RAM and returns its path; state is kept in RAM too.
func (e *bootEnv) fallback(b *board.Board, c *config.Config, why string) (string, string, error) {
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

// mountBoot makes sure the boot partition is mounted at the mount point:
// already (a restarted worker), or by finding and mounting it. It returns
// false and why not otherwise.
func (e *bootEnv) mountBoot(b *board.Board) (bool, string) {
	if src, fstype, ok := e.mountedAt(e.mountPoint); ok {
		if fstype == "vfat" || fstype == "msdos" {
			return true, ""
		}
		return false, fmt.Sprintf("%s is already a %s mount of %s, not a FAT boot partition; leaving it alone", e.mountPoint, fstype, src)
	}
	named := ""
	if b != nil && b.BootPartition != "" {
		named = filepath.Join(e.devDir, strings.TrimPrefix(b.BootPartition, "/dev/"))
	}
	start := time.Now()
	dev, ok := e.waitForDevice(named)
	if !ok {
		what := "no FAT file system labelled " + board.BootLabel
		if named != "" {
			what = fmt.Sprintf("neither %s (FAT) nor a FAT file system labelled %s", named, board.BootLabel)
		}
		return false, fmt.Sprintf("%s was found (waited %v)", what, time.Since(start).Round(100*time.Millisecond))
	}
	if err := os.MkdirAll(e.mountPoint, 0o755); err != nil {
		return false, err.Error()
	}
	flags := uintptr(bootMountFlags)
	err := e.mount(dev.Path, e.mountPoint, "vfat", flags, bootMountData)
	if errors.Is(err, unix.EINVAL) {
		// A kernel that does not know one of the options.
		err = e.mount(dev.Path, e.mountPoint, "vfat", flags, "")
	}
	ro := false
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) {
		// A write-protected card: read-only is better than nothing.
		ro = true
		err = e.mount(dev.Path, e.mountPoint, "vfat", flags|unix.MS_RDONLY, bootMountData)
	}
	if err != nil {
		return false, fmt.Sprintf("mounting %s (label %q) on %s: %v", dev.Path, dev.Label, e.mountPoint, err)
	}
	note := ""
	if ro {
		note = " read-only (write-protected): changes cannot be saved"
	}
	e.logf("boot partition %s (FAT, label %q) mounted on %s%s", dev.Path, dev.Label, e.mountPoint, note)
	return true, ""
}

// mountedAt reports the source and type of the mount at dir, from
// /proc/self/mountinfo.
func (e *bootEnv) mountedAt(dir string) (source, fstype string, ok bool) {
	f, err := os.Open(e.mountInfo)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		pre, post, found := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !found || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		if unescapeMount(fields[4]) == dir {
			source, fstype, ok = tail[1], tail[0], true // the last one wins: it is on top
		}
	}
	return source, fstype, ok
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// waitForDevice polls until the boot partition shows up or the wait is
// over (at least one look is always taken).
func (e *bootEnv) waitForDevice(named string) (blockDev, bool) {
	deadline := time.Now().Add(e.wait)
	logged := false
	for {
		devs := e.scanBlockDevices()
		if d, ok := chooseBootDevice(named, devs); ok {
			return d, true
		}
		if !time.Now().Before(deadline) {
			return blockDev{}, false
		}
		if !logged {
			e.logf("waiting up to %v for the boot partition (%s or label %s)", time.Until(deadline).Round(100*time.Millisecond), orNone(named), board.BootLabel)
			logged = true
		}
		time.Sleep(e.poll)
	}
}

func orNone(s string) string {
	if s == "" {
		return "no device named by the board"
	}
	return s
}

// blockDev is one block device and what its first sectors hold.
type blockDev struct {
	Name      string // kernel name: "vda1", "mmcblk0p1"
	Path      string // device node
	Partition bool   // a partition rather than a whole disk
	FAT       bool   // holds a FAT file system
	Label     string // its volume label, if FAT
}

// chooseBootDevice picks the boot partition: the device the board names
// if it holds a FAT file system (whatever its label: a user may have
// renamed it on a PC), else a FAT file system labelled PASSGATE, a
// partition before a whole disk, then by name. named is a device path
// ("/dev/mmcblk0p1") or "".
func chooseBootDevice(named string, devs []blockDev) (blockDev, bool) {
	var labelled []blockDev
	for _, d := range devs {
		if !d.FAT {
			continue
		}
		if named != "" && d.Path == named {
			return d, true
		}
		if strings.EqualFold(d.Label, board.BootLabel) {
			labelled = append(labelled, d)
		}
	}
	if len(labelled) == 0 {
		return blockDev{}, false
	}
	sort.SliceStable(labelled, func(i, j int) bool {
		if labelled[i].Partition != labelled[j].Partition {
			return labelled[i].Partition
		}
		return labelled[i].Name < labelled[j].Name
	})
	return labelled[0], true
}

// scanBlockDevices lists the block devices in sysfs and reads the FAT
// label of each, plus what udev's by-label directory says, if present.
func (e *bootEnv) scanBlockDevices() []blockDev {
	var devs []blockDev
	if target, err := filepath.EvalSymlinks(filepath.Join(e.byLabel, board.BootLabel)); err == nil {
		devs = append(devs, blockDev{Name: filepath.Base(target), Path: target, Partition: true, FAT: true, Label: board.BootLabel})
	}
	ents, err := os.ReadDir(e.sysBlock)
	if err != nil {
		return devs
	}
	for _, ent := range ents {
		name := ent.Name()
		if skipBlockDevice(name) {
			continue
		}
		sys := filepath.Join(e.sysBlock, name)
		if size, err := os.ReadFile(filepath.Join(sys, "size")); err != nil || strings.TrimSpace(string(size)) == "0" {
			continue
		}
		d := blockDev{Name: name, Path: filepath.Join(e.devDir, name)}
		if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
			d.Partition = true
		}
		f, err := os.Open(d.Path)
		if err != nil {
			continue
		}
		d.Label, d.FAT = fatLabel(f)
		f.Close()
		devs = append(devs, d)
	}
	return devs
}

// skipBlockDevice is true for devices that never hold the boot partition
// and may be slow or odd to read.
func skipBlockDevice(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "nbd", "sr", "fd", "mtdblock", "dm-", "md"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.Contains(name, "boot") || strings.Contains(name, "rpmb") // eMMC hardware partitions
}

// fatLabel reports whether r starts with a FAT12/16/32 file system and its
// volume label: the label entry in the root directory, which is what PCs
// (and blkid) show and change, else the one in the boot sector; "NO NAME"
// means none.
func fatLabel(r io.ReaderAt) (label string, isFAT bool) {
	bs := make([]byte, 512)
	if _, err := r.ReadAt(bs, 0); err != nil {
		return "", false
	}
	if bs[510] != 0x55 || bs[511] != 0xAA || !(bs[0] == 0xEB && bs[2] == 0x90 || bs[0] == 0xE9) {
		return "", false
	}
	le16 := func(o int) uint32 { return uint32(binary.LittleEndian.Uint16(bs[o:])) }
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(bs[o:]) }
	bps, spc, reserved, nfats := le16(0x0B), uint32(bs[0x0D]), le16(0x0E), uint32(bs[0x10])
	rootEntries, fatSize := le16(0x11), le16(0x16)
	if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096) || spc == 0 || spc&(spc-1) != 0 ||
		reserved == 0 || nfats == 0 || nfats > 4 {
		return "", false
	}
	fat32 := fatSize == 0
	var bootLabel []byte
	var rootOff, rootLen int64
	if fat32 {
		fatSize = le32(0x24)
		if fatSize == 0 || bs[0x42] != 0x29 && bs[0x42] != 0x28 {
			return "", false
		}
		if bs[0x42] == 0x29 {
			bootLabel = bs[0x47 : 0x47+11]
		}
		rootCluster := le32(0x2C)
		if rootCluster < 2 {
			return "", false
		}
		first := int64(reserved) + int64(nfats)*int64(fatSize) + int64(rootCluster-2)*int64(spc)
		rootOff, rootLen = first*int64(bps), int64(spc)*int64(bps)
	} else {
		if rootEntries == 0 {
			return "", false
		}
		if bs[0x26] == 0x29 {
			bootLabel = bs[0x2B : 0x2B+11]
		}
		rootOff = (int64(reserved) + int64(nfats)*int64(fatSize)) * int64(bps)
		rootLen = int64(rootEntries) * 32
	}
	if rootLen > 64<<10 {
		rootLen = 64 << 10
	}
	if l, ok := rootDirLabel(r, rootOff, rootLen); ok {
		if l == "NO NAME" {
			l = ""
		}
		return l, true
	}
	if l := strings.TrimRight(string(bootLabel), " \x00"); l != "NO NAME" {
		return l, true
	}
	return "", true
}

// rootDirLabel finds the volume label entry among the directory entries
// at off.
func rootDirLabel(r io.ReaderAt, off, n int64) (string, bool) {
	buf := make([]byte, n)
	m, err := r.ReadAt(buf, off)
	if m < 32 && err != nil {
		return "", false
	}
	buf = buf[:m/32*32]
	for i := 0; i+32 <= len(buf); i += 32 {
		ent := buf[i : i+32]
		switch {
		case ent[0] == 0x00:
			return "", false // end of directory
		case ent[0] == 0xE5:
			continue // deleted
		case ent[11] == 0x0F:
			continue // long-name part
		case ent[11]&0x08 != 0 && ent[11]&0x10 == 0:
			name := bytes.Clone(ent[:11])
			if name[0] == 0x05 {
				name[0] = 0xE5
			}
			return strings.TrimRight(string(name), " \x00"), true
		}
	}
	return "", false
}
