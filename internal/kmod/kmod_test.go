package kmod

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
