package bootpart

import (
	"os"
	"path/filepath"
	"testing"
)

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
		d, ok := chooseBootDevice(c.named, label, c.devs)
		if got := map[bool]string{true: d.Name}[ok]; got != c.want {
			t.Errorf("%s: chose %q, want %q", c.name, got, c.want)
		}
	}
}

func TestScanBlockDevices(t *testing.T) {
	f := newFakeSystem(t)
	img := fatImage(t, label, 0, nil)
	f.addDevice(t, "vda", "", false)
	f.addDevice(t, "vda1", img, true)
	f.addDevice(t, "loop0", img, false)        // skipped: loop devices
	f.addDevice(t, "mmcblk0boot0", img, false) // skipped: eMMC boot area
	os.WriteFile(filepath.Join(f.sysBlock, "vda", "size"), []byte("0\n"), 0o644)
	devs := f.scanBlockDevices(label)
	if len(devs) != 1 || devs[0].Name != "vda1" || !devs[0].FAT || devs[0].Label != label || !devs[0].Partition {
		t.Errorf("scan = %+v; want only vda1, a FAT partition labelled %s", devs, label)
	}
}

// udev's by-label link, where there is one, counts as a labelled FAT.
func TestScanBlockDevicesByLabel(t *testing.T) {
	f := newFakeSystem(t)
	f.addDevice(t, "sdb1", "", true) // no FAT data: only the link says so
	os.MkdirAll(f.byLabel, 0o755)
	if err := os.Symlink(filepath.Join(f.devDir, "sdb1"), filepath.Join(f.byLabel, label)); err != nil {
		t.Fatal(err)
	}
	d, ok := chooseBootDevice("", label, f.scanBlockDevices(label))
	if !ok || d.Path != filepath.Join(f.devDir, "sdb1") {
		t.Errorf("chose %+v, %v; want %s/sdb1 from the by-label link", d, ok, f.devDir)
	}
}
