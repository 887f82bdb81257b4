package interop

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed files/lab.sh
var labScript []byte

// NATs are the NATs the lab compares, in table order.
var NATs = []string{"routerd", "kernel"}

// Case is one scenario of the lab.
type Case struct {
	Name string
	What string
	// RouterdOnly cases test routerd's switches; the kernel has none.
	RouterdOnly bool
	// KernelExpected is the outcome expected of the kernel NAT: "PASS",
	// "FAIL" or "" when either is acceptable (informational).
	KernelExpected string
}

// Cases lists the lab's scenarios in the order they run (files/lab.sh has
// a case_<name> function for each).
var Cases = []Case{
	{Name: "raw-esp", What: "IKEv2 + raw ESP (libreswan, encapsulation=no), two clients to one server", KernelExpected: "FAIL"},
	{Name: "ikev2-natt-rekey", What: "IKEv2 NAT-T, ESP in UDP 4500 (strongSwan), CHILD_SA and IKE_SA rekey"},
	{Name: "pptp", What: "PPTP (pptp-linux + pppd ↔ pptpd, MS-CHAPv2, MPPE-128); one hangs up, the other stays up"},
	{Name: "l2tp-ipsec", What: "L2TP/IPsec: xl2tpd over strongSwan IKEv1 main mode, transport mode, NAT-T"},
	{Name: "ikev1-natt", What: "IKEv1 main mode with NAT-T float 500 → 4500 (libreswan)"},
	{Name: "openvpn", What: "OpenVPN 2.6 UDP, TLS with --peer-fingerprint, both clients from port 1194"},
	{Name: "wireguard", What: "WireGuard (kernel), both clients from port 51820"},
	{Name: "l2tp", What: "plain L2TP (xl2tpd + pppd, no IPsec), both clients from port 1701"},
	{Name: "switch-pptp", What: "pptp switch off: no call, blocked counted; on again: connects", RouterdOnly: true},
	{Name: "switch-l2tp", What: "l2tp switch off: no tunnel, blocked counted; on again: connects", RouterdOnly: true},
	{Name: "switch-ipsec", What: "ipsec switch off: IKE fails, blocked counted; on again: connects", RouterdOnly: true},
}

// CaseNames returns the names of cs.
func CaseNames(cs []Case) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return n
}

// Result is one RESULT line of the lab.
type Result struct {
	NAT, Case, Verdict, Detail string
	Seconds                    int
}

// Report is what one lab run produced.
type Report struct {
	Results  []Result
	Times    map[string]int // "nat all" and "nat case" → seconds
	Done     bool           // the lab script reached its end
	Versions string
	Dpkg     string
	Boot     time.Duration // VM start to the lab script's start
	Total    time.Duration // VM start to power-off
}

// Get returns the result of case c under nat.
func (r *Report) Get(nat, c string) (Result, bool) {
	for _, x := range r.Results {
		if x.NAT == nat && x.Case == c {
			return x, true
		}
	}
	return Result{}, false
}

// ParseResults reads results.txt.
func ParseResults(rd io.Reader) *Report {
	r := &Report{Times: map[string]int{}}
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		ln := sc.Text()
		f := strings.Fields(ln)
		switch {
		case len(f) >= 4 && f[0] == "RESULT":
			_, detail, _ := strings.Cut(ln, " "+f[3])
			r.Results = append(r.Results, Result{NAT: f[1], Case: f[2], Verdict: f[3], Detail: strings.TrimSpace(detail)})
		case len(f) == 4 && f[0] == "TIME":
			n, _ := strconv.Atoi(f[3])
			r.Times[f[1]+" "+f[2]] = n
			for i := range r.Results {
				if r.Results[i].NAT == f[1] && r.Results[i].Case == f[2] {
					r.Results[i].Seconds = n
				}
			}
		case ln == "LAB-DONE":
			r.Done = true
		}
	}
	return r
}

// Table renders the side-by-side table (Markdown) of the cases run.
func (r *Report) Table(cases []Case) string {
	var b strings.Builder
	b.WriteString("| case | what | routerd | kernel nftables masquerade + pptp helper |\n|---|---|---|---|\n")
	cell := func(nat, c string) string {
		x, ok := r.Get(nat, c)
		if !ok {
			return "not run"
		}
		s := "**" + x.Verdict + "**"
		if x.Verdict == "N/A" {
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
	NATs    []string
	Cases   []Case
	Console io.Writer
	// Share is the directory shared with the VM; it keeps the logs.
	Share   string
	Timeout time.Duration
	// KeepLogs "all" keeps every case's logs, otherwise only failed ones.
	KeepLogs string
}

// Run prepares the shared directory, boots the VM and returns the
// parsed results. An error means the lab could not run (the results may
// still be partly there).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := os.MkdirAll(o.Share, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Share, "run.sh"), labScript, 0o755); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(o.Routerd)
	if err != nil {
		return nil, fmt.Errorf("routerd binary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Share, "routerd"), b, 0o755); err != nil {
		return nil, err
	}
	if err := writeOpenVPNKeys(filepath.Join(o.Share, "openvpn")); err != nil {
		return nil, err
	}
	params := fmt.Sprintf("NATS=%q\nCASES=%q\nKEEP_LOGS=%q\n", strings.Join(o.NATs, " "), strings.Join(CaseNames(o.Cases), " "), o.KeepLogs)
	if err := os.WriteFile(filepath.Join(o.Share, "params"), []byte(params), 0o644); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(o.Share, "results.txt"))
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
	f, err := os.Open(filepath.Join(o.Share, "results.txt"))
	if err != nil {
		if runErr != nil {
			return nil, runErr
		}
		return nil, fmt.Errorf("the lab wrote no results (see %s)", filepath.Join(o.Share, "console.log"))
	}
	defer f.Close()
	r := ParseResults(f)
	r.Total = total
	r.Boot = bootSeen.at
	v, _ := os.ReadFile(filepath.Join(o.Share, "versions.txt"))
	r.Versions = string(v)
	d, _ := os.ReadFile(filepath.Join(o.Share, "dpkg.txt"))
	r.Dpkg = string(d)
	if runErr != nil {
		return r, runErr
	}
	if !r.Done {
		return r, fmt.Errorf("the lab script did not finish (see %s)", filepath.Join(o.Share, "console.log"))
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

// BuildRouterd builds a static routerd from the module at repo into dst.
func BuildRouterd(repo, dst string) error {
	c := exec.Command("go", "build", "-trimpath", "-o", dst, "./cmd/routerd")
	c.Dir = repo
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("build routerd: %v\n%s", err, out)
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

// SortedTimes lists the per-case times for a report.
func (r *Report) SortedTimes() []string {
	var s []string
	for k, v := range r.Times {
		s = append(s, fmt.Sprintf("%s %ds", k, v))
	}
	sort.Strings(s)
	return s
}
