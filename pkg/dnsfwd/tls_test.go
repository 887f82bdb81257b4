package dnsfwd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// selfSigned writes a certificate for name and its key as PEM files into
// dir and returns the certificate.
func selfSigned(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestDNSOverTLSUpstream: unbound serves DNS over TLS with a certificate
// for dot.test; the forwarder asks it over TLS, checks the certificate's
// name (a wrong name gets nothing, never clear text), and reuses one
// connection for consecutive queries.
func TestDNSOverTLSUpstream(t *testing.T) {
	z := newSignedZone(t)
	dir := t.TempDir()
	cert := selfSigned(t, dir, "dot.test")
	tlsPort := freeUDPPort(t)
	extra := "  interface: 127.0.0.1@" + itoa(tlsPort) + "\n  tls-port: " + itoa(tlsPort) +
		"\n  tls-service-key: \"" + filepath.Join(dir, "key.pem") + "\"\n  tls-service-pem: \"" + filepath.Join(dir, "cert.pem") + "\"\n"
	plain := startUnboundWith(t, z, z.serve(t), extra)
	dot := netip.AddrPortFrom(plain.Addr(), uint16(tlsPort))
	roots := x509.NewCertPool()
	roots.AddCert(cert)

	ex := &NetExchanger{RootCAs: roots}
	f, err := New(Config{TLS: []TLSUpstream{{Addr: dot, ServerName: "dot.test"}}, Clients: []netip.Prefix{lanNet}},
		Options{Exchange: ex, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range []struct {
		name string
		qt   uint16
	}{{"www.signed.test", dns.TypeA}, {"signed.test", dns.TypeSOA}, {"signed.test", dns.TypeNS}, {"signed.test", dns.TypeDNSKEY}} {
		r := f.Handle(ctx, queryEDNS(q.name, q.qt, true), host1, false)
		if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || !r.AuthenticatedData {
			t.Fatalf("%s %s over TLS: %v\n%+v", q.name, dns.TypeToString[q.qt], r, f.Status().Upstreams)
		}
	}
	if r := f.Handle(ctx, query("www.signed.test", dns.TypeA), host1, false); len(r.Answer) != 1 {
		t.Fatalf("www over TLS: %v", r)
	}
	if n := len(ex.pool.idle[tlsKey{dot, "dot.test"}]); n != 1 {
		t.Errorf("%d idle TLS connections after queries one at a time, want the one reused", n)
	}
	// A certificate not for the name: no answer, and the reason shown.
	f2, _ := New(Config{TLS: []TLSUpstream{{Addr: dot, ServerName: "other.test"}}, Clients: []netip.Prefix{lanNet}},
		Options{Exchange: &NetExchanger{RootCAs: roots}})
	if r := f2.Handle(ctx, query("www.signed.test", dns.TypeA), host1, false); r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 {
		t.Fatalf("wrong server name answered: %v", r)
	}
	if st := f2.Status().Upstreams[0]; !strings.Contains(st.LastError, "certificate") {
		t.Errorf("the failure does not name the certificate: %q", st.LastError)
	}
}
