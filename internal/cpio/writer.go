package cpio

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// File type bits of the mode field (the st_mode layout).
const (
	TypeMask    = 0o170000
	TypeSocket  = 0o140000
	TypeSymlink = 0o120000
	TypeRegular = 0o100000
	TypeBlock   = 0o060000
	TypeDir     = 0o040000
	TypeChar    = 0o020000
	TypeFIFO    = 0o010000
)

// header is one member's newc header fields that the writer sets.
type header struct {
	name               string
	mode               uint32 // type and permission bits
	uid, gid           uint32
	mtime              int64
	size               int64
	rdevMajor, rdevMin uint32
}

// Writer writes a newc archive. Members written with Dir, File, AddFile
// and Symlink are owned by root with time 0, and inode numbers increase
// from a fixed start, so equal input gives an equal archive. Tree does
// the same unless HostMetadata is set. Errors are sticky: the first one
// stops the writing and Close returns it.
type Writer struct {
	// HostMetadata makes Tree record the host files' owner, group and
	// modification time (a root file system, e.g. a debootstrap tree).
	HostMetadata bool

	w     io.Writer
	off   int64
	ino   uint32
	dirs  map[string]bool
	count int
	err   error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	// Inode numbers start high, clear of those of an archive this one
	// may be appended to.
	return &Writer{w: w, ino: 1 << 20, dirs: map[string]bool{}}
}

// Count is the number of members written so far (the trailer excluded).
func (c *Writer) Count() int { return c.count }

func (c *Writer) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.off += int64(n)
	c.err = err
}

// pad writes zeros up to the next multiple of n bytes.
func (c *Writer) pad(n int64) {
	if p := (n - c.off%n) % n; p > 0 {
		c.write(make([]byte, p))
	}
}

func (c *Writer) header(h header) {
	if c.err != nil {
		return
	}
	if h.size > 0xFFFFFFFF {
		c.err = fmt.Errorf("cpio: %s: %d bytes is too large for a newc archive", h.name, h.size)
		return
	}
	c.ino++
	nlink := 1
	if h.mode&TypeMask == TypeDir {
		nlink = 2
	}
	s := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, h.mode, h.uid, h.gid, nlink, uint32(h.mtime), h.size, 0, 0, h.rdevMajor, h.rdevMin, len(h.name)+1, 0)
	c.write([]byte(s))
	c.write(append([]byte(h.name), 0))
	c.pad(4)
	if h.name != trailer {
		c.count++
	}
}

// parents adds the directories above name that were not added yet.
func (c *Writer) parents(name string) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			c.Dir(name[:i])
		}
	}
}

// Dir adds a directory (0755) once, with its parents.
func (c *Writer) Dir(name string) {
	c.dir(header{name: name, mode: TypeDir | 0o755})
}

func (c *Writer) dir(h header) {
	if c.dirs[h.name] {
		return
	}
	c.parents(h.name)
	c.dirs[h.name] = true
	c.header(h)
}

// File adds a regular file holding data with permissions perm (and its
// parent directories).
func (c *Writer) File(name string, perm uint32, data []byte) {
	c.parents(name)
	c.header(header{name: name, mode: TypeRegular | perm&0o7777, size: int64(len(data))})
	c.write(data)
	c.pad(4)
}

// AddFile adds the host's regular file src as name with permissions perm.
func (c *Writer) AddFile(name, src string, perm uint32) {
	if c.err != nil {
		return
	}
	fi, err := os.Stat(src)
	if err != nil {
		c.err = err
		return
	}
	c.parents(name)
	c.copyFile(header{name: name, mode: TypeRegular | perm&0o7777, size: fi.Size()}, src)
}

// copyFile writes h and the contents of the host file src, which must
// still have h.size bytes.
func (c *Writer) copyFile(h header, src string) {
	c.header(h)
	if c.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		c.err = err
		return
	}
	defer f.Close()
	n, err := io.Copy(c.w, io.LimitReader(f, h.size+1))
	c.off += n
	switch {
	case err != nil:
		c.err = fmt.Errorf("cpio: reading %s: %w", src, err)
	case n != h.size:
		c.err = fmt.Errorf("cpio: %s changed size while it was archived", src)
	}
	c.pad(4)
}

// Symlink adds a symbolic link (and its parent directories).
func (c *Writer) Symlink(name, target string) {
	c.parents(name)
	c.symlink(header{name: name, mode: TypeSymlink | 0o777}, target)
}

func (c *Writer) symlink(h header, target string) {
	h.size = int64(len(target))
	c.header(h)
	c.write([]byte(target))
	c.pad(4)
}

// CharDev adds a character device node with permissions perm (and its
// parent directories): the kernel makes it as it unpacks the archive.
func (c *Writer) CharDev(name string, perm, major, minor uint32) {
	c.parents(name)
	c.header(header{name: name, mode: TypeChar | perm&0o7777, rdevMajor: major, rdevMin: minor})
}

// Tree adds the tree under the host directory dir at prefix ("" for the
// archive's root), in name order: directories, regular files (hard
// links become separate files), symlinks, device nodes and FIFOs, with
// their permission bits including setuid, setgid and sticky. Sockets are
// left out.
func (c *Writer) Tree(dir, prefix string) {
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
		name := path.Join(prefix, filepath.ToSlash(rel))
		if rel == "." {
			if prefix == "" {
				return nil
			}
			name = prefix
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		c.parents(name)
		return c.entry(name, p, fi)
	})
}

// entry adds the host file p (described by fi) as name.
func (c *Writer) entry(name, p string, fi fs.FileInfo) error {
	m := fi.Mode()
	h := header{name: name, mode: uint32(m.Perm())}
	if m&fs.ModeSetuid != 0 {
		h.mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		h.mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		h.mode |= 0o1000
	}
	st := statOf(fi)
	if c.HostMetadata {
		h.uid, h.gid, h.mtime = st.uid, st.gid, fi.ModTime().Unix()
	}
	switch {
	case m.IsDir():
		h.mode |= TypeDir
		c.dir(h)
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		h.mode = TypeSymlink | 0o777
		c.symlink(h, target)
	case m.IsRegular():
		h.mode |= TypeRegular
		h.size = fi.Size()
		c.copyFile(h, p)
	case m&fs.ModeCharDevice != 0:
		h.mode |= TypeChar
		h.rdevMajor, h.rdevMin = st.major, st.minor
		c.header(h)
	case m&fs.ModeDevice != 0:
		h.mode |= TypeBlock
		h.rdevMajor, h.rdevMin = st.major, st.minor
		c.header(h)
	case m&fs.ModeNamedPipe != 0:
		h.mode |= TypeFIFO
		c.header(h)
	case m&fs.ModeSocket != 0:
		// A socket is made by the program that listens on it.
	default:
		return fmt.Errorf("cpio: %s: unsupported file type %v", p, m.Type())
	}
	return c.err
}

const trailer = "TRAILER!!!"

// Close writes the trailer and pads the archive to a multiple of 512
// bytes, as GNU cpio does. It does not close the underlying writer.
func (c *Writer) Close() error {
	c.header(header{name: trailer})
	c.pad(512)
	return c.err
}
