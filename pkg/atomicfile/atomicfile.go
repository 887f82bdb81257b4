// Package atomicfile replaces small state files (DHCP leases, the WAN
// lease, the SSH host key) so that a power cut at any moment leaves either
// the old or the new content: the data goes to NAME.tmp, which is fsynced,
// renamed over NAME, and the directory is fsynced.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// Write replaces path with data.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteHook(path, data, perm, nil)
}

// WriteHook is Write with a hook that runs after the temporary file is
// durable and before the rename; an error from it aborts the write there,
// leaving the temporary file, as a crash at that moment would. Tests use it.
func WriteHook(path string, data []byte, perm os.FileMode, beforeRename func() error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if beforeRename != nil {
		if err := beforeRename(); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
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
