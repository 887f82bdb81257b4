//go:build interop

package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/qemu/interop/lab"
)

// TestInterop is `make interop`: it builds (or takes from .cache) the lab
// VM, builds routerd and the in-VM lab program (labagent), boots the VM and runs every case through routerd and
// through the kernel's nftables masquerade, then prints the side-by-side
// table. Every case must pass through routerd; the kernel's results are
// compared with what is expected of it (it cannot do raw ESP for two
// clients). Missing prerequisites fail; nothing is skipped.
//
// INTEROP_CASES / INTEROP_NATS (space-separated) choose a subset while
// working on the lab; INTEROP_OUT keeps the shared directory (logs,
// console, results.json, table.md) in that directory instead of a temporary one.
func TestInterop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the interop lab needs root (debootstrap, QEMU's 9p share as root); run make interop as root")
	}
	repo, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	img, err := BuildImage(filepath.Join(repo, ".cache"), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	buildTime := time.Since(t0)
	share := os.Getenv("INTEROP_OUT")
	if share == "" {
		share = t.TempDir()
	} else {
		os.RemoveAll(share)
	}
	bin := share + ".bin"
	os.MkdirAll(bin, 0o755)
	defer os.RemoveAll(bin)
	routerd, agent := filepath.Join(bin, lab.RouterdFile), filepath.Join(bin, lab.AgentFile)
	for pkg, dst := range map[string]string{RouterdPackage: routerd, AgentPackage: agent} {
		if err := BuildStatic(repo, pkg, dst); err != nil {
			t.Fatal(err)
		}
	}
	cases := lab.Cases
	if s := os.Getenv("INTEROP_CASES"); s != "" {
		if cases, err = lab.Select(strings.Fields(s)); err != nil {
			t.Fatalf("INTEROP_CASES: %v (have %s)", err, strings.Join(lab.CaseNames(lab.Cases), " "))
		}
	}
	nats := lab.NATs
	if s := os.Getenv("INTEROP_NATS"); s != "" {
		nats = strings.Fields(s)
	}
	rep, err := Run(context.Background(), Options{
		Image: img, Routerd: routerd, Agent: agent, NATs: nats, Cases: cases, Console: os.Stderr,
		Share: share, Timeout: 40 * time.Minute, KeepLogs: os.Getenv("INTEROP_KEEP_LOGS"),
	})
	if rep != nil {
		table := rep.Table(cases)
		os.WriteFile(filepath.Join(share, "table.md"), []byte(table), 0o644)
		fmt.Fprintf(os.Stderr, "\n%s\n", table)
		fmt.Fprintf(os.Stderr, "image: %s (built now: %v, %v); VM boot to lab start %v; VM total %v\ntimes: %s\nversions:\n%s",
			img.Key, img.Built, buildTime.Round(time.Second), rep.Boot.Round(100*time.Millisecond), rep.Total.Round(time.Second),
			strings.Join(rep.SortedTimes(), ", "), rep.Versions)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, nat := range nats {
		for _, c := range cases {
			r, ok := rep.Get(nat, c.Name)
			if !ok {
				t.Errorf("%s %s: no result", nat, c.Name)
				continue
			}
			switch {
			case nat == "routerd" && r.Verdict != lab.Pass:
				t.Errorf("routerd %s: %s %s", c.Name, r.Verdict, r.Detail)
			case nat == "kernel" && c.RouterdOnly && r.Verdict != lab.NA:
				t.Errorf("kernel %s: %s, want N/A", c.Name, r.Verdict)
			case nat == "kernel" && c.KernelExpected != "" && r.Verdict != c.KernelExpected:
				t.Errorf("kernel %s: %s, expected %s (%s)", c.Name, r.Verdict, c.KernelExpected, r.Detail)
			}
		}
	}
}
