// Package tlsroots gives routerd's TLS clients (DNS over TLS, fetching a
// firmware update over HTTPS) Mozilla's root certificates, built into the
// binary, for systems that have none: the boards' initramfs carries no CA
// bundle. Where the system has roots, they are used as before.
//
// It does what importing golang.org/x/crypto/x509roots/fallback does,
// but on the first TLS connection instead of in a package init: that
// init parsed the ~150 certificates (8,800 allocations) in every routerd
// process at start-up, 60-75 ms each under QEMU's emulation at boot,
// where no TLS connection is made.
package tlsroots

import (
	"crypto/x509"
	"fmt"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

var once sync.Once

// Ensure makes the built-in roots crypto/x509's fallback roots, once: they
// verify certificates whenever the system has no roots of its own and a
// TLS configuration names no RootCAs. Call it before a connection that
// verifies against the system's roots; later calls return at once.
func Ensure() {
	once.Do(func() { x509.SetFallbackRoots(Pool()) })
}

// Pool returns a new pool of the built-in roots, each with the
// constraint (a distrust-after date) it comes with.
func Pool() *x509.CertPool {
	p := x509.NewCertPool()
	for r := range bundle.Roots() {
		c, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			// The bundle is part of the binary and tested (tlsroots_test.go):
			// this is a broken build, not bad input.
			panic(fmt.Sprintf("tlsroots: a built-in root does not parse: %v", err))
		}
		if r.Constraint == nil {
			p.AddCert(c)
		} else {
			p.AddCertWithConstraint(c, r.Constraint)
		}
	}
	return p
}
