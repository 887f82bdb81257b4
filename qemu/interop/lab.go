package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/passgate/passgate/qemu/interop/lab"
)

// Report is what one lab run produced: the results the VM handed back
// and what the host measured.
type Report struct {
	lab.Results
	Versions string
	Dpkg     string
	Boot     time.Duration // VM start to the lab's start
	Total    time.Duration // VM start to power-off
}

// Table renders the side-by-side table (Markdown) of the cases run.
func (r *Report) Table(cases []lab.Case) string {
	var b strings.Builder
	b.WriteString("| case | what | routerd | kernel nftables masquerade + pptp helper |\n|---|---|---|---|\n")
	cell := func(nat, c string) string {
		x, ok := r.Get(nat, c)
		if !ok {
			return "not run"
		}
		s := "**" + string(x.Verdict) + "**"
		if x.Verdict == lab.NA {
			s = "n/a"
		}
		if x.Detail != "" {
			s += " " + strings.ReplaceAll(x.Detail, "|", "/")
		}
		return s
	}
	for _, c := range cases {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.What, cell("routerd", c.Name), cell("kernel", c.Name))
	}
	return b.String()
}

// Options for one lab run.
type Options struct {
	Image   *Image
	Routerd string // a static routerd binary
	Agent   string // a static labagent binary
	NATs    []string
	Cases   []lab.Case
	Console io.Writer
	// Share is the directory shared with the VM; it keeps the logs.
	Share   string
	Timeout time.Duration
	// KeepLogs "all" keeps every case's logs, otherwise only failed ones.
	KeepLogs string
}

// Run prepares the shared directory, boots the VM and returns the
// results it handed back. An error means the lab could not run (the
// results may still be partly there).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := os.MkdirAll(o.Share, 0o755); err != nil {
		return nil, err
	}
	for src, name := range map[string]string{o.Routerd: lab.RouterdFile, o.Agent: lab.AgentFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("%s binary: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(o.Share, name), b, 0o755); err != nil {
			return nil, err
		}
	}
	if err := writeOpenVPNKeys(filepath.Join(o.Share, lab.OpenVPNDir)); err != nil {
		return nil, err
	}
	params := lab.Params{NATs: o.NATs, Cases: lab.CaseNames(o.Cases), KeepLogs: o.KeepLogs}
	if err := lab.WriteJSON(filepath.Join(o.Share, lab.ParamsFile), params); err != nil {
		return nil, err
	}
	results := filepath.Join(o.Share, lab.ResultsFile)
	os.Remove(results)
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	console, err := os.Create(filepath.Join(o.Share, "console.log"))
	if err != nil {
		return nil, err
	}
	defer console.Close()
	bootSeen := &watchWriter{needle: "lab: start at", start: time.Now()}
	vm := &VMConfig{Image: o.Image, Share: o.Share, Console: Tee(console, o.Console, bootSeen)}
	start := time.Now()
	runErr := vm.Run(ctx)
	total := time.Since(start)
	r := &Report{Total: total, Boot: bootSeen.at}
	if err := lab.ReadJSON(results, &r.Results); err != nil {
		if runErr != nil {
			return nil, runErr
		}
		return nil, fmt.Errorf("the lab wrote no results (%v; see %s)", err, filepath.Join(o.Share, "console.log"))
	}
	v, _ := os.ReadFile(filepath.Join(o.Share, lab.VersionsFile))
	r.Versions = string(v)
	d, _ := os.ReadFile(filepath.Join(o.Share, lab.DpkgFile))
	r.Dpkg = string(d)
	if runErr != nil {
		return r, runErr
	}
	if !r.Done {
		return r, fmt.Errorf("the lab did not finish (see %s)", filepath.Join(o.Share, "console.log"))
	}
	return r, nil
}

// watchWriter notes when a line containing needle first went by.
type watchWriter struct {
	needle string
	start  time.Time
	at     time.Duration
	buf    []byte
}

func (w *watchWriter) Write(b []byte) (int, error) {
	if w.at == 0 {
		w.buf = append(w.buf, b...)
		if strings.Contains(string(w.buf), w.needle) {
			w.at = time.Since(w.start)
			w.buf = nil
		} else if len(w.buf) > 4096 {
			w.buf = w.buf[len(w.buf)-256:]
		}
	}
	return len(b), nil
}

// The programs the host test builds for the VM.
const (
	RouterdPackage = "./cmd/routerd"
	AgentPackage   = "./qemu/interop/labagent"
)

// BuildStatic builds the main package pkg of the module at repo into dst
// as a static linux/amd64 binary (the VM's architecture).
func BuildStatic(repo, pkg, dst string) error {
	c := exec.Command("go", "build", "-trimpath", "-o", dst, pkg)
	c.Dir = repo
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
	}
	return nil
}

// writeOpenVPNKeys makes self-signed EC P-256 certificates for the
// OpenVPN server and two clients, pinned by SHA-256 fingerprint
// (--peer-fingerprint: no CA). They are made per run and are test-only.
func writeOpenVPNKeys(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, name := range []string{"server", "c1", "c2"} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(int64(i + 1)),
			Subject:               pkix.Name{CommonName: name + ".interop.lab"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
		}
		if name == "server" {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(der)
		var fp []string
		for _, x := range sum {
			fp = append(fp, fmt.Sprintf("%02X", x))
		}
		files := map[string][]byte{
			name + ".crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			name + ".key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
			name + ".fp":  []byte(strings.Join(fp, ":") + "\n"),
		}
		for fn, data := range files {
			if err := os.WriteFile(filepath.Join(dir, fn), data, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}
