package updatefile

import (
	"archive/tar"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Source is one file to put in an update.
type Source struct {
	Name string
	Open func() (io.ReadCloser, error)
}

// SourceFile is the file at path, named name in the update.
func SourceFile(name, path string) Source {
	return Source{Name: name, Open: func() (io.ReadCloser, error) { return os.Open(path) }}
}

// Write writes an update file for board and version holding files, signed
// with key. Each file is read twice: once for its size and hash, once to
// copy it; a file that changes in between fails the write.
func Write(w io.Writer, key ed25519.PrivateKey, board, version string, created time.Time, files []Source) (*Manifest, error) {
	m := &Manifest{Format: Format, Board: board, Version: version, Created: created.UTC().Truncate(time.Second)}
	for _, s := range files {
		f, err := digest(s)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("update file: %w", err)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key, append([]byte(domain), raw...))
	tw := tar.NewWriter(w)
	mtime := m.Created
	for _, e := range []struct {
		name string
		data []byte
	}{{manifestName, raw}, {signatureName, sig}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o644, ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	for i, s := range files {
		f := m.Files[i]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Name, Size: f.Size, Mode: 0o644, ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
			return nil, err
		}
		rc, err := s.Open()
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(rc, f.Size+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("update file: %s: %w", f.Name, err)
		}
		if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			return nil, fmt.Errorf("update file: %s changed while the update was written", f.Name)
		}
	}
	return m, tw.Close()
}

// digest reads a source for its size and SHA-256.
func digest(s Source) (File, error) {
	rc, err := s.Open()
	if err != nil {
		return File{}, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(rc, MaxFileSize+1))
	if err != nil {
		return File{}, fmt.Errorf("update file: %s: %w", s.Name, err)
	}
	return File{Name: s.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
