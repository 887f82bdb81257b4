// Package sysdeps names the host programs that building, testing, `make run`,
// the images and the labs need, each with the Debian package that provides
// it, and checks that they are installed.
//
// It never installs anything: `make deps` is the one prerequisites step (one
// apt-get install of the Makefile's DEBIAN_PACKAGES, which a test keeps in
// step with Catalogue). Tests run in parallel packages, so a test that
// installed packages itself would race another one for the dpkg lock.
// A missing program is an error that names it, its package and `make deps`;
// nothing is ever skipped silently.
package sysdeps

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tool is one program and the Debian package that provides it.
type Tool struct {
	Bin     string // looked up in PATH; an absolute path is a file that must exist
	Package string // Debian package
}

// The catalogue: every host program the project runs.
var (
	// Images and firmware.
	Mtools  = Tool{"mdir", "mtools"}
	Depmod  = Tool{"depmod", "kmod"}
	DpkgDeb = Tool{"dpkg-deb", "dpkg"}
	AptGet  = Tool{"apt-get", "apt"}
	Cpio    = Tool{"cpio", "cpio"}

	// Building a board's own kernel (firmware/kbuild): make, the host's C
	// compiler and headers for Kbuild's tools, the arm64 cross compiler,
	// and what Kbuild runs on the way.
	Make          = Tool{"make", "make"}
	GCC           = Tool{"gcc", "gcc"}
	LibcDev       = Tool{"/usr/include/stdio.h", "libc6-dev"}
	CrossGCCArm64 = Tool{"aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"}
	Bc            = Tool{"bc", "bc"}
	Flex          = Tool{"flex", "flex"}
	Bison         = Tool{"bison", "bison"}
	Xz            = Tool{"xz", "xz-utils"}

	// QEMU for the boards and the interop VM.
	QEMU        = Tool{"qemu-system-aarch64", "qemu-system-arm"}
	QEMUx86     = Tool{"qemu-system-x86_64", "qemu-system-x86"}
	Debootstrap = Tool{"debootstrap", "debootstrap"}

	// Network namespaces and the peers of the end-to-end tests.
	IP           = Tool{"ip", "iproute2"}
	Ethtool      = Tool{"ethtool", "ethtool"}
	Dhclient     = Tool{"dhclient", "isc-dhcp-client"}
	Busybox      = Tool{"busybox", "busybox"}
	Udhcpc       = Tool{"udhcpc", "udhcpc"}
	Dnsmasq      = Tool{"dnsmasq", "dnsmasq"}
	Curl         = Tool{"curl", "curl"}
	Iperf3       = Tool{"iperf3", "iperf3"}
	Turnserver   = Tool{"turnserver", "coturn"}
	NATDiscovery = Tool{"turnutils_natdiscovery", "coturn"}
	Traceroute   = Tool{"traceroute", "traceroute"}
	Socat        = Tool{"socat", "socat"}
	Ping         = Tool{"ping", "iputils-ping"}
	Nft          = Tool{"nft", "nftables"}
	SSH          = Tool{"ssh", "openssh-client"}
	SSHKeygen    = Tool{"ssh-keygen", "openssh-client"}
	SSHAudit     = Tool{"ssh-audit", "ssh-audit"}
	Mkpasswd     = Tool{"mkpasswd", "whois"}
	Rdisc6       = Tool{"rdisc6", "ndisc6"} // IPv6 router discovery, checks pkg/ra
	Ndisc6       = Tool{"ndisc6", "ndisc6"} // IPv6 neighbour discovery, checks pkg/ndp6
	KeaDHCP6     = Tool{"kea-dhcp6", "kea-dhcp6-server"}
	Radvd        = Tool{"radvd", "radvd"}          // the ISP's IPv6 router advertisements
	Nmap         = Tool{"nmap", "nmap"}            // port scans from the WAN
	Dig          = Tool{"dig", "bind9-dnsutils"}   // a real DNS client for the forwarder
	Natpmpc      = Tool{"natpmpc", "natpmpc"}      // a real NAT-PMP client, checks pkg/portmap
	Dnsperf      = Tool{"dnsperf", "dnsperf"}      // DNS load for make bench (the forwarder beside dnsmasq)
	Upnpc        = Tool{"upnpc", "miniupnpc"}      // a real UPnP IGD client, checks pkg/upnpigd
	Unbound      = Tool{"unbound", "unbound"}      // a validating resolver upstream of the DNS forwarder
	Chromium     = Tool{"chromium", "chromium"}    // a real browser for the web admin page (chromedp)
	Mkimage      = Tool{"mkimage", "u-boot-tools"} // u-boot's own image tool, checks the boot script image
	Python3      = Tool{"python3", "python3"}      // small peers the tests write: a PPTP control exchange, UDP with Don't Fragment
)

// Catalogue lists every tool above; `make deps` installs their packages.
func Catalogue() []Tool {
	return []Tool{
		Mtools, Depmod, DpkgDeb, AptGet, Cpio,
		Make, GCC, LibcDev, CrossGCCArm64, Bc, Flex, Bison, Xz,
		QEMU, QEMUx86, Debootstrap,
		IP, Ethtool, Dhclient, Busybox, Udhcpc, Dnsmasq, Curl, Iperf3,
		Turnserver, NATDiscovery, Traceroute, Socat, Ping, Nft, SSH, SSHKeygen,
		SSHAudit, Mkpasswd, Rdisc6, Ndisc6, KeaDHCP6, Radvd, Nmap, Dig, Natpmpc, Dnsperf,
		Upnpc, Unbound, Chromium, Mkimage, Python3,
	}
}

// present reports whether the program is in PATH (or the file exists).
func (t Tool) present() bool {
	if filepath.IsAbs(t.Bin) {
		_, err := os.Stat(t.Bin)
		return err == nil
	}
	_, err := exec.LookPath(t.Bin)
	return err == nil
}

// Require returns nil when every tool is in PATH, and otherwise an error
// that names each missing program, its Debian package and `make deps`.
func Require(tools ...Tool) error {
	var missing []Tool
	for _, t := range tools {
		if !t.present() {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var progs, pkgs []string
	seen := map[string]bool{}
	for _, t := range missing {
		progs = append(progs, t.Bin)
		if !seen[t.Package] {
			seen[t.Package] = true
			pkgs = append(pkgs, t.Package)
		}
	}
	return fmt.Errorf("missing %s (Debian package %s): run `make deps` as root, which installs every package the project needs",
		strings.Join(progs, ", "), strings.Join(pkgs, ", "))
}
