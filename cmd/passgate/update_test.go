package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/firmware"
	"github.com/passgate/passgate/pkg/updatefile"
)

// The update file of a build holds the slot's files (kernel, initramfs,
// device trees, not the boot loader's own files) and reads back only
// with the key and board it was made for.
func TestWriteUpdate(t *testing.T) {
	dir := t.TempDir()
	file := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b, err := board.Get("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	fw := &firmware.Result{Board: b, Version: "1.4.0", Kernel: file("Image", "kernel"), Initramfs: file("initramfs.cpio.gz", "cpio"),
		BootFiles: []firmware.BootFile{{Src: file("dtb", "tree"), Dst: "bcm2711-rpi-4-b.dtb"}, {Src: file("start4.elf", "gpu"), Dst: "start4.elf"}}}
	key, _, err := updatefile.LoadOrCreateKey(filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, updateName(b.Name, fw.Version))
	if _, err := writeUpdate(fw, key, path, time.Now()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	m, err := updatefile.Read(bytes.NewReader(data), updatefile.Options{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Board: "rpi4"},
		func(f updatefile.File, r io.Reader) error {
			b, err := io.ReadAll(r)
			got[f.Name] = string(b)
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Image": "kernel", "initramfs.cpio.gz": "cpio", "bcm2711-rpi-4-b.dtb": "tree"}
	if m.Version != "1.4.0" || len(got) != len(want) {
		t.Fatalf("manifest %+v, files %v", m, got)
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s: %q, want %q", n, got[n], w)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is left: %v", err)
	}
	_, err = updatefile.Read(bytes.NewReader(data), updatefile.Options{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Board: "rpi3"},
		func(updatefile.File, io.Reader) error { return nil })
	if !errors.Is(err, updatefile.ErrWrongBoard) {
		t.Fatalf("read on an rpi3: %v", err)
	}
}

func TestGitVersionIsAWord(t *testing.T) {
	root, err := firmware.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	v := gitVersion(root)
	if v == "" || len(v) > 64 || describeClean.MatchString(v) {
		t.Fatalf("version %q", v)
	}
	if gitVersion(t.TempDir()) != "dev" {
		t.Error("outside git the version is not dev")
	}
}
