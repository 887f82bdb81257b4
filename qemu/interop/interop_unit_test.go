package interop

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passgate/passgate/internal/cpio"
)

func TestParseResultsAndTable(t *testing.T) {
	in := `RESULT routerd raw-esp PASS ping lan1:4/4,lan2:4/4; esp raw
TIME routerd raw-esp 14
RESULT kernel raw-esp FAIL tunnels up 2/2; ping lan1:4/4,lan2:0/4
TIME kernel raw-esp 13
RESULT kernel switch-pptp N/A routerd's switch
TIME kernel all 21
LAB-DONE
`
	r := ParseResults(strings.NewReader(in))
	if !r.Done || len(r.Results) != 3 {
		t.Fatalf("parsed %+v", r)
	}
	x, ok := r.Get("kernel", "raw-esp")
	if !ok || x.Verdict != "FAIL" || x.Detail != "tunnels up 2/2; ping lan1:4/4,lan2:0/4" || x.Seconds != 13 {
		t.Fatalf("kernel raw-esp = %+v", x)
	}
	if r.Times["kernel all"] != 21 {
		t.Errorf("times %v", r.Times)
	}
	tab := r.Table(Cases[:1])
	for _, want := range []string{"| raw-esp |", "**PASS** ping lan1:4/4,lan2:4/4; esp raw", "**FAIL** tunnels up 2/2"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if r := ParseResults(strings.NewReader("RESULT routerd pptp PASS x\n")); r.Done {
		t.Error("a results file without LAB-DONE counts as finished")
	}
}

// Every case has its function in the lab script, and the script has no
// case the Go side does not know.
func TestCasesMatchScript(t *testing.T) {
	s := string(labScript)
	for _, c := range Cases {
		fn := "case_" + strings.ReplaceAll(c.Name, "-", "_") + "()"
		if !strings.Contains(s, fn) {
			t.Errorf("files/lab.sh has no %s", fn)
		}
	}
	n := strings.Count(s, "\ncase_")
	if n != len(Cases) {
		t.Errorf("files/lab.sh defines %d case functions, Cases has %d", n, len(Cases))
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
