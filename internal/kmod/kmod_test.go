package kmod

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const fakeDep = `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/net/phy/broadcom.ko: kernel/drivers/net/phy/bcm-phy-lib.ko kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/phy/bcm-phy-lib.ko: kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/phy/libphy.ko:
kernel/drivers/net/mdio/mdio-bcm-unimac.ko: kernel/drivers/net/phy/libphy.ko
kernel/net/wireless/cfg80211.ko:
`

const fakeBuiltin = "kernel/drivers/virtio/virtio.ko\nkernel/fs/nls/nls_base.ko\n"

func TestClosure(t *testing.T) {
	tab, err := Parse(strings.NewReader(fakeDep), strings.NewReader(fakeBuiltin))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mods        []string
		files       []string
		builtin     []string
		errContains string
	}{
		// Names may use dashes or underscores, as modprobe allows.
		{mods: []string{"virtio_net", "mdio_bcm_unimac", "broadcom", "virtio", "nls-base"},
			files: []string{
				"kernel/drivers/net/mdio/mdio-bcm-unimac.ko",
				"kernel/drivers/net/net_failover.ko",
				"kernel/drivers/net/phy/bcm-phy-lib.ko",
				"kernel/drivers/net/phy/broadcom.ko",
				"kernel/drivers/net/phy/libphy.ko",
				"kernel/drivers/net/virtio_net.ko",
				"kernel/net/core/failover.ko",
			},
			builtin: []string{"virtio", "nls-base"}},
		// Module files stand for their modules.
		{mods: []string{"kernel/drivers/net/net_failover.ko"},
			files: []string{"kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko"}},
		{mods: nil},
		{mods: []string{"virtio_net", "nosuchmod", "other"}, errContains: "nosuchmod, other"},
	}
	for _, tt := range tests {
		files, builtin, err := tab.Closure(tt.mods)
		if tt.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errContains) {
				t.Errorf("Closure(%q): err = %v, want one naming %q", tt.mods, err, tt.errContains)
			}
			continue
		}
		if err != nil || !slices.Equal(files, tt.files) || !slices.Equal(builtin, tt.builtin) {
			t.Errorf("Closure(%q) = %q, %q, %v\nwant %q, %q", tt.mods, files, builtin, err, tt.files, tt.builtin)
		}
	}
	got := tab.Paths(func(p string) bool { return strings.HasPrefix(p, "kernel/net/") })
	if want := []string{"kernel/net/core/failover.ko", "kernel/net/wireless/cfg80211.ko"}; !slices.Equal(got, want) {
		t.Errorf("Paths = %q, want %q", got, want)
	}
	if _, err := Parse(strings.NewReader("no colon here\n"), nil); err == nil {
		t.Error("a modules.dep line without a colon parsed")
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/net/usb/ax88179_178a.ko": "ax88179_178a",
		"mdio-bcm-unimac":                        "mdio_bcm_unimac",
		"kernel/x/y.ko.xz":                       "y",
		"kernel/x/z-z.ko.zst":                    "z_z",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

// Load reads a kernel package's tables (running depmod when it has no
// modules.dep), and Install copies modules with the kernel's lists into
// another root, where depmod writes a modules.dep of just those.
func TestLoadInstall(t *testing.T) {
	const rel = "9.9.9-test"
	src, dst := t.TempDir(), t.TempDir()
	write := func(root, name, data string) {
		p := filepath.Join(Dir(root, rel), name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not real ELF objects: depmod lists them, without dependencies.
	for _, m := range []string{"kernel/net/a.ko", "kernel/net/b.ko", "kernel/drivers/c.ko"} {
		write(src, m, "not an object: "+m)
	}
	write(src, "modules.builtin", "kernel/fs/d.ko\n")
	write(src, "modules.order", "kernel/net/a.ko\nkernel/net/b.ko\nkernel/drivers/c.ko\n")

	if _, err := Load(t.TempDir(), rel); err == nil || !strings.Contains(err.Error(), "lib/modules/"+rel) {
		t.Errorf("Load of an empty root: err = %v", err)
	}
	tab, err := Load(src, rel)
	if err != nil {
		t.Fatal(err)
	}
	files, builtin, err := tab.Closure([]string{"a", "c", "d"})
	if err != nil || !slices.Equal(files, []string{"kernel/drivers/c.ko", "kernel/net/a.ko"}) || !slices.Equal(builtin, []string{"d"}) {
		t.Fatalf("Closure = %q %q %v", files, builtin, err)
	}
	if err := Install(src, dst, rel, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, "modules.builtin", "modules.order") {
		if _, err := os.Stat(filepath.Join(Dir(dst, rel), f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(Dir(dst, rel), "kernel/net/b.ko")); err == nil {
		t.Error("b.ko installed, but nothing needs it")
	}
	dtab, err := Load(dst, rel)
	if err != nil {
		t.Fatal(err)
	}
	if got := dtab.Paths(func(string) bool { return true }); !slices.Equal(got, files) {
		t.Errorf("installed modules.dep lists %q, want %q", got, files)
	}
}

// fakeBoardDep is a board's modules.dep as the firmware stages it.
const fakeBoardDep = `kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko
kernel/fs/fat/fat.ko:
kernel/fs/nls/nls_cp437.ko:
kernel/drivers/net/tun.ko:
`

func TestLoadAllOrderAndParallel(t *testing.T) {
	tab, err := Parse(strings.NewReader(fakeBoardDep), nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	loaded := map[string]bool{}
	running, most := 0, 0
	res, err := tab.LoadAll([]string{"virtio_pci", "virtio_net", "vfat", "nls_cp437", "tun"}, func(f string) error {
		mu.Lock()
		for _, d := range tab.deps[f] {
			if !loaded[d] {
				t.Errorf("%s loaded before its dependency %s", f, d)
			}
		}
		// The drivers in the list's order: the bus's before the NIC's,
		// or the NICs' names depend on the race.
		switch Name(f) {
		case "virtio_net":
			if !loaded["kernel/drivers/virtio/virtio_pci.ko"] {
				t.Error("virtio_net loaded before virtio_pci, listed before it, was loaded")
			}
		case "tun":
			if !loaded["kernel/drivers/net/virtio_net.ko"] {
				t.Error("tun loaded before virtio_net, listed before it, was loaded")
			}
		}
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		loaded[f] = true
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 9 {
		t.Errorf("%d results, want one for each of the 9 files: %+v", len(res), res)
	}
	for _, r := range res {
		if r.Err != nil || !loaded[r.File] {
			t.Errorf("%s: %v (loaded %v)", r.File, r.Err, loaded[r.File])
		}
	}
	// virtio_pci_modern_dev, failover, fat and nls_cp437 wait for
	// nothing: they load together.
	if most < 3 {
		t.Errorf("at most %d modules loaded at once, want independent ones in parallel", most)
	}
}

func TestLoadAllListedDependencyNoDeadlock(t *testing.T) {
	tab, err := Parse(strings.NewReader(fakeBoardDep), nil)
	if err != nil {
		t.Fatal(err)
	}
	// net_failover is listed after virtio_net, which depends on it: it
	// loads as the dependency, not after virtio_net.
	done := make(chan error, 1)
	go func() {
		_, err := tab.LoadAll([]string{"virtio_net", "net_failover", "tun"}, func(string) error { return nil })
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadAll deadlocked on a listed module that an earlier one depends on")
	}
}

func TestLoadAllFailedDependency(t *testing.T) {
	tab, err := Parse(strings.NewReader(fakeDep), nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var tried []string
	res, err := tab.LoadAll([]string{"virtio_net", "cfg80211"}, func(f string) error {
		mu.Lock()
		tried = append(tried, f)
		mu.Unlock()
		if strings.HasSuffix(f, "/failover.ko") {
			return errors.New("no memory")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string]error{}
	for _, r := range res {
		byFile[r.File] = r.Err
	}
	if e := byFile["kernel/drivers/net/virtio_net.ko"]; e == nil || !strings.Contains(e.Error(), "failover") {
		t.Errorf("virtio_net: %v, want an error naming the failed dependency", e)
	}
	if e := byFile["kernel/net/wireless/cfg80211.ko"]; e != nil {
		t.Errorf("cfg80211 (independent): %v", e)
	}
	for _, f := range tried {
		if strings.HasSuffix(f, "net_failover.ko") || strings.HasSuffix(f, "virtio_net.ko") {
			t.Errorf("%s tried although its dependency failed", f)
		}
	}
	if _, err := tab.LoadAll([]string{"nonesuch"}, func(string) error { return nil }); err == nil {
		t.Error("an unknown module: no error")
	}
}

func TestBootList(t *testing.T) {
	root := t.TempDir()
	dir := Dir(root, "6.1.0-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// No list: nothing to do (routerd outside the firmware).
	if res, _, err := Boot(root, "6.1.0-test", func(string) error { t.Error("loaded without a list"); return nil }); err != nil || res != nil {
		t.Fatalf("no list: %v %v", res, err)
	}
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(fakeDep), 0o644)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, ListFile), []byte("# comment\n\ncfg80211\n"), 0o644)
	var got []string
	res, _, err := Boot(root, "6.1.0-test", func(p string) error { got = append(got, p); return nil })
	if err != nil || len(res) != 1 {
		t.Fatalf("Boot: %+v %v", res, err)
	}
	if want := filepath.Join(dir, "kernel/net/wireless/cfg80211.ko"); !slices.Equal(got, []string{want}) {
		t.Errorf("loaded %v, want %v", got, want)
	}
}
