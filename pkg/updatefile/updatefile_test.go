package updatefile

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	seedKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	otherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	made     = time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// slotFiles are a boot slot's files: a kernel, an initramfs, a DTB.
func slotFiles() map[string][]byte {
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i*31 + i>>9)
	}
	return map[string][]byte{"vmlinuz": big[:123_457], "initramfs.cpio.gz": big, "bcm2711-rpi-4-b.dtb": []byte("dtb")}
}

var order = []string{"vmlinuz", "initramfs.cpio.gz", "bcm2711-rpi-4-b.dtb"}

func sources(files map[string][]byte) []Source {
	var s []Source
	for _, n := range order {
		b := files[n]
		s = append(s, Source{Name: n, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
	}
	return s
}

func build(t testing.TB, key ed25519.PrivateKey, board string) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := Write(&b, key, board, "1.2.0", made, sources(slotFiles())); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// collect reads an update the way the router does: each file into memory
// (the inactive slot), kept only if Read succeeds.
func collect(b []byte, o Options) (*Manifest, map[string][]byte, int, error) {
	got := map[string][]byte{}
	calls := 0
	m, err := Read(bytes.NewReader(b), o, func(f File, r io.Reader) error {
		calls++
		data, err := io.ReadAll(r)
		got[f.Name] = data
		return err
	})
	return m, got, calls, err
}

var trusting = Options{Keys: []ed25519.PublicKey{pub(seedKey)}, Board: "rpi4"}

func TestRoundTrip(t *testing.T) {
	b := build(t, seedKey, "rpi4")
	m, got, _, err := collect(b, Options{Keys: []ed25519.PublicKey{pub(otherKey), pub(seedKey)}, Board: "rpi4"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Board != "rpi4" || m.Version != "1.2.0" || !m.Created.Equal(made) || len(m.Files) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for n, want := range slotFiles() {
		if !bytes.Equal(got[n], want) {
			t.Errorf("%s: %d bytes, want %d", n, len(got[n]), len(want))
		}
	}
	for i, f := range m.Files {
		if f.Name != order[i] {
			t.Errorf("file %d is %s, want %s", i, f.Name, order[i])
		}
	}
}

// The attacker's attempts, each refused for the right reason; the ones
// refused before the files never reach the sink.
func TestRefused(t *testing.T) {
	good := build(t, seedKey, "rpi4")
	offset := func(name string) int { // where a file's data starts
		tr := tar.NewReader(bytes.NewReader(good))
		pos := 0
		for {
			h, err := tr.Next()
			if err != nil {
				t.Fatal(err)
			}
			pos += 512
			if h.Name == name {
				return pos
			}
			pos += int(h.Size+511) / 512 * 512
		}
	}
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x40
		return b
	}
	// resign builds a file whose manifest the key holder signed but which
	// is still refused (a path, an unknown field, a newer format).
	resign := func(edit func(m map[string]any)) []byte {
		var m map[string]any
		raw, _ := entryOf(good, manifestName)
		json.Unmarshal(raw, &m)
		edit(m)
		raw, _ = json.Marshal(m)
		return rebuild(good, raw, ed25519.Sign(seedKey, append([]byte(domain), raw...)))
	}
	tests := []struct {
		name      string
		file      []byte
		o         Options
		want      error
		reachSink bool
	}{
		{"signed by another key", build(t, otherKey, "rpi4"), trusting, ErrNotTrusted, false},
		{"no trusted keys", good, Options{Board: "rpi4"}, ErrNotTrusted, false},
		{"for another board", build(t, seedKey, "rock-pi-e"), trusting, ErrWrongBoard, false},
		{"manifest edited after signing", flip(offset(manifestName) + 20), trusting, ErrNotTrusted, false},
		{"signature edited", flip(offset(signatureName) + 3), trusting, ErrNotTrusted, false},
		{"kernel byte changed", flip(offset("vmlinuz") + 1000), trusting, ErrDamaged, true},
		{"last file's byte changed", flip(offset("bcm2711-rpi-4-b.dtb") + 1), trusting, ErrDamaged, true},
		{"a path in the manifest", resign(func(m map[string]any) {
			m["files"].([]any)[0].(map[string]any)["name"] = "../../boot/vmlinuz"
		}), trusting, ErrNotUpdate, false},
		{"an unknown signed field", resign(func(m map[string]any) { m["run"] = "rm -rf /" }), trusting, ErrNotUpdate, false},
		{"a newer format", resign(func(m map[string]any) { m["format"] = 2 }), trusting, ErrNotUpdate, false},
		{"a huge file listed", resign(func(m map[string]any) {
			m["files"].([]any)[0].(map[string]any)["size"] = MaxFileSize + 1
		}), trusting, ErrNotUpdate, false},
		{"an extra entry after the files", appendEntry(good, "evil.sh", []byte("#!/bin/sh\n")), trusting, ErrDamaged, true},
		{"not a tar", []byte("MZ\x90\x00 this is not an update"), trusting, ErrNotUpdate, false},
		{"empty", nil, trusting, ErrNotUpdate, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, calls, err := collect(tc.file, tc.o)
			if !errors.Is(err, tc.want) || m != nil {
				t.Fatalf("err %v (manifest %v), want %v", err, m, tc.want)
			}
			if !tc.reachSink && calls > 0 {
				t.Errorf("the sink got %d files of a file refused before its files", calls)
			}
			t.Log(err)
		})
	}
}

func TestTruncatedAnywhere(t *testing.T) {
	good := build(t, seedKey, "rpi4")
	// The last file's data ends before the tar's padding and trailer;
	// every cut before it must fail.
	end := len(good) - 1024 - 512
	for cut := 0; cut < end; cut += 509 {
		m, _, _, err := collect(good[:cut], trusting)
		if err == nil || m != nil {
			t.Fatalf("cut at %d of %d: accepted", cut, len(good))
		}
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrNotUpdate) {
			t.Fatalf("cut at %d: %v, want truncated", cut, err)
		}
	}
}

func TestSinkReadingPartOfAFile(t *testing.T) {
	good := build(t, seedKey, "rpi4")
	// A sink that stops early still gets the whole file checked.
	_, err := Read(bytes.NewReader(good), trusting, func(f File, r io.Reader) error {
		_, err := io.ReadFull(r, make([]byte, min(10, f.Size)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(good, slotFiles()["initramfs.cpio.gz"][290_000:290_100])
	bad := bytes.Clone(good)
	bad[i] ^= 1
	_, err = Read(bytes.NewReader(bad), trusting, func(f File, r io.Reader) error {
		_, err := io.ReadFull(r, make([]byte, min(10, f.Size)))
		return err
	})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("a change past what the sink read: %v", err)
	}
}

func TestSinkErrorStops(t *testing.T) {
	calls := 0
	_, err := Read(bytes.NewReader(build(t, seedKey, "rpi4")), trusting, func(f File, r io.Reader) error {
		calls++
		return errors.New("no space left on the boot partition")
	})
	if err == nil || !strings.Contains(err.Error(), "vmlinuz: no space left") || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestWriteRefusesAChangingFile(t *testing.T) {
	n := 0
	src := Source{Name: "vmlinuz", Open: func() (io.ReadCloser, error) {
		n++
		return io.NopCloser(strings.NewReader(strings.Repeat("k", 100+n))), nil
	}}
	if _, err := Write(io.Discard, seedKey, "rpi4", "1", made, []Source{src}); err == nil {
		t.Fatal("a file that grew between the passes was written")
	}
	if _, err := Write(io.Discard, seedKey, "rpi4", "1", made, []Source{{Name: "a/b", Open: src.Open}}); err == nil {
		t.Fatal("a path was accepted as a file name")
	}
}

func TestKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "update-signing-key.pem")
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("first use: %v created %v", err, created)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", st.Mode(), err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || !k1.Equal(k2) {
		t.Fatalf("second use: %v created %v same %v", err, created, k1.Equal(k2))
	}
	pems := append(MarshalPublicKey(pub(otherKey)), MarshalPublicKey(pub(k1))...)
	keys, err := ParsePublicKeys(pems)
	if err != nil || len(keys) != 2 || !keys[1].Equal(pub(k1)) {
		t.Fatalf("public keys %v %v", keys, err)
	}
	if _, err := ParsePublicKeys([]byte("nothing")); err == nil {
		t.Fatal("no key accepted")
	}
	if id := KeyID(pub(k1)); len(id) != 16 {
		t.Fatalf("key id %q", id)
	}
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a damaged key file: %v", err)
	}
}

// entryOf returns a named entry's bytes.
func entryOf(b []byte, name string) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, err
		}
		if h.Name == name {
			return io.ReadAll(tr)
		}
	}
}

// rebuild copies an update with another manifest and signature.
func rebuild(b, manifest, sig []byte) []byte {
	return copyTar(b, map[string][]byte{manifestName: manifest, signatureName: sig}, "", nil)
}

// appendEntry copies an update with one more entry at the end.
func appendEntry(b []byte, name string, data []byte) []byte {
	return copyTar(b, nil, name, data)
}

// copyTar copies the tar b, entries named in replace getting new
// contents, and appends an entry extra (if not "").
func copyTar(b []byte, replace map[string][]byte, extra string, extraData []byte) []byte {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(tr)
		if r, ok := replace[h.Name]; ok {
			data = r
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	if extra != "" {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: extra, Size: int64(len(extraData)), Mode: 0o755})
		tw.Write(extraData)
	}
	tw.Close()
	return out.Bytes()
}

// sum is a file's SHA-256 in the manifest's form.
func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
