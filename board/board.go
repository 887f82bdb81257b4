// Package board holds one definition per supported board: which Debian
// packages provide its kernel (or the source and configuration fragment
// of a kernel passgate builds, under kernel/), device trees and boot
// firmware, how its boot
// partition is laid out, which kernel modules the initramfs must carry, which
// console the kernel talks on, and which network port is LAN and which WAN.
//
// The definitions are plain data; the firmware, image and qemu packages turn
// them into an initramfs, an SD-card image and a QEMU command line.
package board

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// Default is the board built and booted when none is named.
const Default = "qemu-arm64"

// Package names one Debian binary package at one exact version. Every
// package a board uses must have a pin (SHA-256) committed under
// firmware/deb/pins; see firmware/deb.
type Package struct {
	Name    string // e.g. "linux-image-6.1.0-50-arm64"
	Version string // e.g. "6.1.176-1"
	Arch    string // Debian architecture of the .deb: "arm64" or "all"
}

func (p Package) String() string { return p.Name + "=" + p.Version }

// The kernel every board boots today: Debian bookworm's arm64 kernel. The
// metapackage linux-image-arm64 (6.1.176-1 in bookworm) depends on exactly
// this versioned package; pinning the versioned one keeps builds
// reproducible when the metapackage moves on.
var (
	KernelRelease = "6.1.0-50-arm64" // `uname -r` of the kernel, and its /lib/modules dir
	Kernel        = Package{Name: "linux-image-" + KernelRelease, Version: "6.1.176-1", Arch: "arm64"}
	// RaspiFirmware is the Raspberry Pi GPU firmware (component non-free-firmware).
	RaspiFirmware = Package{Name: "raspi-firmware", Version: "1.20220830+ds-1", Arch: "all"}
	// UBootRockchip is Debian's u-boot build for Rockchip boards.
	UBootRockchip = Package{Name: "u-boot-rockchip", Version: "2023.01+dfsg-2+deb12u3", Arch: "arm64"}
	// UBootQEMU is Debian's u-boot build for QEMU's machines: qemu-arm64
	// boots through it as a board boots through its own.
	UBootQEMU = Package{Name: "u-boot-qemu", Version: "2023.01+dfsg-2+deb12u3", Arch: "all"}
	// KernelSource is Debian's source of the same kernel (the same
	// version as Kernel, with Debian's patches), for a board whose kernel
	// passgate builds itself (Board.KernelConfig).
	KernelSource = Package{Name: "linux-source-6.1", Version: "6.1.176-1", Arch: "all"}
	// BuiltKernelRelease is `uname -r` of a kernel passgate builds from
	// KernelSource: its upstream version and BuiltKernelSuffix (the
	// configuration's CONFIG_LOCALVERSION).
	BuiltKernelRelease = "6.1.176" + BuiltKernelSuffix
)

// BuiltKernelSuffix ends the release of every kernel passgate builds, so
// that its modules never mix with a Debian kernel's.
const BuiltKernelSuffix = "-passgate"

// kernelConfigs are the configuration fragments of the kernels passgate
// builds, one per board that has one (Board.KernelConfig).
//
//go:embed kernel/*.config
var kernelConfigs embed.FS

// File is one file taken from an extracted Debian package and placed on the
// boot partition.
type File struct {
	Package Package
	Src     string // path inside the package, no leading slash
	Dst     string // path on the FAT boot partition, no leading slash
}

// Raw is a blob from a package written to the raw disk, outside any
// partition, at a fixed sector (512-byte units). Rockchip's boot ROM finds
// its loader this way.
type Raw struct {
	Package Package
	Src     string // path inside the package
	Sector  int64  // first 512-byte sector on the disk
	MaxSize int64  // bytes available before the next blob or partition
}

// Port says which physical network interface plays which role.
type Port struct {
	// Name is the kernel's interface name on a board with nothing plugged in
	// beyond what is listed, e.g. "eth0".
	Name string
	// Driver is the kernel driver that binds it ("virtio_net", "genet",
	// "r8152", ...), as shown by /sys/class/net/NAME/device/driver. Names
	// follow probe order, so routerd should match on Driver/Device when
	// they are given and fall back to Name.
	Driver string
	// Device is the stable bus address of the port where there is one: the
	// platform device of its device-tree node ("fd580000.ethernet", the
	// basename of /sys/class/net/NAME/device) or its PCI function (for
	// virtio-net, /sys/class/net/NAME/device is the virtio device and its
	// parent is the PCI function "0000:00:02.0"). Empty for USB adapters,
	// whose address depends on the socket used.
	Device string
	// Note explains the choice for people reading the board list.
	Note string
}

// Boot describes how the board's boot ROM/firmware gets to the kernel.
type Boot int

const (
	// BootQEMU: QEMU starts the board's Loader, Debian's u-boot for QEMU,
	// which boots the disk's boot slots with the same script as a u-boot
	// board (passgate run, the boot slot tests); tests of routerd rather
	// than of the boot loader have QEMU load kernel and initramfs
	// directly (-kernel/-initrd).
	BootQEMU Boot = iota
	// BootRaspberryPi: the GPU firmware on the FAT partition reads
	// config.txt and cmdline.txt and loads kernel, DTB and initramfs.
	BootRaspberryPi
	// BootUBoot: u-boot, written to the raw disk, runs boot.scr from the
	// FAT partition, which starts a boot slot (image.UBootScript).
	BootUBoot
)

func (b Boot) String() string {
	switch b {
	case BootQEMU:
		return "qemu"
	case BootRaspberryPi:
		return "raspberrypi"
	case BootUBoot:
		return "u-boot"
	}
	return fmt.Sprintf("Boot(%d)", int(b))
}

// Board is one supported board.
type Board struct {
	Name        string
	Description string
	Arch        string // GOARCH and Debian architecture: "arm64"
	Boot        Boot

	// Kernel: the package, the path of the uncompressed arm64 Image inside
	// it, and the release (directory under lib/modules). For a board with
	// a KernelConfig, the package is the kernel's source and the path is
	// where the build puts the Image, in the same layout.
	Kernel        Package
	KernelImage   string
	KernelRelease string
	// KernelConfig names the configuration fragment under board/kernel/
	// of a board whose kernel passgate builds from its source
	// (firmware/kbuild): those options set over allnoconfig, the board's
	// drivers built in, so that none of its boot Modules loads as a module
	// and no module loading stands between the kernel starting routerd
	// and routerd's worker (docs/performance.md, Boot). "" means the board
	// boots Debian's packaged kernel, with its modules.
	KernelConfig string

	// DTBs are device trees copied from the kernel package to the root of
	// the boot partition (the Pi firmware and u-boot look there). Empty for
	// QEMU, which generates its own.
	DTBs []File
	// Firmware is the boot firmware copied to the boot partition.
	Firmware []File
	// Raw blobs written outside the partitions (u-boot on Rockchip).
	Raw []Raw
	// Loader is the boot loader QEMU starts (-bios) for a board that
	// boots from its disk through u-boot in QEMU (qemu-arm64); nil for
	// none.
	Loader *File

	// Console is the serial console device, without /dev/.
	Console string
	// Baud is the console speed; 0 means the device needs none (virtual).
	Baud int
	// Cmdline is the kernel command line without the console= part, which
	// is derived from Console and Baud (see KernelCmdline).
	Cmdline string

	// Modules are loaded at boot by routerd's supervisor (internal/kmod,
	// from the firmware's /etc/passgate-modules), each after its
	// dependencies (from modules.dep); the drivers in this order (it
	// names the ports: bus drivers before NIC drivers), file systems and
	// code pages in parallel with them.
	Modules []string

	LAN Port
	WAN Port

	// BootPartition is the block device of the FAT boot partition, which
	// also holds passgate.conf. routerd mounts it; if the device is missing
	// it should look for the partition labelled BootLabel instead (SD vs
	// eMMC numbering can change).
	BootPartition string
	// BootPartitionStart is the first sector (512 bytes) of the boot
	// partition; Rockchip needs the first 16 MiB for its loaders.
	BootPartitionStart int64

	// QEMU is the QEMU machine that emulates the board, or "" if none.
	QEMUMachine string
	QEMUCPU     string
}

// BootLabel is the FAT volume label of every board's boot partition.
const BootLabel = "PASSGATE"

// ConfigFile is the name of the router configuration on the boot partition.
const ConfigFile = "passgate.conf"

// Boot partition file names used by every board.
const (
	KernelFile    = "Image" // in a slot directory (SlotDir)
	InitramfsFile = "initramfs.cpio.gz"
)

// KernelCmdline returns the complete kernel command line for the board.
func (b *Board) KernelCmdline() string {
	c := "console=" + b.Console
	if b.Baud > 0 {
		c += fmt.Sprintf(",%d", b.Baud)
	}
	if b.Cmdline != "" {
		c += " " + b.Cmdline
	}
	return c
}

// KernelConfigText returns the board's kernel configuration fragment
// (KernelConfig); an error if it has none.
func (b *Board) KernelConfigText() ([]byte, error) {
	if b.KernelConfig == "" {
		return nil, fmt.Errorf("board %s boots Debian's packaged kernel; it has no kernel configuration", b.Name)
	}
	return kernelConfigs.ReadFile("kernel/" + b.KernelConfig)
}

// Packages returns every Debian package the board needs, without repeats,
// in a stable order.
func (b *Board) Packages() []Package {
	seen := map[Package]bool{}
	var out []Package
	add := func(p Package) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	add(b.Kernel)
	for _, f := range b.DTBs {
		add(f.Package)
	}
	for _, f := range b.Firmware {
		add(f.Package)
	}
	for _, r := range b.Raw {
		add(r.Package)
	}
	if b.Loader != nil {
		add(b.Loader.Package)
	}
	return out
}

// Common kernel command line: no reboot loop on panic is hidden (reboot
// after 10 s so a router comes back by itself). routerd, as init, keeps
// the kernel's informational lines off the console (pid1.ConsoleLogLevel).
const baseCmdline = "panic=10 oops=panic"

// Modules every board needs: the FAT file system for the boot partition
// (and its code pages), and TUN/TAP for routerd's self0. routerd mounts
// with Debian's defaults, codepage 437 and iocharset ascii with UTF-8 names
// (CONFIG_FAT_DEFAULT_UTF8, which needs no NLS module), so nls_utf8 is not
// loaded: each module costs boot time.
var commonModules = []string{"vfat", "nls_cp437", "nls_ascii", "tun"}

// USB Ethernet adapters people plug into a Pi for the second port.
var usbNICModules = []string{"r8152", "ax88179_178a", "cdc_ether"}

func kernelFile(src string) File {
	return File{Package: Kernel, Src: "usr/lib/linux-image-" + KernelRelease + "/" + src, Dst: src[strings.LastIndex(src, "/")+1:]}
}

func piFirmware(names ...string) []File {
	var fs []File
	for _, n := range names {
		fs = append(fs, File{Package: RaspiFirmware, Src: "usr/lib/raspi-firmware/" + n, Dst: n})
	}
	return fs
}

func cat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var boards = []*Board{
	{
		Name:        "qemu-arm64",
		Description: "QEMU -M virt (arm64, virtio NICs and disk): for trying and testing passgate",
		Arch:        "arm64",
		Boot:        BootQEMU,
		Loader:      &File{Package: UBootQEMU, Src: "usr/lib/u-boot/qemu_arm64/u-boot.bin", Dst: "u-boot.bin"},
		// Its own kernel: every driver the machine needs built in (the
		// Modules below are all built in, so none loads at boot).
		Kernel:        KernelSource,
		KernelImage:   "boot/vmlinuz-" + BuiltKernelRelease,
		KernelRelease: BuiltKernelRelease,
		KernelConfig:  "qemu-arm64.config",
		Console:       "ttyAMA0",
		Cmdline:       baseCmdline,
		Modules:       cat([]string{"virtio_pci", "virtio_net", "virtio_blk", "i6300esb"}, commonModules),
		LAN: Port{Name: "eth0", Driver: "virtio_net", Device: "0000:00:02.0",
			Note: "first virtio-net device (PCI slot 2); QEMU connects it to a tap in the passgate-lan namespace"},
		WAN: Port{Name: "eth1", Driver: "virtio_net", Device: "0000:00:03.0",
			Note: "second virtio-net device (PCI slot 3); QEMU user-mode network, whose DHCP server gives a lease"},
		BootPartition:      "/dev/vda1",
		BootPartitionStart: 2048,
		QEMUMachine:        "virt",
		QEMUCPU:            "cortex-a53",
	},
	{
		Name:          "rpi3",
		Description:   "Raspberry Pi 3 Model B and B+ (one Ethernet port on USB: smsc95xx on 3B, lan78xx on 3B+)",
		Arch:          "arm64",
		Boot:          BootRaspberryPi,
		Kernel:        Kernel,
		KernelImage:   "boot/vmlinuz-" + KernelRelease,
		KernelRelease: KernelRelease,
		DTBs: []File{
			kernelFile("broadcom/bcm2837-rpi-3-b.dtb"),
			kernelFile("broadcom/bcm2837-rpi-3-b-plus.dtb"),
		},
		Firmware: piFirmware("bootcode.bin", "start.elf", "fixup.dat"),
		// The mini UART on GPIO 14/15 (header pins 8/10); the PL011 serves Bluetooth.
		Console: "ttyS1",
		Baud:    115200,
		Cmdline: baseCmdline,
		// phy-generic drives the USB PHY node (usb-nop-xceiv) that dwc2
		// waits for; without it dwc2, and with it the Ethernet port, comes
		// up only when the kernel gives up deferring (10 s).
		Modules: cat([]string{"phy-generic", "dwc2", "bcm2835", "sdhci-iproc", "smsc95xx", "lan78xx", "bcm2835_wdt"}, usbNICModules, commonModules),
		LAN: Port{Name: "eth0", Driver: "smsc95xx",
			Note: "the built-in port (smsc95xx on 3B, lan78xx on 3B+) is LAN: it is the one always present"},
		WAN: Port{Name: "eth1", Driver: "r8152",
			Note: "the Pi has one port, so WAN is a USB Ethernet adapter (r8152, ax88179_178a or cdc_ether); " +
				"a WAN cable on the built-in port plus VLANs on a managed switch is the alternative, not the default"},
		BootPartition:      "/dev/mmcblk0p1",
		BootPartitionStart: 8192,
		QEMUMachine:        "raspi3b",
	},
	{
		Name:          "rpi4",
		Description:   "Raspberry Pi 4 Model B, Pi 400 and Compute Module 4 (one built-in gigabit port, genet)",
		Arch:          "arm64",
		Boot:          BootRaspberryPi,
		Kernel:        Kernel,
		KernelImage:   "boot/vmlinuz-" + KernelRelease,
		KernelRelease: KernelRelease,
		DTBs: []File{
			kernelFile("broadcom/bcm2711-rpi-4-b.dtb"),
			kernelFile("broadcom/bcm2711-rpi-400.dtb"),
			kernelFile("broadcom/bcm2711-rpi-cm4-io.dtb"),
		},
		Firmware: piFirmware("start4.elf", "fixup4.dat"),
		Console:  "ttyS1",
		Baud:     115200,
		Cmdline:  baseCmdline,
		// reset-raspberrypi lets xhci-pci load the VL805 USB controller's firmware.
		Modules: cat([]string{"genet", "broadcom", "mdio-bcm-unimac", "sdhci-iproc", "reset-raspberrypi", "xhci-pci", "bcm2835_wdt"},
			usbNICModules, commonModules),
		LAN: Port{Name: "eth0", Driver: "bcmgenet", Device: "fd580000.ethernet",
			Note: "the built-in gigabit port is LAN"},
		WAN: Port{Name: "eth1", Driver: "r8152",
			Note: "WAN is a USB 3 Ethernet adapter (r8152, ax88179_178a or cdc_ether) in a blue port; " +
				"the single built-in port with VLANs on a managed switch is the alternative, not the default"},
		BootPartition:      "/dev/mmcblk0p1",
		BootPartitionStart: 8192,
		// QEMU 7.2 has no raspi4b machine.
	},
	{
		Name:          "rock-pi-e",
		Description:   "Radxa ROCK Pi E (RK3328, one gigabit and one 100 Mbit Ethernet port), booted by Debian's u-boot",
		Arch:          "arm64",
		Boot:          BootUBoot,
		Kernel:        Kernel,
		KernelImage:   "boot/vmlinuz-" + KernelRelease,
		KernelRelease: KernelRelease,
		DTBs:          []File{kernelFile("rockchip/rk3328-rock-pi-e.dtb")},
		// Debian's u-boot-install-rockchip writes idbloader.img (TPL+SPL) at
		// sector 64 and u-boot.itb at sector 16384; the boot partition
		// starts at 16 MiB so it overlaps neither.
		Raw: []Raw{
			{Package: UBootRockchip, Src: "usr/lib/u-boot/rock-pi-e-rk3328/idbloader.img", Sector: 64, MaxSize: (16384 - 64) * 512},
			{Package: UBootRockchip, Src: "usr/lib/u-boot/rock-pi-e-rk3328/u-boot.itb", Sector: 16384, MaxSize: (32768 - 16384) * 512},
		},
		Console: "ttyS2",
		Baud:    1500000,
		Cmdline: baseCmdline,
		Modules: cat([]string{"dwmac-rk", "realtek", "rockchip", "dw_mmc-rockchip", "dw_wdt"}, usbNICModules, commonModules),
		LAN: Port{Name: "eth1", Driver: "rk_gmac-dwmac", Device: "ff550000.ethernet",
			Note: "the 100 Mbit port (gmac2phy, internal PHY) is LAN"},
		WAN: Port{Name: "eth0", Driver: "rk_gmac-dwmac", Device: "ff540000.ethernet",
			Note: "the gigabit port (gmac2io, RTL8211 PHY) is WAN, so internet links faster than 100 Mbit are not capped at the WAN side"},
		BootPartition:      "/dev/mmcblk0p1",
		BootPartitionStart: 32768,
	},
}

// Get returns the board called name.
func Get(name string) (*Board, error) {
	for _, b := range boards {
		if b.Name == name {
			return b, nil
		}
	}
	return nil, fmt.Errorf("unknown board %q (known: %s)", name, strings.Join(Names(), ", "))
}

// All returns every board, sorted by name.
func All() []*Board {
	out := append([]*Board(nil), boards...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the names of all boards, sorted.
func Names() []string {
	var n []string
	for _, b := range All() {
		n = append(n, b.Name)
	}
	return n
}

// Slots are the two boot slots of the boot partition (issue #17): each a
// directory with one firmware version's kernel, initramfs and device
// trees. A fresh image fills slot a; an update writes the slot that is
// not running.
var Slots = [2]string{"a", "b"}

// SlotDir is the boot partition directory of slot ("a" or "b").
func SlotDir(slot string) string { return "slot-" + slot }

// OnDemandModules are in every board's firmware image (with their
// dependencies) but not in the boot list: routerd loads them when a
// feature needs them (flow offload: the clsact qdisc and the bpf
// classifier, see cmd/routerd/offloadmods.go). Boot time stays as it is.
var OnDemandModules = []string{"sch_ingress", "cls_bpf"}
