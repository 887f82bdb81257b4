package firmware

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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

// readNewc lists the members of one or more concatenated newc archives.
// A name that occurs again (a later archive replacing a file) is listed
// again; the last entry is what the kernel leaves in place.
func readNewc(r *bufio.Reader) ([]CPIOEntry, error) {
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
			// Another archive may follow (the kernel unpacks them all, in
			// order), after zero padding.
			more, err := skipZeros(r, &off)
			if err != nil || !more {
				return out, err
			}
			continue
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

// cpioWriter writes a newc archive with the owner root, time 0 and
// increasing inode numbers, so equal input gives an equal archive.
type cpioWriter struct {
	w    io.Writer
	off  int64
	ino  uint32
	dirs map[string]bool
	err  error
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, ino: 1 << 20, dirs: map[string]bool{}}
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if p := (4 - c.off%4) % 4; p > 0 {
		c.write(make([]byte, p))
	}
}

func (c *cpioWriter) header(name string, mode uint32, size int64) {
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(h))
	c.write(append([]byte(name), 0))
	c.pad()
}

// parents adds the directories above name that were not added yet.
func (c *cpioWriter) parents(name string) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			c.Dir(name[:i])
		}
	}
}

// Dir adds a directory (0755) once.
func (c *cpioWriter) Dir(name string) {
	if c.dirs[name] {
		return
	}
	c.parents(name)
	c.dirs[name] = true
	c.header(name, 0o040755, 0)
}

// File adds a regular file with permissions perm.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	c.parents(name)
	c.header(name, 0o100000|perm&0o7777, int64(len(data)))
	c.write(data)
	c.pad()
}

// Symlink adds a symbolic link.
func (c *cpioWriter) Symlink(name, target string) {
	c.parents(name)
	c.header(name, 0o120777, int64(len(target)))
	c.write([]byte(target))
	c.pad()
}

// Tree adds the files under the host directory dir at prefix (regular
// files, directories and symlinks), in name order.
func (c *cpioWriter) Tree(dir, prefix string) {
	if c.err != nil {
		return
	}
	c.err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			if prefix != "" {
				c.Dir(prefix)
			}
			return nil
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			c.Dir(name)
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			c.Symlink(name, t)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			c.File(name, uint32(info.Mode().Perm()), data)
		default:
			return fmt.Errorf("cpio: %s is neither file, directory nor symlink", p)
		}
		return c.err
	})
}

// Close writes the trailer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0)
	return c.err
}
