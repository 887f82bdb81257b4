package sshd_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

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
	if !bytes.Equal(first.Signer.PublicKey().Marshal(), again.Signer.PublicKey().Marshal()) {
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
	if bytes.Equal(first.Signer.PublicKey().Marshal(), fresh.Signer.PublicKey().Marshal()) {
		t.Error("the key made after RemoveHostKey is the old one")
	}
}

func notices(hk *sshd.HostKey) string { return strings.Join(hk.Notices, "\n") }

// A damaged host key no longer disables SSH: it is moved aside and a new
// key is made, loudly.
func TestDamagedHostKeyIsReplaced(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM, err := ssh.MarshalPrivateKey(rsaKey, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, content, why string
	}{
		{"garbage", "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage", "damaged"},
		{"empty", "", "damaged"},
		{"truncated", "", "damaged"}, // filled below
		{"rsa", string(pem.EncodeToMemory(rsaPEM)), "holds a ssh-rsa key, not ssh-ed25519"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			good, err := sshd.LoadOrCreateHostKey(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, sshd.HostKeyFile)
			content := c.content
			if c.name == "truncated" {
				b, _ := os.ReadFile(path)
				content = string(b[:len(b)/2])
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			hk, err := sshd.LoadOrCreateHostKey(dir)
			if err != nil {
				t.Fatalf("a damaged key made LoadOrCreateHostKey fail: %v", err)
			}
			if bytes.Equal(hk.Signer.PublicKey().Marshal(), good.Signer.PublicKey().Marshal()) {
				t.Fatal("the key is the old one")
			}
			if hk.Signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
				t.Errorf("new key type %s", hk.Signer.PublicKey().Type())
			}
			n := notices(hk)
			for _, want := range []string{"host key " + path + " is damaged", c.why, "moved to " + path + ".damaged", "made a new host key " + hk.Fingerprint(), "clients will warn"} {
				if !strings.Contains(n, want) {
					t.Errorf("notices lack %q:\n%s", want, n)
				}
			}
			if kept, err := os.ReadFile(path + ".damaged"); err != nil || string(kept) != content {
				t.Errorf("the damaged key was not kept aside: %v", err)
			}
			again, err := sshd.LoadOrCreateHostKey(dir)
			if err != nil || !bytes.Equal(again.Signer.PublicKey().Marshal(), hk.Signer.PublicKey().Marshal()) {
				t.Errorf("the new key was not saved: %v", err)
			}
			if strings.Contains(notices(again), "damaged") {
				t.Errorf("notices after the repair: %s", notices(again))
			}
		})
	}
}

// A key that cannot be saved is kept in memory, and said so: SSH still
// works.
func TestUnsavableHostKeyIsKeptInMemory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hk, err := sshd.LoadOrCreateHostKey(filepath.Join(file, "keys")) // a directory under a file
	if err != nil {
		t.Fatal(err)
	}
	if !hk.Ephemeral || !strings.Contains(notices(hk), "cannot save the new host key "+hk.Fingerprint()) ||
		!strings.Contains(notices(hk), "kept in memory only") {
		t.Errorf("ephemeral %v, notices:\n%s", hk.Ephemeral, notices(hk))
	}
}

// A key directory in RAM (routerd's fallback when the boot partition is
// not mounted) makes a new key at every boot: said loudly.
func TestHostKeyInRAMIsSaid(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "passgate-hostkey-")
	if err != nil {
		t.Fatalf("this test needs /dev/shm (tmpfs): %v", err)
	}
	defer os.RemoveAll(dir)
	hk, err := sshd.LoadOrCreateHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !hk.Ephemeral || !strings.Contains(notices(hk), "is in RAM (tmpfs), so the host key is new at every boot") {
		t.Errorf("ephemeral %v, notices:\n%s", hk.Ephemeral, notices(hk))
	}
	again, err := sshd.LoadOrCreateHostKey(dir)
	if err != nil || !bytes.Equal(again.Signer.PublicKey().Marshal(), hk.Signer.PublicKey().Marshal()) {
		t.Errorf("the key in RAM is not kept until the reboot: %v", err)
	}
	if !again.Ephemeral {
		t.Error("a key loaded from RAM is not said to be ephemeral")
	}
}
