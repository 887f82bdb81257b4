package updatefile

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"strings"
	"testing"
)

// FuzzRead feeds Read arbitrary bytes: it never panics, never hands the
// sink more than a file's size, and accepts a file only if every byte it
// gave the sink matches the signed hashes.
func FuzzRead(f *testing.F) {
	// Small files: the fuzzer mutates the structure, not kilobytes of data.
	small := func(key ed25519.PrivateKey) []byte {
		var b bytes.Buffer
		src := func(name, data string) Source {
			return Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(data))), nil }}
		}
		if _, err := Write(&b, key, "rpi4", "1.2.0", made, []Source{src("vmlinuz", "kernel"), src("initramfs", "cpio")}); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	f.Add(small(seedKey))
	f.Add(small(otherKey))
	f.Add([]byte{})
	o := Options{Keys: []ed25519.PublicKey{pub(seedKey)}, Board: "rpi4"}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[string][]byte{}
		m, err := Read(bytes.NewReader(b), o, func(fl File, r io.Reader) error {
			data, err := io.ReadAll(io.LimitReader(r, fl.Size+1))
			if int64(len(data)) > fl.Size {
				t.Fatalf("%s: the sink got %d bytes of a %d-byte file", fl.Name, len(data), fl.Size)
			}
			got[fl.Name] = data
			return err
		})
		if err != nil {
			return
		}
		for _, fl := range m.Files {
			if sum(got[fl.Name]) != fl.SHA256 {
				t.Fatalf("accepted %s whose bytes do not match the manifest", fl.Name)
			}
		}
	})
}

// FuzzManifest feeds the manifest parser (reached only with a valid
// signature) arbitrary bytes: it never panics, and what it accepts obeys
// the bounds and names a file once, without a path.
func FuzzManifest(f *testing.F) {
	raw, _ := entryOf(build(f, seedKey, "rpi4"), manifestName)
	f.Add(raw)
	f.Add([]byte(`{"format":1,"board":"rpi4","version":"1","created":"2026-12-04T03:00:00Z","files":[{"name":"a","size":0,"sha256":"` +
		strings.Repeat("0", 64) + `"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseManifest(b)
		if err != nil {
			return
		}
		var total int64
		seen := map[string]bool{}
		for _, fl := range m.Files {
			if seen[fl.Name] || strings.ContainsAny(fl.Name, "/\\\x00") || fl.Name == ".." || fl.Size < 0 || fl.Size > MaxFileSize {
				t.Fatalf("accepted %+v", fl)
			}
			seen[fl.Name] = true
			total += fl.Size
		}
		if total > MaxTotal || len(m.Files) > MaxFiles || m.Format != Format {
			t.Fatalf("accepted %+v", m)
		}
	})
}
