package config

import (
	"os"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// FS is the small set of file operations Store needs: atomicfile's, with
// which it replaces files, and reading. Names are slash-separated and
// relative to the store's directory ("." is the directory itself). Tests
// substitute an implementation that can crash after any step.
type FS interface {
	atomicfile.FS
	ReadFile(name string) ([]byte, error)
	// ReadDir lists the names of the entries of dir.
	ReadDir(dir string) ([]string, error)
	MkdirAll(dir string) error
}

// File is a file open for writing.
type File = atomicfile.File

// DirFS returns the FS of the operating system rooted at dir.
func DirFS(dir string) FS { return osFS{atomicfile.Dir{Path: dir, Perm: 0o644}} }

type osFS struct{ atomicfile.Dir }

// ReadFile reads at most MaxFileSize+1 bytes: decode refuses a larger
// file without it being read whole.
func (d osFS) ReadFile(name string) ([]byte, error) { return readBounded(d.Join(name)) }

func (d osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(d.Join(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (d osFS) MkdirAll(dir string) error { return os.MkdirAll(d.Join(dir), 0o755) }
