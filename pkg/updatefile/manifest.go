package updatefile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Format is the manifest format this package writes and reads.
const Format = 1

// Bounds on what an update file may hold; more is refused before it is
// read.
const (
	MaxManifest = 64 << 10 // bytes of manifest.json
	MaxFiles    = 64
	MaxFileSize = 512 << 20 // one file (a kernel, an initramfs, a DTB)
	MaxTotal    = 1 << 30   // all files together
)

// Manifest describes an update: what it is for and what it holds.
type Manifest struct {
	Format  int       `json:"format"`
	Board   string    `json:"board"`
	Version string    `json:"version"`
	Created time.Time `json:"created"`
	Files   []File    `json:"files"`
}

// File is one file of the boot slot.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// Names of files, boards and versions: a plain word, so no path, no
// control character and nothing a shell or a FAT file system minds. A
// letter or digit, then up to 63 letters, digits and the punctuation given
// (file names: "._+-", boards and versions also "~"). Written out rather
// than as regular expressions: `{0,63}` compiles to 63 copies of the
// class, and routerd's processes built both at start-up (1,700
// allocations, 13-20 ms under QEMU's emulation).
func plainWord(s, punct string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && strings.IndexByte(punct, c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isFileName(s string) bool { return plainWord(s, "._+-") }
func isWord(s string) bool     { return plainWord(s, "._+~-") }

// Names reserved for the manifest and its signature.
const (
	manifestName  = "manifest.json"
	signatureName = "manifest.sig"
)

// check says what is wrong with m, if anything.
func (m *Manifest) check() error {
	if m.Format != Format {
		return fmt.Errorf("manifest format %d; this router reads format %d (a newer passgate made it: update in steps)", m.Format, Format)
	}
	if !isWord(m.Board) {
		return fmt.Errorf("manifest board %q is not a board name", m.Board)
	}
	if !isWord(m.Version) {
		return fmt.Errorf("manifest version %q is not a version (letters, digits, . _ + ~ -, up to 64)", m.Version)
	}
	if len(m.Files) == 0 || len(m.Files) > MaxFiles {
		return fmt.Errorf("manifest lists %d files; 1 to %d allowed", len(m.Files), MaxFiles)
	}
	seen := make(map[string]bool, len(m.Files))
	var total int64
	for _, f := range m.Files {
		switch {
		case !isFileName(f.Name) || f.Name == manifestName || f.Name == signatureName:
			return fmt.Errorf("manifest file name %q: a plain name of letters, digits, . _ + - is allowed (no directories)", f.Name)
		case seen[f.Name]:
			return fmt.Errorf("manifest lists %s twice", f.Name)
		case f.Size < 0 || f.Size > MaxFileSize:
			return fmt.Errorf("manifest file %s of %d bytes; at most %d allowed", f.Name, f.Size, MaxFileSize)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 || hex.EncodeToString(b) != f.SHA256 {
			return fmt.Errorf("manifest file %s: sha256 %q is not 64 lower-case hex digits", f.Name, f.SHA256)
		}
		seen[f.Name] = true
		total += f.Size
	}
	if total > MaxTotal {
		return fmt.Errorf("manifest files total %d bytes; at most %d allowed", total, MaxTotal)
	}
	return nil
}

// parseManifest decodes and checks a manifest; unknown fields are refused
// (a signed field this reader would ignore could matter).
func parseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %v", err)
	}
	if d.More() {
		return nil, fmt.Errorf("manifest: data after the JSON object")
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}
