package board

import (
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestDefaultExists(t *testing.T) {
	b, err := Get(Default)
	if err != nil {
		t.Fatal(err)
	}
	if b.Boot != BootQEMU {
		t.Errorf("default board %s boots with %v, want qemu", b.Name, b.Boot)
	}
}

func TestGetUnknown(t *testing.T) {
	_, err := Get("pdp-11")
	if err == nil || !strings.Contains(err.Error(), "qemu-arm64") {
		t.Fatalf("Get(unknown) error = %v, want one listing the known boards", err)
	}
}

func TestExpectedBoards(t *testing.T) {
	want := []string{"qemu-arm64", "rock-pi-e", "rpi3", "rpi4"}
	got := Names()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

var (
	ifname   = regexp.MustCompile(`^[a-z][a-z0-9]{1,14}$`)
	modname  = regexp.MustCompile(`^[a-z0-9_-]+$`)
	debName  = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	debVer   = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~:-]*$`)
	fatName  = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
	consoles = regexp.MustCompile(`^tty(AMA|S)[0-9]$`)
)

// Every board must be complete: nothing the firmware, image or qemu
// packages rely on may be empty, and the pieces must agree with each other.
func TestBoardsCompleteAndConsistent(t *testing.T) {
	for _, b := range All() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Description == "" {
				t.Error("no description")
			}
			if b.Arch != "arm64" {
				t.Errorf("arch %q: only arm64 is built today", b.Arch)
			}
			checkPackage(t, "kernel", b.Kernel)
			if b.KernelConfig == "" {
				if b.KernelRelease == "" || !strings.HasSuffix(b.Kernel.Name, b.KernelRelease) {
					t.Errorf("kernel release %q does not match kernel package %s", b.KernelRelease, b.Kernel.Name)
				}
			} else {
				// passgate's own build: from the source of the same
				// version, its release that version and the suffix.
				upstream, _, _ := strings.Cut(b.Kernel.Version, "-")
				if !strings.HasPrefix(b.Kernel.Name, "linux-source-") || b.KernelRelease != upstream+BuiltKernelSuffix {
					t.Errorf("kernel release %q and source %s: want linux-source-* and release %s", b.KernelRelease, b.Kernel, upstream+BuiltKernelSuffix)
				}
				if b.Kernel.Version != Kernel.Version {
					t.Errorf("kernel source %s: not the version of Debian's kernel %s that the other boards boot", b.Kernel, Kernel)
				}
				if _, err := b.KernelConfigText(); err != nil {
					t.Errorf("kernel configuration: %v", err)
				}
			}
			if b.KernelImage == "" || strings.HasPrefix(b.KernelImage, "/") || !strings.HasSuffix(b.KernelImage, b.KernelRelease) {
				t.Errorf("kernel image path %q must be relative and name the release", b.KernelImage)
			}

			// Console and command line.
			if !consoles.MatchString(b.Console) {
				t.Errorf("console %q is not a serial tty", b.Console)
			}
			if b.Boot != BootQEMU && b.Baud == 0 {
				t.Errorf("physical console %s has no baud rate", b.Console)
			}
			cl := b.KernelCmdline()
			if !strings.HasPrefix(cl, "console="+b.Console) {
				t.Errorf("cmdline %q does not start with the console", cl)
			}
			if strings.Contains(b.Cmdline, "console=") {
				t.Errorf("Cmdline %q repeats console=; it is derived from Console/Baud", b.Cmdline)
			}
			if strings.Contains(cl, "\n") || strings.Contains(cl, "root=") {
				t.Errorf("cmdline %q: one line, and no root= (the initramfs is the root)", cl)
			}

			// Modules.
			if len(b.Modules) == 0 {
				t.Error("no kernel modules: every board needs at least its NIC and vfat")
			}
			seen := map[string]bool{}
			for _, m := range b.Modules {
				if !modname.MatchString(m) || strings.HasSuffix(m, ".ko") {
					t.Errorf("module %q: give the module name, not a file", m)
				}
				n := strings.ReplaceAll(m, "-", "_")
				if seen[n] {
					t.Errorf("module %q listed twice", m)
				}
				seen[n] = true
			}
			for _, need := range []string{"vfat", "tun"} {
				if !seen[need] {
					t.Errorf("module %s missing (boot partition / self0 need it)", need)
				}
			}
			for _, p := range []Port{b.LAN, b.WAN} {
				if p.Driver != "" && p.Driver != "bcmgenet" && p.Driver != "rk_gmac-dwmac" && !seen[strings.ReplaceAll(p.Driver, "-", "_")] {
					t.Errorf("port %s uses driver %s, which is not among the modules", p.Name, p.Driver)
				}
			}

			// Ports.
			if !ifname.MatchString(b.LAN.Name) || !ifname.MatchString(b.WAN.Name) {
				t.Errorf("bad interface names LAN %q WAN %q", b.LAN.Name, b.WAN.Name)
			}
			if b.LAN.Name == b.WAN.Name {
				t.Errorf("LAN and WAN are both %s", b.LAN.Name)
			}
			if b.LAN.Device != "" && b.LAN.Device == b.WAN.Device {
				t.Errorf("LAN and WAN are both device %s", b.LAN.Device)
			}
			if b.LAN.Note == "" || b.WAN.Note == "" || b.LAN.Driver == "" || b.WAN.Driver == "" {
				t.Error("each port needs a driver and a note explaining the choice")
			}

			// Boot partition.
			if !strings.HasPrefix(b.BootPartition, "/dev/") {
				t.Errorf("boot partition %q is not a device", b.BootPartition)
			}
			if b.BootPartitionStart < 2048 || b.BootPartitionStart%2048 != 0 {
				t.Errorf("boot partition starts at sector %d; want 1 MiB aligned, not below 1 MiB", b.BootPartitionStart)
			}

			// Files on the boot partition: valid names, no clashes.
			dst := map[string]string{KernelFile: "kernel", InitramfsFile: "initramfs", ConfigFile: "config"}
			for _, f := range append(append([]File(nil), b.DTBs...), b.Firmware...) {
				checkPackage(t, f.Src, f.Package)
				if f.Src == "" || strings.HasPrefix(f.Src, "/") {
					t.Errorf("source %q must be a relative path inside %s", f.Src, f.Package.Name)
				}
				if !fatName.MatchString(f.Dst) || strings.HasPrefix(f.Dst, "/") {
					t.Errorf("destination %q is not a plain FAT path", f.Dst)
				}
				if prev, ok := dst[strings.ToLower(f.Dst)]; ok {
					t.Errorf("%s clashes with %s on the boot partition", f.Dst, prev)
				}
				dst[strings.ToLower(f.Dst)] = f.Src
			}
			for _, f := range b.DTBs {
				if f.Package != b.Kernel || path.Ext(f.Src) != ".dtb" {
					t.Errorf("DTB %s must be a .dtb from the kernel package", f.Src)
				}
			}

			// Raw blobs must not overlap each other, the MBR, or the partition.
			end := int64(1) // sector 0 is the MBR
			for _, r := range b.Raw {
				checkPackage(t, r.Src, r.Package)
				if r.Sector < end {
					t.Errorf("raw blob %s at sector %d overlaps the previous one (ends at %d)", r.Src, r.Sector, end)
				}
				if r.MaxSize <= 0 || r.MaxSize%512 != 0 {
					t.Errorf("raw blob %s: MaxSize %d must be a positive number of sectors", r.Src, r.MaxSize)
				}
				end = r.Sector + r.MaxSize/512
			}
			if end > b.BootPartitionStart {
				t.Errorf("raw blobs end at sector %d, past the boot partition start %d", end, b.BootPartitionStart)
			}

			switch b.Boot {
			case BootQEMU:
				if b.QEMUMachine == "" || b.QEMUCPU == "" {
					t.Error("QEMU board without machine/cpu")
				}
				if len(b.DTBs)+len(b.Firmware)+len(b.Raw) != 0 {
					t.Error("QEMU board carries boot firmware it does not use")
				}
				if b.Loader == nil || !strings.HasSuffix(b.Loader.Src, "u-boot.bin") {
					t.Error("QEMU board needs u-boot as its Loader")
				}
			case BootRaspberryPi:
				if len(b.Firmware) == 0 || len(b.DTBs) == 0 {
					t.Error("Raspberry Pi without GPU firmware or DTBs")
				}
				var hasStart, hasFixup bool
				for _, f := range b.Firmware {
					hasStart = hasStart || strings.HasPrefix(f.Dst, "start")
					hasFixup = hasFixup || strings.HasPrefix(f.Dst, "fixup")
				}
				if !hasStart || !hasFixup {
					t.Error("Raspberry Pi firmware needs a start*.elf and a fixup*.dat")
				}
				if len(b.Raw) != 0 {
					t.Error("Raspberry Pi boots from the FAT partition; no raw blobs")
				}
			case BootUBoot:
				if len(b.Raw) == 0 || len(b.DTBs) != 1 {
					t.Error("u-boot board needs its loader blobs and exactly one DTB (the boot script loads it)")
				}
				if b.Raw[0].Sector != 64 {
					t.Errorf("Rockchip boot ROM reads the loader at sector 64, not %d", b.Raw[0].Sector)
				}
			default:
				t.Errorf("unknown boot method %v", b.Boot)
			}

			pk := b.Packages()
			if len(pk) == 0 || pk[0] != b.Kernel {
				t.Errorf("Packages() = %v, want the kernel first", pk)
			}
		})
	}
}

func checkPackage(t *testing.T, what string, p Package) {
	t.Helper()
	if !debName.MatchString(p.Name) || !debVer.MatchString(p.Version) || (p.Arch != "arm64" && p.Arch != "all") {
		t.Errorf("%s: incomplete package %+v", what, p)
	}
}

// On-demand modules are never in a board's boot list.
func TestOnDemandModulesNotAtBoot(t *testing.T) {
	if len(OnDemandModules) == 0 {
		t.Fatal("no on-demand modules")
	}
	for _, b := range All() {
		for _, m := range b.Modules {
			for _, o := range OnDemandModules {
				if m == o {
					t.Errorf("board %s loads %s at boot; it is an on-demand module", b.Name, m)
				}
			}
		}
	}
}
