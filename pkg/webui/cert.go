package webui

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// CertFile is the page's TLS key and certificate (PEM), beside the SSH
// host key in the router's state directory.
const CertFile = "web-tls.pem"

// maxCertFile bounds what is read of CertFile.
const maxCertFile = 64 << 10

// Cert is the page's self-signed certificate.
type Cert struct {
	TLS tls.Certificate
	// Fingerprint is the SHA-256 of the certificate as browsers show it:
	// "SHA256 AB:CD:...".
	Fingerprint string
	// Notices say what was wrong with a stored certificate that was
	// replaced (for the log).
	Notices []string
}

// LoadOrCreateCert returns the certificate kept in dir, or makes one
// (ECDSA P-256, naming names: host names and addresses) and saves it
// atomically. It is valid from 2000 to 9999 (RFC 5280's "no well-defined
// expiration"): a board without a battery-backed clock starts in 1970 or
// at its build date, and its one certificate must not depend on that. A damaged or expired file is
// replaced, with a notice, rather than leaving the router without its
// page; a certificate that cannot be saved is used for this run only.
func LoadOrCreateCert(dir string, names []string) (*Cert, error) {
	path := filepath.Join(dir, CertFile)
	var notices []string
	if b, err := atomicfile.ReadMax(path, maxCertFile); err == nil {
		c, err := parseCert(b)
		if err == nil {
			return c, nil
		}
		notices = append(notices, fmt.Sprintf("%s was unusable (%v): a new certificate replaces it", path, err))
	} else if !errors.Is(err, os.ErrNotExist) {
		notices = append(notices, fmt.Sprintf("%s could not be read (%v): a new certificate replaces it", path, err))
	}
	pemBytes, err := newCert(names)
	if err != nil {
		return nil, err
	}
	c, err := parseCert(pemBytes)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err == nil {
		err = atomicfile.Write(path, pemBytes, 0o600)
	}
	if err != nil {
		notices = append(notices, fmt.Sprintf("the new certificate could not be saved (%v): browsers will see another one after a restart", err))
	}
	c.Notices = notices
	return c, nil
}

func newCert(names []string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "passgate router", Organization: []string{"passgate"}},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	return buf.Bytes(), nil
}

func parseCert(b []byte) (*Cert, error) {
	kc, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, err
	}
	if _, err := x509.ParseCertificate(kc.Certificate[0]); err != nil {
		return nil, err
	}
	return &Cert{TLS: kc, Fingerprint: Fingerprint(kc.Certificate[0])}, nil
}

// Fingerprint formats the SHA-256 of a DER certificate as browsers show
// it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return "SHA256 " + strings.Join(hexes, ":")
}
