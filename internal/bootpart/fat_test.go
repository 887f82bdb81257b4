package bootpart

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// label is the label the tests look for: routerd's is board.BootLabel.
const label = "PASSGATE"

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
	whole := fatImage(t, label, 0, map[string]string{"passgate.conf": "set system hostname x\n"})
	if l, ok := labelOf(t, whole, 0); !ok || l != label {
		t.Errorf("whole-disk FAT32: label %q, FAT %v; want %q", l, ok, label)
	}
	// A partitioned disk: the MBR is not a FAT, its first partition is.
	disk := fatImage(t, label, 2048, nil)
	if l, ok := labelOf(t, disk, 0); ok {
		t.Errorf("the MBR of a partitioned disk was taken for a FAT (label %q)", l)
	}
	if l, ok := labelOf(t, disk, 2048*512); !ok || l != label {
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
	p := fatImage(t, label, 0, nil)
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
