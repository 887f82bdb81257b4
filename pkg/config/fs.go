package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// FS is the small set of file operations Store needs. Names are
// slash-separated and relative to the store's directory ("." is the
// directory itself). Tests substitute an implementation that can crash
// after any step.
type FS interface {
	ReadFile(name string) ([]byte, error)
	// Create creates or truncates name for writing.
	Create(name string) (File, error)
	// Rename replaces newname by oldname.
	Rename(oldname, newname string) error
	Remove(name string) error
	// ReadDir lists the names of the entries of dir.
	ReadDir(dir string) ([]string, error)
	MkdirAll(dir string) error
	// SyncDir makes renames, creations and removals in dir durable.
	SyncDir(dir string) error
}

// File is a file open for writing.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// DirFS returns the FS of the operating system rooted at dir.
func DirFS(dir string) FS { return osFS(dir) }

type osFS string

func (d osFS) path(name string) string { return filepath.Join(string(d), filepath.FromSlash(name)) }

func (d osFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(d.path(name)) }

func (d osFS) Create(name string) (File, error) {
	return os.OpenFile(d.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

func (d osFS) Rename(oldname, newname string) error {
	return os.Rename(d.path(oldname), d.path(newname))
}

func (d osFS) Remove(name string) error { return os.Remove(d.path(name)) }

func (d osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(d.path(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (d osFS) MkdirAll(dir string) error { return os.MkdirAll(d.path(dir), 0o755) }

func (d osFS) SyncDir(dir string) error {
	f, err := os.Open(d.path(dir))
	if err != nil {
		return err
	}
	err = f.Sync()
	if errors.Is(err, syscall.EINVAL) {
		// Some filesystems cannot fsync a directory; their metadata
		// is written with the files' own fsync.
		err = nil
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
