package interop

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passgate/passgate/internal/cpio"
	"github.com/passgate/passgate/qemu/interop/lab"
)

// The results the VM writes come back whole into the Report, and the
// table shows each NAT's verdict and detail per case.
func TestResultsAndTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), lab.ResultsFile)
	in := lab.Results{
		Results: []lab.Result{
			{NAT: "routerd", Case: "raw-esp", Verdict: lab.Pass, Detail: "ping lan1:4/4,lan2:4/4; esp raw", Seconds: 14},
			{NAT: "kernel", Case: "raw-esp", Verdict: lab.Fail, Detail: "tunnels up 2/2; ping lan1:4/4,lan2:0/4", Seconds: 13},
			{NAT: "kernel", Case: "switch-pptp", Verdict: lab.NA, Detail: "routerd's switch"},
		},
		NATSeconds: map[string]int{"kernel": 21},
		Done:       true,
	}
	if err := lab.WriteJSON(path, in); err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := lab.ReadJSON(path, &r.Results); err != nil {
		t.Fatal(err)
	}
	if !r.Done || len(r.Results.Results) != 3 {
		t.Fatalf("read %+v", r.Results)
	}
	x, ok := r.Get("kernel", "raw-esp")
	if !ok || x.Verdict != lab.Fail || x.Detail != "tunnels up 2/2; ping lan1:4/4,lan2:0/4" || x.Seconds != 13 {
		t.Fatalf("kernel raw-esp = %+v", x)
	}
	if got := strings.Join(r.SortedTimes(), ", "); got != "kernel all 21s, kernel raw-esp 13s, kernel switch-pptp 0s, routerd raw-esp 14s" {
		t.Errorf("times %q", got)
	}
	sw, _ := lab.Find("switch-pptp")
	tab := r.Table(append(lab.Cases[:1:1], sw, lab.Cases[2]))
	for _, want := range []string{"| raw-esp |", "**PASS** ping lan1:4/4,lan2:4/4; esp raw", "**FAIL** tunnels up 2/2",
		"| n/a routerd's switch |", "| pptp | PPTP (pptp-linux + pppd ↔ pptpd, MS-CHAPv2, MPPE-128); one hangs up, the other stays up | not run | not run |"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if err := lab.ReadJSON(filepath.Join(t.TempDir(), "none.json"), &r.Results); err == nil {
		t.Error("a missing results file reads without error")
	}
}

func TestCacheKey(t *testing.T) {
	a := cacheKey("linux-image-6.1.0-56-amd64")
	if a != cacheKey("linux-image-6.1.0-56-amd64") || len(a) != 16 {
		t.Fatalf("key %q not stable", a)
	}
	if a == cacheKey("linux-image-6.1.0-57-amd64") {
		t.Error("the kernel package does not change the key")
	}
	old := Packages
	Packages = append(append([]string(nil), old...), "tcpdump")
	defer func() { Packages = old }()
	if a == cacheKey("linux-image-6.1.0-56-amd64") {
		t.Error("the package list does not change the key")
	}
}

func TestVMArgs(t *testing.T) {
	c := VMConfig{Image: &Image{Kernel: "K", Initrd: "I"}, Share: "/s"}
	s := strings.Join(c.Args(), " ")
	for _, want := range []string{"-accel tcg", "-m 2048", "-smp 2", "-kernel K", "-initrd I", "console=ttyS0",
		"-virtfs local,path=/s,mount_tag=lab,security_model=none", "-no-reboot", "virtio-rng-pci"} {
		if !strings.Contains(s, want) {
			t.Errorf("args lack %q: %s", want, s)
		}
	}
}

func TestMirrorOverride(t *testing.T) {
	t.Setenv("PASSGATE_DEBIAN_MIRROR", "http://mirror.example/debian")
	if m, err := Mirror(); m != "http://mirror.example/debian" || err != nil {
		t.Errorf("Mirror() = %q, %v", m, err)
	}
}

// The VM's initramfs is a gzip-compressed newc archive of the root tree
// with the files' modes (internal/cpio tests the writer itself).
func TestPackInitramfs(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/x"), 0o755)
	os.WriteFile(filepath.Join(root, "init"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/x/odd"), []byte("12345"), 0o600)
	os.Symlink("etc/x", filepath.Join(root, "link"))
	out := filepath.Join(t.TempDir(), "a.cpio.gz")
	n, err := packInitramfs(root, out)
	if err != nil || n != 5 {
		t.Fatalf("packInitramfs: %d entries, %v", n, err)
	}
	entries, err := cpio.ListGzip(out)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]uint32{}
	for _, e := range entries {
		modes[e.Name] = e.Mode
	}
	want := map[string]uint32{"etc": 0o40755, "etc/x": 0o40755, "etc/x/odd": 0o100600, "init": 0o100755, "link": 0o120777}
	if !maps.Equal(modes, want) {
		t.Errorf("entries %v, want %v", modes, want)
	}
}

func TestOpenVPNKeys(t *testing.T) {
	d := t.TempDir()
	if err := writeOpenVPNKeys(d); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"server", "c1", "c2"} {
		fp, err := os.ReadFile(filepath.Join(d, n+".fp"))
		if err != nil || len(strings.TrimSpace(string(fp))) != 32*3-1 {
			t.Errorf("%s fingerprint %q %v", n, fp, err)
		}
		if b, _ := os.ReadFile(filepath.Join(d, n+".crt")); !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
			t.Errorf("%s.crt", n)
		}
	}
}
