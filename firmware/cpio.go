package firmware

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
)

// CPIOEntry is one member of a newc ("070701") cpio archive.
type CPIOEntry struct {
	Name     string
	Mode     uint32 // including the file type bits
	Size     int64
	Linkname string // symlink target
}

// IsDir, IsSymlink and IsRegular test the file type bits.
func (e CPIOEntry) IsDir() bool     { return e.Mode&0o170000 == 0o040000 }
func (e CPIOEntry) IsSymlink() bool { return e.Mode&0o170000 == 0o120000 }
func (e CPIOEntry) IsRegular() bool { return e.Mode&0o170000 == 0o100000 }

// ListInitramfs lists a gzip-compressed newc cpio archive, as the kernel
// would unpack it. It is used by tests and `passgate` to check a build.
func ListInitramfs(path string) ([]CPIOEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return readNewc(bufio.NewReader(zr))
}

func readNewc(r io.Reader) ([]CPIOEntry, error) {
	var out []CPIOEntry
	var off int64
	hdr := make([]byte, 110)
	// newc pads the header+name and the data each to 4 bytes.
	pad := func() error {
		if p := (4 - off%4) % 4; p > 0 {
			if _, err := io.CopyN(io.Discard, r, p); err != nil {
				return err
			}
			off += p
		}
		return nil
	}
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, fmt.Errorf("cpio header at %d: %w", off, err)
		}
		off += 110
		if string(hdr[:6]) != "070701" {
			return nil, fmt.Errorf("cpio: bad magic %q at %d", hdr[:6], off-110)
		}
		field := func(i int) (uint64, error) {
			return strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
		}
		mode, err := field(1)
		if err != nil {
			return nil, err
		}
		size, err := field(6)
		if err != nil {
			return nil, err
		}
		nameLen, err := field(11)
		if err != nil {
			return nil, err
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, err
		}
		off += int64(nameLen)
		if err := pad(); err != nil {
			return nil, err
		}
		e := CPIOEntry{Name: string(name[:len(name)-1]), Mode: uint32(mode), Size: int64(size)}
		if e.Name == "TRAILER!!!" {
			return out, nil
		}
		if e.IsSymlink() {
			target := make([]byte, size)
			if _, err := io.ReadFull(r, target); err != nil {
				return nil, err
			}
			e.Linkname = string(target)
		} else if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
			return nil, err
		}
		off += int64(size)
		if err := pad(); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}
