package sshd

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// HostKeyFile is the name of the host key inside the key directory, in
// OpenSSH's private key format (ssh-keygen -l -f reads it). The public
// half is written beside it with ".pub" appended; a damaged key is kept as
// ".damaged" when it is replaced.
const HostKeyFile = "ssh_host_ed25519_key"

// maxHostKeyFile bounds what is read of the key file (an ed25519 key in
// OpenSSH's format is about 400 bytes).
const maxHostKeyFile = 64 << 10

// HostKey is the server's host key and what the administrator must know
// about it.
type HostKey struct {
	Signer ssh.Signer
	// Notices are said loudly in the log: the key was damaged and
	// replaced, could not be saved, or lives in RAM and changes at every
	// boot (clients then warn that the host key changed).
	Notices []string
	// Ephemeral: the key will not survive a reboot (kept in RAM).
	Ephemeral bool
}

// Fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it.
func (k *HostKey) Fingerprint() string { return ssh.FingerprintSHA256(k.Signer.PublicKey()) }

// LoadOrCreateHostKey returns the ed25519 host key kept in dir, creating
// it on first use. It never leaves the router without a key: a damaged
// key file is moved aside (HostKeyFile+".damaged") and replaced by a new
// key, and a key that cannot be saved is kept in memory; either is said
// in Notices. Writes are power-loss safe (pkg/atomicfile), so a router
// that loses power while replacing the key finds the old file or a whole
// new key. An error is returned only if no key can be made at all.
func LoadOrCreateHostKey(dir string) (*HostKey, error) {
	path := filepath.Join(dir, HostKeyFile)
	hk := &HostKey{}
	if fsName, ok := inRAM(dir); ok {
		hk.Ephemeral = true
		hk.Notices = append(hk.Notices, fmt.Sprintf("the host key directory %s is in RAM (%s), so the host key is new at every boot and clients warn that it changed; it is kept where the configuration is when the boot partition is mounted", dir, fsName))
	}
	data, err := readLimited(path)
	switch {
	case err == nil:
		s, perr := parseHostKey(data)
		if perr == nil {
			hk.Signer = s
			return hk, nil
		}
		// Keep the damaged file for a post-mortem, then replace it.
		aside := path + ".damaged"
		if werr := atomicfile.Write(aside, data, 0o600); werr != nil {
			aside = "nowhere (" + werr.Error() + ")"
		}
		err = fmt.Errorf("host key %s is damaged (%v); it was moved to %s", path, perr, aside)
	case errors.Is(err, fs.ErrNotExist):
		err = nil
	default:
		err = fmt.Errorf("cannot read the host key %s: %w", path, err)
	}
	signer, pemData, gerr := newHostKey()
	if gerr != nil {
		return nil, fmt.Errorf("making a host key: %w", gerr)
	}
	hk.Signer = signer
	fp := hk.Fingerprint()
	if err != nil {
		hk.Notices = append(hk.Notices, fmt.Sprintf("%v; made a new host key %s, and clients will warn that the host key changed", err, fp))
	}
	if serr := saveHostKey(dir, pemData, signer); serr != nil {
		hk.Ephemeral = true
		hk.Notices = append(hk.Notices, fmt.Sprintf("cannot save the new host key %s (%v): it is kept in memory only and changes at the next start", fp, serr))
	}
	return hk, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A file longer than the limit is cut, and then fails to parse.
	return io.ReadAll(io.LimitReader(f, maxHostKeyFile))
}

// parseHostKey accepts an ed25519 private key only (the file's name says
// so, and the server offers ssh-ed25519 only).
func parseHostKey(data []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, err
	}
	if t := s.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("it holds a %s key, not ssh-ed25519", t)
	}
	return s, nil
}

func newHostKey() (ssh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "passgate host key")
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}

func saveHostKey(dir string, pemData []byte, signer ssh.Signer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, HostKeyFile), pemData, 0o600); err != nil {
		return err
	}
	// The public key is for people (fingerprint checks); losing it is
	// harmless, it is derived again from the private key.
	_ = atomicfile.Write(filepath.Join(dir, HostKeyFile+".pub"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
	return nil
}

// inRAM reports whether dir (or the nearest existing parent) is on a
// file system that does not survive a reboot, and names it.
func inRAM(dir string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err == nil {
			switch uint32(st.Type) {
			case unix.TMPFS_MAGIC:
				return "tmpfs", true
			case unix.RAMFS_MAGIC:
				return "ramfs", true
			}
			return "", false
		}
		if d == filepath.Dir(d) {
			return "", false
		}
	}
}

// RemoveHostKey deletes the host key kept in dir and its public half,
// durably (a factory reset): the next LoadOrCreateHostKey makes a new
// key. Missing files are fine.
func RemoveHostKey(dir string) error {
	for _, name := range []string{HostKeyFile, HostKeyFile + ".pub", HostKeyFile + ".damaged"} {
		if err := atomicfile.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("removing the host key: %w", err)
		}
	}
	return nil
}
