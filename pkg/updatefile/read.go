package updatefile

import (
	"archive/tar"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Why an update file is refused, for errors.Is; the error's text says the
// details in words.
var (
	ErrNotUpdate  = errors.New("not a passgate update file")
	ErrNotTrusted = errors.New("not signed by a key this router trusts")
	ErrWrongBoard = errors.New("made for another board")
	ErrDamaged    = errors.New("damaged or tampered with")
	ErrTruncated  = errors.New("truncated")
)

// Options says what Read accepts.
type Options struct {
	// Keys are the public keys the router trusts (built into its image).
	Keys []ed25519.PublicKey
	// Board is this router's board: an update for another is refused.
	Board string
}

// Read reads an update file from r. It checks the manifest's signature
// and board before anything else, then calls sink with each file in turn
// and a reader of exactly its bytes; the file's hash is checked as the
// reader reaches its end (an error from that reader means the bytes read
// so far must not be used). Read returns the manifest only when every
// file matched; on any error, whatever sink kept must be thrown away.
// sink need not read its file to the end: Read reads and checks the rest.
func Read(r io.Reader, o Options, sink func(f File, r io.Reader) error) (*Manifest, error) {
	if len(o.Keys) == 0 {
		return nil, fmt.Errorf("%w: this router trusts no update key", ErrNotTrusted)
	}
	tr := tar.NewReader(r)
	raw, err := entry(tr, manifestName, MaxManifest)
	if err != nil {
		return nil, err
	}
	sig, err := entry(tr, signatureName, ed25519.SignatureSize)
	if err != nil {
		return nil, err
	}
	signed := append([]byte(domain), raw...)
	var ok bool
	for _, k := range o.Keys {
		if len(k) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, signed, sig) {
			ok = true
			break
		}
	}
	if !ok {
		ids := make([]string, len(o.Keys))
		for i, k := range o.Keys {
			ids[i] = KeyID(k)
		}
		return nil, fmt.Errorf("%w (it trusts key %s): build updates with the key this router's image was built with, or install an image that trusts the new key",
			ErrNotTrusted, strings.Join(ids, ", "))
	}
	m, err := parseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: signed, but %v", ErrNotUpdate, err)
	}
	if m.Board != o.Board {
		return nil, fmt.Errorf("%w: the update is for %s, this router is %s", ErrWrongBoard, m.Board, o.Board)
	}
	for _, f := range m.Files {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: %s is missing (%v)", ErrTruncated, f.Name, eofWords(err))
		}
		if h.Name != f.Name || h.Typeflag != tar.TypeReg || h.Size != f.Size {
			return nil, fmt.Errorf("%w: found %q (%d bytes) where the manifest lists %s (%d bytes)", ErrDamaged, h.Name, h.Size, f.Name, f.Size)
		}
		fr := &fileReader{r: tr, f: f, h: sha256.New()}
		if err := sink(f, fr); err != nil {
			if fr.err != nil {
				return nil, fr.err
			}
			return nil, fmt.Errorf("update file: %s: %w", f.Name, err)
		}
		if _, err := io.Copy(io.Discard, fr); err != nil {
			return nil, err
		}
	}
	if h, err := tr.Next(); err == nil {
		return nil, fmt.Errorf("%w: an entry %q after the manifest's files", ErrDamaged, h.Name)
	} else if err != io.EOF {
		return nil, fmt.Errorf("%w: after the files: %v", ErrDamaged, err)
	}
	return m, nil
}

// entry reads the next tar entry, which must be a regular file called
// name of at most max bytes.
func entry(tr *tar.Reader, name string, max int64) ([]byte, error) {
	h, err := tr.Next()
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: no %s (%v)", ErrNotUpdate, name, eofWords(err))
		}
		return nil, fmt.Errorf("%w: %v", ErrNotUpdate, err)
	}
	if h.Name != name || h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: the first entries must be %s and %s, found %q", ErrNotUpdate, manifestName, signatureName, h.Name)
	}
	if h.Size > max {
		return nil, fmt.Errorf("%w: %s of %d bytes; at most %d allowed", ErrNotUpdate, name, h.Size, max)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTruncated, name, eofWords(err))
	}
	return b, nil
}

func eofWords(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "the file ends early"
	}
	return err.Error()
}

// fileReader hands out one file's bytes and checks them at the end.
type fileReader struct {
	r   io.Reader
	f   File
	h   hash.Hash
	n   int64
	err error // sticky: the file is short or does not match
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	switch {
	case err == io.EOF && r.n < r.f.Size, err == io.ErrUnexpectedEOF:
		r.err = fmt.Errorf("%w: %s has %d of its %d bytes", ErrTruncated, r.f.Name, r.n, r.f.Size)
	case err == io.EOF:
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.f.SHA256 {
			r.err = fmt.Errorf("%w: %s does not match its signed SHA-256 (%s…, signed %s…)", ErrDamaged, r.f.Name, got[:12], r.f.SHA256[:12])
		}
	case err != nil:
		r.err = fmt.Errorf("update file: %s: %w", r.f.Name, err)
	}
	if r.err != nil {
		return n, r.err
	}
	return n, err
}
