// Package atomicfile replaces small state files (the configuration, DHCP
// leases, the WAN lease, the SSH host key) so that a power cut at any
// moment leaves either the old or the new content: the data goes to
// NAME.tmp, which is fsynced, renamed over NAME, and the directory is
// fsynced.
//
// Replace does this on an FS, so that tests can substitute one that
// models durability and crashes at every step; Write does it on the
// operating system's file system.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// TmpSuffix names the temporary file beside the one being replaced.
const TmpSuffix = ".tmp"

// FS is the file operations Replace needs. Names are slash-separated and
// relative to the FS's directory ("." is the directory itself).
type FS interface {
	// Create creates or truncates name for writing.
	Create(name string) (File, error)
	// Rename replaces newname by oldname.
	Rename(oldname, newname string) error
	Remove(name string) error
	// SyncDir makes renames, creations and removals in dir durable.
	SyncDir(dir string) error
}

// File is a file open for writing.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// Replace replaces name in fsys with data: it writes and fsyncs
// name.tmp, runs beforeRename (if not nil), renames name.tmp over name
// and fsyncs the directory. An error from beforeRename is returned as it
// is and leaves the temporary file, as a crash at that moment would;
// other errors name the step and remove the temporary file.
func Replace(fsys FS, name string, data []byte, beforeRename func() error) error {
	tmp := name + TmpSuffix
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if beforeRename != nil {
		if err := beforeRename(); err != nil {
			return err
		}
	}
	if err := fsys.Rename(tmp, name); err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, name, err)
	}
	if err := fsys.SyncDir(path.Dir(name)); err != nil {
		return fmt.Errorf("fsync directory %s: %w", path.Dir(name), err)
	}
	return nil
}

// Dir is the operating system's FS rooted at the directory Path; Create
// makes files with permissions Perm.
type Dir struct {
	Path string
	Perm os.FileMode
}

// Join returns the host path of name.
func (d Dir) Join(name string) string { return filepath.Join(d.Path, filepath.FromSlash(name)) }

func (d Dir) Create(name string) (File, error) {
	return os.OpenFile(d.Join(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, d.Perm)
}

// Rename renames oldname to newname, then fsyncs the file under its new
// name. On FAT (Linux's vfat) a rename over an existing file reuses that
// file's directory entry, and the entry gets the renamed file's size and
// first cluster only when the file's inode is written back: until then
// the name points at the replaced file's clusters, which the rename
// frees. The directory fsync that follows does not write the inode, so
// without this fsync a power cut up to half a minute after a "complete"
// replace leaves a broken file (seen in QEMU: passgate.conf pointing at
// freed clusters, passgate.conf.bak empty).
func (d Dir) Rename(oldname, newname string) error {
	if err := os.Rename(d.Join(oldname), d.Join(newname)); err != nil {
		return err
	}
	f, err := os.Open(d.Join(newname))
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d Dir) Remove(name string) error { return os.Remove(d.Join(name)) }

func (d Dir) SyncDir(dir string) error { return SyncDir(d.Join(dir)) }

// Write replaces the host file path with data.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteHook(path, data, perm, nil)
}

// WriteHook is Write with a hook that runs after the temporary file is
// durable and before the rename (see Replace). Tests use it.
func WriteHook(path string, data []byte, perm os.FileMode, beforeRename func() error) error {
	return Replace(Dir{filepath.Dir(path), perm}, filepath.Base(path), data, beforeRename)
}

// Remove deletes path (a missing file is fine) and makes that durable.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a rename or removal in dir durable. File systems that
// cannot fsync a directory (FAT on some kernels) say so with EINVAL; there
// is nothing more to do on those.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// ReadMax reads the file at path if it holds at most max bytes; a larger
// file is an error that says so, and is not read whole. It is the read
// side of the small state files written with Write.
func ReadMax(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}
