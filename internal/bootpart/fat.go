package bootpart

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
)

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
