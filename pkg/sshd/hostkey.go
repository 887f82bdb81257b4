package sshd

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// HostKeyFile is the name of the host key inside the key directory, in
// OpenSSH's private key format (ssh-keygen -l -f reads it). The public
// half is written beside it with ".pub" appended.
const HostKeyFile = "ssh_host_ed25519_key"

// LoadOrCreateHostKey returns the ed25519 host key kept in dir, creating
// it on first use. The new key is written power-loss safe (temporary file,
// fsync, rename, fsync of the directory), so a router that loses power
// while creating it finds either no key (and makes one) or a whole key.
// A key file that cannot be read as a key is reported, not replaced: the
// caller decides (logs it; the administrator may delete the file).
func LoadOrCreateHostKey(dir string) (ssh.Signer, error) {
	path := filepath.Join(dir, HostKeyFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		s, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("host key %s is damaged (%v); delete it to make a new one", path, err)
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "passgate host key")
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := writeAtomic(dir, HostKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("saving the host key: %w", err)
	}
	// The public key is for people (fingerprint checks); losing it is
	// harmless, it is derived again from the private key.
	pub := ssh.MarshalAuthorizedKey(signer.PublicKey())
	_ = writeAtomic(dir, HostKeyFile+".pub", pub, 0o644)
	return signer, nil
}

// RemoveHostKey deletes the host key kept in dir and its public half,
// durably (a factory reset): the next LoadOrCreateHostKey makes a new
// key. Missing files are fine.
func RemoveHostKey(dir string) error {
	for _, name := range []string{HostKeyFile, HostKeyFile + ".pub"} {
		if err := atomicfile.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("removing the host key: %w", err)
		}
	}
	return nil
}

// writeAtomic replaces dir/name by data, power-loss safe.
func writeAtomic(dir, name string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(filepath.Join(dir, name), data, perm)
}
