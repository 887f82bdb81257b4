package updatefile

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// KeysFile is where a passgate image holds the PEM public keys of the
// update files it accepts (put there by the firmware build).
const KeysFile = "/etc/passgate-update-keys.pem"

// domain is signed before the manifest, so a signature over a manifest
// cannot be taken for one over anything else made with the same key.
const domain = "passgate-update-v1\n"

// KeyID names a public key in messages: the first 8 bytes of its SHA-256,
// in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// PEM block types of the key files.
const (
	privatePEM = "PRIVATE KEY" // PKCS #8
	publicPEM  = "PUBLIC KEY"  // PKIX
)

// LoadOrCreateKey returns the signing key kept at path, creating it (and
// its directory, private to the user) on first use; created says so, so
// the caller can print where the key is.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := ParsePrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("signing key %s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("signing key: %w", err)
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("signing key: %w", err)
	}
	// Written aside and renamed: a key file is whole or absent.
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: privatePEM, Bytes: der}), 0o600); err != nil {
		return nil, false, fmt.Errorf("signing key: %w", err)
	}
	return key, true, nil
}

// ParsePrivateKey reads a PEM PKCS #8 ed25519 private key.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != privatePEM {
		return nil, errors.New("not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, not ed25519", k)
	}
	return key, nil
}

// MarshalPublicKey is the PEM form of pub, as built into images.
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // cannot fail for ed25519
	return pem.EncodeToMemory(&pem.Block{Type: publicPEM, Bytes: der})
}

// ParsePublicKeys reads every PEM public key in b (a router may trust
// more than one, e.g. while keys change).
func ParsePublicKeys(b []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		blk, rest := pem.Decode(b)
		if blk == nil {
			break
		}
		b = rest
		if blk.Type != publicPEM {
			return nil, fmt.Errorf("a PEM %q block among the public keys", blk.Type)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T public key, not ed25519", k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key")
	}
	return keys, nil
}
