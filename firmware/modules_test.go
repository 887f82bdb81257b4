package firmware

import (
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
`

func TestModuleClosure(t *testing.T) {
	tab, err := parseModulesDep(strings.NewReader(fakeDep))
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.addBuiltin(strings.NewReader("kernel/drivers/virtio/virtio.ko\nkernel/fs/nls/nls_base.ko\n")); err != nil {
		t.Fatal(err)
	}
	// Names may use dashes or underscores, as modprobe allows.
	files, builtin, err := tab.closure([]string{"virtio_net", "mdio_bcm_unimac", "broadcom", "virtio", "nls-base"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/drivers/net/mdio/mdio-bcm-unimac.ko",
		"kernel/drivers/net/net_failover.ko",
		"kernel/drivers/net/phy/bcm-phy-lib.ko",
		"kernel/drivers/net/phy/broadcom.ko",
		"kernel/drivers/net/phy/libphy.ko",
		"kernel/drivers/net/virtio_net.ko",
		"kernel/net/core/failover.ko",
	}
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Errorf("closure files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}
	if strings.Join(builtin, ",") != "virtio,nls-base" {
		t.Errorf("builtin = %v", builtin)
	}
	if _, _, err := tab.closure([]string{"virtio_net", "nosuchmod"}); err == nil || !strings.Contains(err.Error(), "nosuchmod") {
		t.Errorf("unknown module: err = %v", err)
	}
}

func TestModName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/net/usb/ax88179_178a.ko": "ax88179_178a",
		"mdio-bcm-unimac":                        "mdio_bcm_unimac",
		"kernel/x/y.ko.xz":                       "y",
	} {
		if got := modName(in); got != want {
			t.Errorf("modName(%q) = %q, want %q", in, got, want)
		}
	}
}
