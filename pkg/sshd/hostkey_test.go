package sshd_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/passgate/passgate/pkg/sshd"
)

func TestRemoveHostKeyMakesANewKey(t *testing.T) {
	dir := t.TempDir()
	if err := sshd.RemoveHostKey(dir); err != nil {
		t.Errorf("no key yet: %v", err)
	}
	first, err := sshd.LoadOrCreateHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := sshd.LoadOrCreateHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.PublicKey().Marshal(), again.PublicKey().Marshal()) {
		t.Fatal("the key changed without a removal")
	}
	if err := sshd.RemoveHostKey(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{sshd.HostKeyFile, sshd.HostKeyFile + ".pub"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after RemoveHostKey (%v)", name, err)
		}
	}
	fresh, err := sshd.LoadOrCreateHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first.PublicKey().Marshal(), fresh.PublicKey().Marshal()) {
		t.Error("the key made after RemoveHostKey is the old one")
	}
}
