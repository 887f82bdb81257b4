package cpio

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Entry is one member of a newc archive.
type Entry struct {
	Name                 string
	Mode                 uint32 // including the file type bits
	UID, GID             uint32
	MTime                int64
	Size                 int64
	Linkname             string // symlink target
	RdevMajor, RdevMinor uint32 // a device node's numbers
	Data                 []byte // regular file contents, when read with contents
}

// IsDir, IsSymlink and IsRegular test the file type bits.
func (e Entry) IsDir() bool     { return e.Mode&TypeMask == TypeDir }
func (e Entry) IsSymlink() bool { return e.Mode&TypeMask == TypeSymlink }
func (e Entry) IsRegular() bool { return e.Mode&TypeMask == TypeRegular }

// ListGzip lists a gzip-compressed archive file, as the kernel would
// unpack it (see Read), without the file contents.
func ListGzip(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	es, err := Read(zr, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return es, nil
}

// Read lists the members of one or more concatenated newc archives, with
// the regular files' contents if withData. A name that occurs again (a
// later archive replacing a file) is listed again; the last entry is what
// the kernel leaves in place.
func Read(r io.Reader, withData bool) ([]Entry, error) {
	br := bufio.NewReader(r)
	var out []Entry
	var off int64
	hdr := make([]byte, 110)
	// newc pads the header+name and the data each to 4 bytes.
	pad := func() error {
		if p := (4 - off%4) % 4; p > 0 {
			if _, err := io.CopyN(io.Discard, br, p); err != nil {
				return err
			}
			off += p
		}
		return nil
	}
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			return nil, fmt.Errorf("cpio header at %d: %w", off, err)
		}
		if string(hdr[:6]) != "070701" {
			return nil, fmt.Errorf("cpio: bad magic %q at %d", hdr[:6], off)
		}
		off += 110
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("cpio header at %d, field %d: %w", off-110, i, err)
			}
			f[i] = uint32(v)
		}
		mode, uid, gid, mtime, size, rmaj, rmin, nameLen := f[1], f[2], f[3], f[5], f[6], f[9], f[10], f[11]
		if nameLen == 0 {
			return nil, fmt.Errorf("cpio header at %d: empty name", off-110)
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(br, name); err != nil {
			return nil, err
		}
		off += int64(nameLen)
		if err := pad(); err != nil {
			return nil, err
		}
		e := Entry{Name: string(name[:len(name)-1]), Mode: mode, UID: uid, GID: gid, MTime: int64(mtime), Size: int64(size), RdevMajor: rmaj, RdevMinor: rmin}
		if e.Name == trailer {
			// Another archive may follow (the kernel unpacks them all, in
			// order), after zero padding.
			more, err := skipZeros(br, &off)
			if err != nil || !more {
				return out, err
			}
			continue
		}
		if e.IsSymlink() || e.IsRegular() && withData {
			data := make([]byte, size)
			if _, err := io.ReadFull(br, data); err != nil {
				return nil, err
			}
			if e.IsSymlink() {
				e.Linkname = string(data)
			} else {
				e.Data = data
			}
		} else if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
			return nil, err
		}
		off += int64(size)
		if err := pad(); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// skipZeros reads past zero bytes and reports whether more data follows.
func skipZeros(r *bufio.Reader, off *int64) (bool, error) {
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if b != 0 {
			if *off%4 != 0 {
				return false, fmt.Errorf("cpio: archive at %d does not start on a 4-byte boundary", *off)
			}
			return true, r.UnreadByte()
		}
		*off++
	}
}
