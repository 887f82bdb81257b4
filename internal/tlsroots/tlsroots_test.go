package tlsroots

import (
	"crypto/x509"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The built-in pool holds the bundle's roots, among them one every
// Let's Encrypt chain ends in.
func TestPoolHasTheBundle(t *testing.T) {
	n, found := 0, false
	for _, der := range rawSubjects(t) {
		n++
		if strings.Contains(der, "ISRG Root X1") {
			found = true
		}
	}
	if n < 100 || !found {
		t.Fatalf("%d roots, ISRG Root X1 among them: %v; want the NSS bundle (over 100, with it)", n, found)
	}
}

func rawSubjects(t *testing.T) []string {
	t.Helper()
	subs := Pool().Subjects() // deprecated for system pools only; this one is ours
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = string(s)
	}
	return out
}

// With no system roots (as on a board: SSL_CERT_FILE and SSL_CERT_DIR
// name nothing), Ensure makes the built-in roots the system pool; before
// Ensure there is none. Run in a child process: the fallback can be set
// once per process.
func TestEnsureFillsAnEmptySystem(t *testing.T) {
	if os.Getenv("TLSROOTS_CHILD") == "1" {
		if p, err := x509.SystemCertPool(); err == nil && !p.Equal(x509.NewCertPool()) {
			t.Fatal("the child sees system roots before Ensure; the test's empty system did not hold")
		}
		Ensure()
		Ensure() // a second call is harmless
		p, err := x509.SystemCertPool()
		if err != nil {
			t.Fatalf("after Ensure: %v", err)
		}
		if !p.Equal(Pool()) {
			t.Fatal("after Ensure the system pool is not the built-in one")
		}
		return
	}
	empty := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestEnsureFillsAnEmptySystem$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TLSROOTS_CHILD=1", "SSL_CERT_FILE="+empty+"/none.pem", "SSL_CERT_DIR="+empty)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
