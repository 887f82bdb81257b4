package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/partition/mbr"
	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/pkg/config"
)

// fatImage writes a FAT32 file system with go-diskfs (the library the
// image package uses) to a new file and returns its path: the whole file
// when partStart is 0, else an MBR disk whose first partition starts at
// sector partStart. files are written into it.
func fatImage(t *testing.T, label string, partStart int64, files map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fat.img")
	const fsSize = 40 << 20
	d, err := diskfs.Create(p, partStart*512+fsSize, diskfs.SectorSizeDefault)
	if err != nil {
		t.Fatal(err)
	}
	part := 0
	if partStart > 0 {
		table := &mbr.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, Partitions: []*mbr.Partition{{
			Index: 1, Type: mbr.Fat32LBA, Start: uint32(partStart), Size: fsSize / 512}}}
		if err := d.Partition(table); err != nil {
			t.Fatal(err)
		}
		part = 1
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: part, FSType: filesystem.TypeFat32, VolumeLabel: label})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		w, err := fs.OpenFile("/"+name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, data); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func labelOf(t *testing.T, path string, off int64) (string, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return fatLabel(io.NewSectionReader(f, off, 1<<40))
}

func TestFATLabelFromGoDiskfsImages(t *testing.T) {
	whole := fatImage(t, board.BootLabel, 0, map[string]string{"passgate.conf": "set system hostname x\n"})
	if l, ok := labelOf(t, whole, 0); !ok || l != board.BootLabel {
		t.Errorf("whole-disk FAT32: label %q, FAT %v; want %q", l, ok, board.BootLabel)
	}
	// A partitioned disk: the MBR is not a FAT, its first partition is.
	disk := fatImage(t, board.BootLabel, 2048, nil)
	if l, ok := labelOf(t, disk, 0); ok {
		t.Errorf("the MBR of a partitioned disk was taken for a FAT (label %q)", l)
	}
	if l, ok := labelOf(t, disk, 2048*512); !ok || l != board.BootLabel {
		t.Errorf("partition 1: label %q, FAT %v", l, ok)
	}
	other := fatImage(t, "", 0, nil)
	if l, ok := labelOf(t, other, 0); !ok || l != "" {
		t.Errorf("unlabelled FAT32: label %q, FAT %v; want \"\" and true", l, ok)
	}
}

// A PC renaming the card changes the root directory's label entry, which
// blkid and Windows show; that one wins over the boot sector's copy.
func TestFATLabelRootDirectoryWins(t *testing.T) {
	p := fatImage(t, board.BootLabel, 0, nil)
	b, err := diskfs.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := b.GetFilesystem(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.(*fat32.FileSystem).SetRootDirLabel("MY CARD"); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if l, ok := labelOf(t, p, 0); !ok || l != "MY CARD" {
		t.Errorf("label %q, FAT %v; want the root directory's \"MY CARD\"", l, ok)
	}
}

// fat16 builds a small FAT16 file system by hand: boot sector label
// bootLabel, root directory entries ents.
func fat16(bootLabel string, ents ...[]byte) []byte {
	img := make([]byte, 64<<10)
	bs := img[:512]
	bs[0], bs[1], bs[2] = 0xEB, 0x3C, 0x90
	copy(bs[3:], "MSWIN4.1")
	binary.LittleEndian.PutUint16(bs[0x0B:], 512)
	bs[0x0D] = 4
	binary.LittleEndian.PutUint16(bs[0x0E:], 1) // reserved sectors
	bs[0x10] = 2                                // FATs
	binary.LittleEndian.PutUint16(bs[0x11:], 512)
	binary.LittleEndian.PutUint16(bs[0x16:], 8) // sectors per FAT
	bs[0x26] = 0x29
	copy(bs[0x2B:], fmt.Sprintf("%-11s", bootLabel))
	copy(bs[0x36:], "FAT16   ")
	bs[510], bs[511] = 0x55, 0xAA
	root := (1 + 2*8) * 512
	for i, e := range ents {
		copy(img[root+32*i:], e)
	}
	return img
}

func dirEntry(name string, attr byte) []byte {
	e := make([]byte, 32)
	copy(e, fmt.Sprintf("%-11s", name))
	e[11] = attr
	return e
}

func TestFATLabelFAT16ByHand(t *testing.T) {
	deleted := dirEntry("OLDLABEL", 0x08)
	deleted[0] = 0xE5
	cases := []struct {
		name  string
		img   []byte
		label string
	}{
		{"root label", fat16("NO NAME", dirEntry("PASSGATE", 0x08)), "PASSGATE"},
		{"boot sector label only", fat16("PASSGATE"), "PASSGATE"},
		{"deleted and long-name entries skipped", fat16("NO NAME", deleted, dirEntry("XLONGNAMEXX", 0x0F), dirEntry("CONFIG  TXT", 0x20), dirEntry("PassGate", 0x08)), "PassGate"},
		{"no label", fat16("NO NAME", dirEntry("CONFIG  TXT", 0x20)), ""},
		{"a directory is not a label", fat16("NO NAME", dirEntry("EFI", 0x10|0x08)), ""},
	}
	for _, c := range cases {
		l, ok := fatLabel(strings.NewReader(string(c.img)))
		if !ok || l != c.label {
			t.Errorf("%s: label %q, FAT %v; want %q", c.name, l, ok, c.label)
		}
	}
}

func TestFATLabelRejectsOtherData(t *testing.T) {
	mbrOnly := make([]byte, 4096)
	mbrOnly[510], mbrOnly[511] = 0x55, 0xAA
	broken := fat16("PASSGATE")
	binary.LittleEndian.PutUint16(broken[0x0B:], 513) // bytes per sector
	for name, data := range map[string][]byte{
		"zeros": make([]byte, 4096), "MBR signature only": mbrOnly, "bad BPB": broken, "short": {0xEB, 0x3C},
	} {
		if l, ok := fatLabel(strings.NewReader(string(data))); ok {
			t.Errorf("%s: taken for FAT (label %q)", name, l)
		}
	}
}

func TestChooseBootDevice(t *testing.T) {
	fat := func(name, label string, part bool) blockDev {
		return blockDev{Name: name, Path: "/dev/" + name, FAT: true, Label: label, Partition: part}
	}
	cases := []struct {
		name  string
		named string
		devs  []blockDev
		want  string // device name, "" for none
	}{
		{"named device", "/dev/mmcblk0p1", []blockDev{fat("sda1", "PASSGATE", true), fat("mmcblk0p1", "PASSGATE", true)}, "mmcblk0p1"},
		{"named device relabelled on a PC", "/dev/mmcblk0p1", []blockDev{fat("mmcblk0p1", "MY CARD", true)}, "mmcblk0p1"},
		{"named device is not FAT: label", "/dev/mmcblk0p1", []blockDev{{Name: "mmcblk0p1", Path: "/dev/mmcblk0p1", Partition: true}, fat("mmcblk1p1", "passgate", true)}, "mmcblk1p1"},
		{"eMMC numbering changed", "/dev/mmcblk0p1", []blockDev{fat("mmcblk1p1", "PASSGATE", true), {Name: "mmcblk0p1", Path: "/dev/mmcblk0p1", Partition: true}}, "mmcblk1p1"},
		{"partition before whole disk, then by name", "", []blockDev{fat("sdb", "PASSGATE", false), fat("sdc1", "PASSGATE", true), fat("sda1", "PASSGATE", true)}, "sda1"},
		{"other labels ignored", "/dev/vda1", []blockDev{fat("sda1", "USBSTICK", true)}, ""},
		{"nothing", "/dev/vda1", nil, ""},
	}
	for _, c := range cases {
		d, ok := chooseBootDevice(c.named, c.devs)
		if got := map[bool]string{true: d.Name}[ok]; got != c.want {
			t.Errorf("%s: chose %q, want %q", c.name, got, c.want)
		}
	}
}

// fakeBoot is a bootEnv over a temporary directory: a sysfs with the
// given block devices (their "device nodes" are regular files holding the
// data), and a mount that copies the files of the mounted image's
// directory into the mount point.
type fakeBoot struct {
	*bootEnv
	root   string
	mu     sync.Mutex
	mounts []string
	parts  map[string]map[string]string // device path -> files "on" it
	logs   strings.Builder
	errs   []error // returned by the next mounts, in turn
}

func newFakeBoot(t *testing.T) *fakeBoot {
	root := t.TempDir()
	f := &fakeBoot{root: root, parts: map[string]map[string]string{}}
	e := &bootEnv{
		sysBlock:   filepath.Join(root, "sys/class/block"),
		devDir:     filepath.Join(root, "dev"),
		byLabel:    filepath.Join(root, "dev/disk/by-label"),
		mountInfo:  filepath.Join(root, "proc/self/mountinfo"),
		mountPoint: filepath.Join(root, "boot"),
		runDir:     filepath.Join(root, "run/passgate"),
		wait:       200 * time.Millisecond,
		poll:       10 * time.Millisecond,
		logf: func(format string, args ...any) {
			fmt.Fprintf(&f.logs, format+"\n", args...)
		},
	}
	e.mount = func(source, target, fstype string, flags uintptr, data string) error {
		f.mounts = append(f.mounts, fmt.Sprintf("%s %s %s %#x %s", source, target, fstype, flags, data))
		if len(f.errs) > 0 {
			err := f.errs[0]
			f.errs = f.errs[1:]
			if err != nil {
				return err
			}
		}
		f.mu.Lock()
		files := f.parts[source]
		f.mu.Unlock()
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(target, name), []byte(data), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range []string{e.sysBlock, e.devDir, filepath.Dir(e.mountInfo)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(e.mountInfo, []byte("22 1 0:5 / / rw - rootfs rootfs rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.bootEnv = e
	return f
}

// addDevice adds a block device whose contents are the file img (a FAT
// image, or "" for a device of zeros), holding files when mounted. The
// device appears at once: node first, then its sysfs directory.
func (f *fakeBoot) addDevice(t *testing.T, name, img string, partition bool, files map[string]string) {
	t.Helper()
	data := make([]byte, 8192)
	if img != "" {
		var err error
		if data, err = os.ReadFile(img); err != nil {
			t.Error(err)
			return
		}
	}
	dev := filepath.Join(f.devDir, name)
	f.mu.Lock()
	f.parts[dev] = files
	f.mu.Unlock()
	if err := os.WriteFile(dev+".tmp", data, 0o644); err != nil {
		t.Error(err)
	}
	os.Rename(dev+".tmp", dev)
	stage := filepath.Join(f.root, "sys-"+name)
	os.MkdirAll(stage, 0o755)
	os.WriteFile(filepath.Join(stage, "size"), []byte("81920\n"), 0o644)
	if partition {
		os.WriteFile(filepath.Join(stage, "partition"), []byte("1\n"), 0o644)
	}
	if err := os.Rename(stage, filepath.Join(f.sysBlock, name)); err != nil {
		t.Error(err)
	}
}

func (f *fakeBoot) dev(name string) string { return filepath.Join(f.devDir, name) }

var qemuBoard, _ = board.Get("qemu-arm64")

func TestScanBlockDevices(t *testing.T) {
	f := newFakeBoot(t)
	img := fatImage(t, board.BootLabel, 0, nil)
	f.addDevice(t, "vda", "", false, nil)
	f.addDevice(t, "vda1", img, true, nil)
	f.addDevice(t, "loop0", img, false, nil)        // skipped: loop devices
	f.addDevice(t, "mmcblk0boot0", img, false, nil) // skipped: eMMC boot area
	os.WriteFile(filepath.Join(f.sysBlock, "vda", "size"), []byte("0\n"), 0o644)
	devs := f.scanBlockDevices()
	if len(devs) != 1 || devs[0].Name != "vda1" || !devs[0].FAT || devs[0].Label != board.BootLabel || !devs[0].Partition {
		t.Errorf("scan = %+v; want only vda1, a FAT partition labelled %s", devs, board.BootLabel)
	}
}

func TestPrepareBootMountsBoardPartition(t *testing.T) {
	f := newFakeBoot(t)
	conf := factoryConfig(qemuBoard).String()
	img := fatImage(t, board.BootLabel, 0, nil)
	// The board names /dev/vda1; a second PASSGATE partition (a USB stick
	// flashed with passgate) sorts first but is not taken.
	f.addDevice(t, "vda1", img, true, map[string]string{board.ConfigFile: conf})
	f.addDevice(t, "sda1", img, true, nil)
	cfg, state, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != filepath.Join(f.mountPoint, board.ConfigFile) || state != f.mountPoint {
		t.Errorf("prepare = %s, %s; want the partition's configuration and state", cfg, state)
	}
	want := fmt.Sprintf("%s %s vfat %#x %s", f.dev("vda1"), f.mountPoint, bootMountFlags, bootMountData)
	if len(f.mounts) != 1 || f.mounts[0] != want {
		t.Errorf("mounts %q, want [%q]", f.mounts, want)
	}
	if _, err := config.ReadFile(cfg); err != nil {
		t.Error(err)
	}
	if !strings.Contains(f.logs.String(), "mounted on") {
		t.Errorf("log does not say what was mounted:\n%s", f.logs.String())
	}
}

func TestPrepareBootWaitsForTheDevice(t *testing.T) {
	f := newFakeBoot(t)
	f.wait = 5 * time.Second
	img := fatImage(t, board.BootLabel, 0, nil)
	go func() {
		time.Sleep(150 * time.Millisecond)
		f.addDevice(t, "sda1", img, true, map[string]string{board.ConfigFile: factoryConfig(qemuBoard).String()})
	}()
	start := time.Now()
	cfg, _, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > 3*time.Second {
		t.Errorf("prepare took %v; want it to wait for the device and take it as soon as it appears", el)
	}
	if cfg != filepath.Join(f.mountPoint, board.ConfigFile) {
		t.Errorf("config %s, want the partition's", cfg)
	}
	if !strings.Contains(f.logs.String(), "waiting up to") {
		t.Errorf("no waiting message:\n%s", f.logs.String())
	}
}

func TestPrepareBootNoPartitionRunsFactoryConfig(t *testing.T) {
	for _, name := range []string{"qemu-arm64", "rock-pi-e"} {
		t.Run(name, func(t *testing.T) {
			b, _ := board.Get(name)
			f := newFakeBoot(t)
			f.addDevice(t, "vda1", "", true, nil) // not FAT
			start := time.Now()
			cfg, state, err := f.prepare(name)
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("gave up after %v; want the bounded wait (%v)", el, f.wait)
			}
			if filepath.Dir(cfg) != f.runDir || state != f.runDir {
				t.Errorf("prepare = %s, %s; want both in RAM (%s)", cfg, state, f.runDir)
			}
			if len(f.mounts) != 0 {
				t.Errorf("mounted %q", f.mounts)
			}
			c, err := config.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Equal(factoryConfig(b)) {
				t.Errorf("fallback configuration:\n%s\nwant the factory one on the board's ports:\n%s", c, factoryConfig(b))
			}
			if c.Interfaces.LAN.Device != b.LAN.Name || c.Interfaces.WAN.Device != b.WAN.Name {
				t.Errorf("fallback ports %s/%s, want %s/%s", c.Interfaces.LAN.Device, c.Interfaces.WAN.Device, b.LAN.Name, b.WAN.Name)
			}
			log := f.logs.String()
			for _, want := range []string{"boot partition not mounted", filepath.Base(b.BootPartition), "factory configuration", "nothing on the boot partition was changed"} {
				if !strings.Contains(log, want) {
					t.Errorf("console does not say %q:\n%s", want, log)
				}
			}
		})
	}
}

func TestPrepareBootBadConfigurationIsLeftAlone(t *testing.T) {
	good := factoryConfig(qemuBoard)
	good.System.Hostname = "from-backup"
	invalid := "set interfaces lan device eth0\nset interfaces wan device eth0\n"
	cases := []struct {
		name     string
		files    map[string]string
		hostname string // of the configuration run
		log      string
	}{
		{"missing", map[string]string{"readme.txt": "x"}, "passgate", "has no passgate.conf"},
		{"invalid line", map[string]string{board.ConfigFile: "set interfaces lan adress 1.2.3.4/24\n"}, "passgate", "cannot be used"},
		{"fails validation", map[string]string{board.ConfigFile: invalid}, "passgate", "is invalid"},
		{"damaged, good backup", map[string]string{board.ConfigFile: "", config.BackupName: good.String()}, "from-backup", "loaded the backup"},
		{"missing, good backup", map[string]string{config.BackupName: good.String()}, "from-backup", "is missing"},
		{"fails validation, good backup", map[string]string{board.ConfigFile: invalid, config.BackupName: good.String()}, "from-backup", "running the backup"},
		{"fails validation, invalid backup", map[string]string{board.ConfigFile: invalid, config.BackupName: invalid}, "passgate", "factory configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeBoot(t)
			img := fatImage(t, board.BootLabel, 0, nil)
			f.addDevice(t, "vda1", img, true, c.files)
			cfg, state, err := f.prepare(qemuBoard.Name)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(cfg) != f.runDir || state != f.mountPoint {
				t.Errorf("prepare = %s, %s; want the configuration in RAM and the state on the partition", cfg, state)
			}
			conf, err := config.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if conf.System.Hostname != c.hostname {
				t.Errorf("running hostname %q, want %q", conf.System.Hostname, c.hostname)
			}
			// Nothing on the partition changed.
			for name, data := range c.files {
				if b, err := os.ReadFile(filepath.Join(f.mountPoint, name)); err != nil || string(b) != data {
					t.Errorf("%s on the partition changed: %q, %v", name, b, err)
				}
			}
			ents, _ := os.ReadDir(f.mountPoint)
			if len(ents) != len(c.files) {
				t.Errorf("the partition holds %d files, want the %d it had", len(ents), len(c.files))
			}
			if !strings.Contains(f.logs.String(), c.log) {
				t.Errorf("console does not say %q:\n%s", c.log, f.logs.String())
			}
		})
	}
}

// A restarted worker finds the partition mounted by its predecessor.
func TestPrepareBootAlreadyMounted(t *testing.T) {
	f := newFakeBoot(t)
	os.MkdirAll(f.mountPoint, 0o755)
	os.WriteFile(filepath.Join(f.mountPoint, board.ConfigFile), []byte(factoryConfig(qemuBoard).String()), 0o644)
	mp := strings.ReplaceAll(f.mountPoint, " ", `\040`)
	os.WriteFile(f.mountInfo, []byte("22 1 0:5 / / rw - rootfs rootfs rw\n"+
		"40 22 254:1 / "+mp+" rw,nosuid,nodev,noexec,noatime - vfat /dev/vda1 rw,fmask=0133\n"), 0o644)
	cfg, state, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != filepath.Join(f.mountPoint, board.ConfigFile) || state != f.mountPoint || len(f.mounts) != 0 {
		t.Errorf("prepare = %s, %s, mounts %q; want the mounted partition reused", cfg, state, f.mounts)
	}

	// Something else on /boot (a development machine's ext4 /boot) is never
	// mounted over.
	os.WriteFile(f.mountInfo, []byte("40 22 8:1 / "+mp+" rw - ext4 /dev/sda1 rw\n"), 0o644)
	f.addDevice(t, "sdb1", fatImage(t, board.BootLabel, 0, nil), true, nil)
	cfg, _, err = f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(cfg) != f.runDir || len(f.mounts) != 0 {
		t.Errorf("config %s, mounts %q: want no mount over a foreign /boot", cfg, f.mounts)
	}
}

func TestPrepareBootWriteProtectedCard(t *testing.T) {
	f := newFakeBoot(t)
	f.addDevice(t, "vda1", fatImage(t, board.BootLabel, 0, nil), true,
		map[string]string{board.ConfigFile: factoryConfig(qemuBoard).String()})
	f.errs = []error{unix.EROFS, nil}
	cfg, _, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.mounts) != 2 || !strings.Contains(f.mounts[1], fmt.Sprintf("%#x", bootMountFlags|unix.MS_RDONLY)) {
		t.Errorf("mounts %q: want a read-only retry", f.mounts)
	}
	if cfg != filepath.Join(f.mountPoint, board.ConfigFile) || !strings.Contains(f.logs.String(), "read-only") {
		t.Errorf("config %s; log:\n%s", cfg, f.logs.String())
	}
}

func TestPrepareBootNeedsFirmware(t *testing.T) {
	if _, _, err := prepareBoot("", t.Logf); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("prepareBoot outside the firmware: %v; want an error asking for --config", err)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/boot`: "/boot", `/my\040boot`: "/my boot", `/a\134b`: `/a\b`, `/x\04`: `/x\04`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
