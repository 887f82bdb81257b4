package bootpart

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

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
// renamed it on a PC), else a FAT file system labelled label (in any
// case), a partition before a whole disk, then by name. named is a device
// path ("/dev/mmcblk0p1") or "".
func chooseBootDevice(named, label string, devs []blockDev) (blockDev, bool) {
	var labelled []blockDev
	for _, d := range devs {
		if !d.FAT {
			continue
		}
		if named != "" && d.Path == named {
			return d, true
		}
		if strings.EqualFold(d.Label, label) {
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
// label of each, plus what udev's by-label directory says of label, if
// present.
func (s *system) scanBlockDevices(label string) []blockDev {
	var devs []blockDev
	if target, err := filepath.EvalSymlinks(filepath.Join(s.byLabel, label)); err == nil {
		devs = append(devs, blockDev{Name: filepath.Base(target), Path: target, Partition: true, FAT: true, Label: label})
	}
	ents, err := os.ReadDir(s.sysBlock)
	if err != nil {
		return devs
	}
	for _, ent := range ents {
		if d, ok := s.readBlockDevice(ent.Name()); ok {
			devs = append(devs, d)
		}
	}
	return devs
}

// readBlockDevice reads what scanBlockDevices needs of one device (a name
// in sysfs and the device directory): whether it is a partition, and its
// FAT label. ok is false for a device that is skipped, empty or cannot be
// opened.
func (s *system) readBlockDevice(name string) (d blockDev, ok bool) {
	if skipBlockDevice(name) {
		return blockDev{}, false
	}
	sys := filepath.Join(s.sysBlock, name)
	if size, err := os.ReadFile(filepath.Join(sys, "size")); err != nil || strings.TrimSpace(string(size)) == "0" {
		return blockDev{}, false
	}
	d = blockDev{Name: name, Path: filepath.Join(s.devDir, name)}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		d.Partition = true
	}
	f, err := os.Open(d.Path)
	if err != nil {
		return blockDev{}, false
	}
	d.Label, d.FAT = fatLabel(f)
	f.Close()
	return d, true
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
