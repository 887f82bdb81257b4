// Command passgate is the host-side tool: it builds a board's firmware and
// SD-card image, and boots the router in QEMU.
//
//	passgate image [-board B] [-out DIR]   build a flashable SD image
//	passgate run   [-board B] [-out DIR]   build and boot in QEMU, console on the terminal
//	passgate update [-board B] [-version V] build a signed update file (.pgu)
//	passgate check [-board B | -all]       fetch a board's packages (build its own kernel) and check its files and modules
//	passgate boards                        list the boards
//	passgate pin NAME=VERSION              download a Debian package and write its pin file
package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/firmware"
	"github.com/passgate/passgate/firmware/deb"
	"github.com/passgate/passgate/image"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/updatefile"
	"github.com/passgate/passgate/qemu"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage: passgate COMMAND [flags]

commands:
  image   build the SD-card image for a board (-board, -out)
  run     build the board and boot it in QEMU with the console on this terminal
  update  build a signed firmware update file for a board (-board, -version, -key)
  check   download a board's pinned packages (and build its kernel, for a board
          with its own) and check its files and modules
  boards  list the boards
  pin     NAME=VERSION: download a Debian arm64 package and write its pin file

Run "passgate COMMAND -h" for a command's flags.
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "image":
		err = cmdImage(os.Args[2:])
	case "run":
		err = cmdRun(os.Args[2:])
	case "update":
		err = cmdUpdate(os.Args[2:])
	case "check":
		err = cmdCheck(os.Args[2:])
	case "boards":
		cmdBoards()
	case "pin":
		err = cmdPin(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "passgate: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "passgate: %v\n", err)
		os.Exit(1)
	}
}

// buildFlags are shared by image and run.
type buildFlags struct {
	board, out, config string
	version, key       string
	debugShell         bool
	debugAgent         bool
}

func (f *buildFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.board, "board", board.Default, "board: "+strings.Join(board.Names(), ", "))
	fs.StringVar(&f.out, "out", "out", "output directory (a subdirectory per board is used)")
	fs.StringVar(&f.config, "config", "", "passgate.conf to put on the image (default: a starter configuration)")
	fs.StringVar(&f.version, "version", "", "the firmware's version (default: git describe of the tree)")
	fs.StringVar(&f.key, "key", defaultKeyPath(), "update signing key (ed25519, PEM); made on first use; the image accepts updates signed with it")
	fs.BoolVar(&f.debugShell, "debug-shell", false, "debug build: u-root shell on the console instead of routerd (start /bin/routerd by hand)")
	fs.BoolVar(&f.debugAgent, "debug-agent", false, "debug build (qemu-arm64): routerd as usual, plus a command agent on a virtio console (ps, kill, cat)")
}

type built struct {
	board *board.Board
	fw    *firmware.Result
	spec  image.Spec
	image string
}

func build(f buildFlags) (*built, error) {
	b, outDir, fw, _, err := buildFirmware(f)
	if err != nil {
		return nil, err
	}
	logw := prefixWriter("passgate: ")
	spec := image.Spec{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs}
	for _, bf := range fw.BootFiles {
		spec.Files = append(spec.Files, image.File{Src: bf.Src, Dst: bf.Dst})
	}
	for _, r := range fw.Raw {
		spec.Raw = append(spec.Raw, image.Raw{Src: r.Src, Sector: r.Sector, MaxSize: r.MaxSize})
	}
	if f.config != "" {
		if spec.Config, err = os.ReadFile(f.config); err != nil {
			return nil, err
		}
	}
	img := filepath.Join(outDir, "passgate-"+b.Name+".img")
	if err := image.Build(spec, img, logw); err != nil {
		return nil, err
	}
	return &built{board: b, fw: fw, spec: spec, image: img}, nil
}

// buildFirmware builds the board's kernel, initramfs and boot files, the
// initramfs trusting the update signing key f.key (made on first use).
func buildFirmware(f buildFlags) (*board.Board, string, *firmware.Result, ed25519.PrivateKey, error) {
	b, err := board.Get(f.board)
	if err != nil {
		return nil, "", nil, nil, err
	}
	root, err := firmware.FindRoot()
	if err != nil {
		return nil, "", nil, nil, err
	}
	outDir, err := filepath.Abs(filepath.Join(f.out, b.Name))
	if err != nil {
		return nil, "", nil, nil, err
	}
	key, err := signingKey(f.key)
	if err != nil {
		return nil, "", nil, nil, err
	}
	version := f.version
	if version == "" {
		version = gitVersion(root)
	}
	fw, err := firmware.Build(firmware.Options{Board: b, Root: root, OutDir: outDir, DebugShell: f.debugShell,
		DebugAgent: f.debugAgent, Version: version, UpdateKeys: updatefile.MarshalPublicKey(key.Public().(ed25519.PublicKey)),
		Log: prefixWriter("passgate: ")})
	if err != nil {
		return nil, "", nil, nil, err
	}
	return b, outDir, fw, key, nil
}

func cmdImage(args []string) error {
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	var f buildFlags
	f.register(fs)
	fs.Parse(args)
	r, err := build(f)
	if err != nil {
		return err
	}
	rel := relPath(r.image)
	st, _ := os.Stat(r.image)
	b := r.board
	fmt.Printf("\nImage for %s: %s (%d MiB)\n", b.Name, rel, st.Size()>>20)
	fmt.Printf("  initramfs %.1f MiB compressed, kernel %s\n", float64(r.fw.InitramfsSize)/(1<<20), b.KernelRelease)
	if b.Boot == board.BootQEMU {
		fmt.Printf("\nThis board is QEMU: boot it with `passgate run -board %s` (make run).\n", b.Name)
		return nil
	}
	fmt.Printf(`
Write it to an SD card (this erases the card; find its device with lsblk):
  sudo dd if=%s of=/dev/sdX bs=4M conv=fsync status=progress
or
  sudo bmaptool copy --nobmap %s /dev/sdX

Before the first boot you can edit %s on the card's %s partition from any PC.
Serial console: %s at %d baud.
LAN port: %s
WAN port: %s
`, rel, rel, board.ConfigFile, board.BootLabel, b.Console, b.Baud, b.LAN.Note, b.WAN.Note)
	if b.QEMUMachine != "" {
		fmt.Printf("To try it first in QEMU (machine %s): passgate run -board %s (make run BOARD=%s).\n", b.QEMUMachine, b.Name, b.Name)
	}
	return nil
}

// LAN namespace and tap used by `passgate run`.
const (
	lanNetns = "passgate-lan"
	lanTap   = "lan0"
)

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var f buildFlags
	f.register(fs)
	fresh := fs.Bool("fresh", false, "start from the image's default configuration (discard the run disk)")
	fs.Parse(args)
	b, err := board.Get(f.board)
	if err != nil {
		return err
	}
	if b.QEMUMachine == "" {
		return fmt.Errorf("board %s has no QEMU machine to boot on; use -board %s (or rpi3)", b.Name, board.Default)
	}
	if os.Geteuid() != 0 {
		return errors.New("run needs root: the VM's LAN is a tap device in network namespace " + lanNetns)
	}
	r, err := build(f)
	if err != nil {
		return err
	}
	// The VM's disk is a copy of the image that persists across runs, so
	// a configuration saved in the router survives `make run` as it
	// survives a reboot.
	disk := filepath.Join(filepath.Dir(r.image), "run-disk.img")
	if _, err := os.Stat(disk); err != nil || *fresh {
		// QEMU wants an SD card (raspi3b) sized a power of two.
		if err := qemu.PadSD(r.image, disk+".tmp"); err != nil {
			return err
		}
		if err := os.Rename(disk+".tmp", disk); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(os.Stderr, "passgate: keeping %s and the configuration saved on it (-fresh starts over)\n", relPath(disk))
		if b.Loader != nil {
			// The disk's boot loader starts slot a: put this build there.
			if err := image.RefreshSlotA(disk, r.spec); err != nil {
				return fmt.Errorf("%w (-fresh makes a new disk from the image)", err)
			}
		}
	}
	var dtb string
	if b.QEMUMachine == "raspi3b" {
		for _, f := range r.fw.BootFiles {
			if f.Dst == "bcm2837-rpi-3-b.dtb" {
				dtb = f.Src
			}
		}
	}
	if err := qemu.EnsureNetns(lanNetns); err != nil {
		return err
	}
	// `ip netns exec` puts /etc/netns/NAME/resolv.conf over /etc/resolv.conf,
	// so the DNS server dhclient learns in the namespace does not replace
	// the host's.
	if err := os.MkdirAll(filepath.Join("/etc/netns", lanNetns), 0o755); err != nil {
		return err
	}
	if rc := filepath.Join("/etc/netns", lanNetns, "resolv.conf"); !exists(rc) {
		if err := os.WriteFile(rc, []byte("# resolv.conf of network namespace "+lanNetns+" (passgate run)\n"), 0o644); err != nil {
			return err
		}
	}
	tap, err := qemu.OpenTapInNetns(lanNetns, lanTap)
	if err != nil {
		return fmt.Errorf("%w (is another passgate VM running?)", err)
	}
	dhclient := fmt.Sprintf("dhclient -v -1 -pf /run/dhclient.%[1]s.pid -lf /run/dhclient.%[1]s.leases %[2]s", lanNetns, lanTap)
	if err := sysdeps.Require(sysdeps.Dhclient); err != nil {
		dhclient += "    (" + err.Error() + ")"
	}
	machine := "virt"
	if dtb != "" {
		machine = "raspi3b, ports on USB Ethernet"
	}
	fmt.Printf(`
passgate: booting %s in QEMU (%s; software emulation). The console follows;
routerd prints "passgate ready: lan ADDRESS wan ADDRESS" when it answers on
the LAN (wan "waiting" until the WAN has an address).
  LAN: tap %s in network namespace %s. Be a LAN host from another terminal:
         sudo ip netns exec %s %s
         sudo ip netns exec %s curl -I http://NAME/    (any web site you choose)
  WAN: QEMU user-mode network (NAT to this machine's network); its DHCP
       server gives the router a WAN lease.
  Disk: %s (passgate.conf on the FAT partition)
  Quit: Ctrl-A X    (Ctrl-A C toggles the QEMU monitor)

`, b.Name, machine, lanTap, lanNetns, lanNetns, dhclient, lanNetns, relPath(disk))
	var debugSock string
	if f.debugAgent {
		debugSock = filepath.Join(filepath.Dir(r.image), "debug.sock")
		os.Remove(debugSock)
		fmt.Printf("  Debug agent: socat - UNIX-CONNECT:%s  (ps, kill SIGNAL PID, cat FILE, /path/to/program ARGS)\n\n", relPath(debugSock))
	}
	// qemu-arm64 boots like a board: its u-boot runs the disk's boot
	// script, which starts the committed boot slot (or once the one on
	// trial).
	vm, err := qemu.Start(qemu.Config{Board: b, Kernel: r.fw.Kernel, Initramfs: r.fw.Initramfs, DTB: dtb,
		BIOS: r.fw.Loader, Disk: disk, LAN: tap, WAN: true, Interactive: true, DebugConsole: debugSock})
	tap.Close()
	if err != nil {
		return err
	}
	err = vm.Wait()
	fmt.Printf("\npassgate: QEMU ended. The namespace %s stays (with anything still running in it); remove it with: sudo ip netns del %s\n", lanNetns, lanNetns)
	return err
}

func cmdCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	name := fs.String("board", board.Default, "board")
	all := fs.Bool("all", false, "check every board")
	fs.Parse(args)
	boards := []string{*name}
	if *all {
		boards = board.Names()
	}
	for _, n := range boards {
		b, err := board.Get(n)
		if err != nil {
			return err
		}
		if err := firmware.Check(firmware.Options{Board: b, Log: prefixWriter("passgate: ")}); err != nil {
			return err
		}
		fmt.Printf("%s: packages verified; kernel, DTBs, firmware and %d modules present\n", n, len(b.Modules))
	}
	return nil
}

func cmdBoards() {
	for _, b := range board.All() {
		def := ""
		if b.Name == board.Default {
			def = " (default)"
		}
		fmt.Printf("%-11s %s%s\n            console %s, LAN %s, WAN %s\n", b.Name, b.Description, def, b.Console, b.LAN.Name, b.WAN.Name)
	}
}

func cmdPin(args []string) error {
	fs := flag.NewFlagSet("pin", flag.ExitOnError)
	fs.Parse(args)
	if fs.NArg() != 1 || !strings.Contains(fs.Arg(0), "=") {
		return errors.New("usage: passgate pin NAME=VERSION (e.g. linux-image-6.1.0-50-arm64=6.1.176-1)")
	}
	name, version, _ := strings.Cut(fs.Arg(0), "=")
	root, err := firmware.FindRoot()
	if err != nil {
		return err
	}
	f := &deb.Fetcher{CacheDir: filepath.Join(root, ".cache"), Log: prefixWriter("passgate: ")}
	pin, err := f.FetchUnpinned(name, version)
	if err != nil {
		return err
	}
	path := filepath.Join(root, "firmware", "deb", "pins", deb.PinFileName(name, version))
	if err := os.WriteFile(path, pin.Format(), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s:\n%s\nReview it, name the version in board/board.go, and commit both.\n", relPath(path), pin.Format())
	return nil
}

func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

type prefixWriter string

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintf(os.Stderr, "%s%s\n", string(p), l)
	}
	return len(b), nil
}
