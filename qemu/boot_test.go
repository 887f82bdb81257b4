package qemu

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/firmware"
	"github.com/passgate/passgate/image"
	"github.com/passgate/passgate/internal/sysdeps"
)

func TestArgsQEMUArm64(t *testing.T) {
	b, _ := board.Get("qemu-arm64")
	tap, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	c := Config{Board: b, Kernel: "K", Initramfs: "I", Disk: "sd.img", DiskSnapshot: true, LAN: tap, WAN: true}
	args, files, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(args, " ")
	for _, want := range []string{
		"-accel tcg", "-M virt", "-cpu cortex-a53", "-smp 2", "-m 512",
		"-kernel K", "-initrd I", "-append console=ttyAMA0 ",
		"-netdev tap,id=lan,fd=3", "virtio-net-pci,netdev=lan,mac=" + LANMAC + ",addr=0x2",
		"-netdev user,id=wan", "virtio-net-pci,netdev=wan,mac=" + WANMAC + ",addr=0x3",
		"file=sd.img,format=raw,if=none,id=sd,snapshot=on", "-no-reboot", "-serial stdio",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("args lack %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "netdev=lan") > strings.Index(s, "netdev=wan") {
		t.Error("the LAN NIC must come first (eth0)")
	}
	if len(files) != 1 || files[0] != tap {
		t.Errorf("ExtraFiles = %v, want the tap as fd 3", files)
	}
	// PCI slots must agree with the board's port definitions.
	if b.LAN.Device != "0000:00:02.0" || b.WAN.Device != "0000:00:03.0" {
		t.Errorf("board ports %s/%s do not match QEMU slots 2/3", b.LAN.Device, b.WAN.Device)
	}
	c.Interactive = true
	args, _, _ = c.Args()
	if s := strings.Join(args, " "); !strings.Contains(s, "-nographic") || strings.Contains(s, "-no-reboot") {
		t.Errorf("interactive args: %s", s)
	}

	// A WAN tap and a debug console.
	c = Config{Board: b, Kernel: "K", Initramfs: "I", LAN: tap, WANTap: tap, DebugConsole: "/x/debug.sock"}
	args, files, _ = c.Args()
	s = strings.Join(args, " ")
	for _, want := range []string{"-netdev tap,id=lan,fd=3", "-netdev tap,id=wan,fd=4",
		"socket,id=debug,path=/x/debug.sock,server=on,wait=off", "virtconsole,chardev=debug"} {
		if !strings.Contains(s, want) {
			t.Errorf("args lack %q:\n%s", want, s)
		}
	}
	if len(files) != 2 {
		t.Errorf("ExtraFiles = %v, want both taps", files)
	}

	pi, _ := board.Get("rpi4")
	if _, _, err := (&Config{Board: pi}).Args(); err == nil {
		t.Error("rpi4 has no QEMU machine; Args must refuse it")
	}
}

func TestArgsRaspi3b(t *testing.T) {
	b, _ := board.Get("rpi3")
	if _, _, err := (&Config{Board: b, Kernel: "K", Initramfs: "I"}).Args(); err == nil {
		t.Error("raspi3b without a DTB must be refused")
	}
	c := Config{Board: b, Kernel: "K", Initramfs: "I", DTB: "pi3.dtb", Disk: "sd.img", DiskSnapshot: true, WAN: true}
	args, _, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(args, " ")
	for _, want := range []string{"-M raspi3b", "-dtb pi3.dtb", "-append console=ttyAMA0 panic=10",
		"fw_devlink=permissive", "usb-net,netdev=lan,mac=" + LANUSBMAC, "usb-net,netdev=wan,mac=" + WANUSBMAC,
		"file=sd.img,format=raw,if=sd,snapshot=on"} {
		if !strings.Contains(s, want) {
			t.Errorf("args lack %q:\n%s", want, s)
		}
	}
	for _, bad := range []string{"ttyS1", "-smp", "-m ", "virtio"} {
		if strings.Contains(s, bad) {
			t.Errorf("args hold %q:\n%s", bad, s)
		}
	}
	c.DebugConsole = "x.sock"
	if _, _, err := c.Args(); err == nil {
		t.Error("a debug console (virtio) on raspi3b must be refused")
	}
}

// The boot tests build real firmware (kernel and modules from the pinned
// Debian packages, routerd for arm64 as /init), boot it under TCG and talk to it through network namespaces.
// They need root; nothing is skipped.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the boot tests need root (network namespaces and tap devices for the VM's ports); run `make test` as root")
	}
	if err := sysdeps.Require(sysdeps.QEMU, sysdeps.IP, sysdeps.Udhcpc, sysdeps.Curl); err != nil {
		t.Fatalf("boot test prerequisites: %v", err)
	}
}

// buildBoard builds a board's firmware and SD image (with passgate.conf
// conf, or the image's default if empty) in a temporary directory.
func buildBoard(t *testing.T, name string, agent bool, conf string) (*firmware.Result, string) {
	t.Helper()
	b, err := board.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	start := time.Now()
	fw, err := firmware.Build(firmware.Options{Board: b, OutDir: out, DebugAgent: agent, Log: &logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	spec := image.Spec{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs}
	for _, f := range fw.BootFiles {
		spec.Files = append(spec.Files, image.File{Src: f.Src, Dst: f.Dst})
	}
	if conf != "" {
		spec.Config = []byte(conf)
	}
	img := filepath.Join(out, "sd.img")
	if err := image.Build(spec, img, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(img)
	t.Logf("%s: initramfs %.2f MiB compressed (%.2f MiB cpio), image %d MiB, firmware and image built in %v",
		name, float64(fw.InitramfsSize)/(1<<20), float64(fw.InitramfsCPIOSize)/(1<<20), st.Size()>>20, time.Since(start).Round(100*time.Millisecond))
	return fw, img
}

// netns creates a network namespace for the test, removed at the end.
func netns(t *testing.T, role string) string {
	t.Helper()
	ns := fmt.Sprintf("pgq%d-%s", os.Getpid()%100000, role)
	if err := EnsureNetns(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteNetns(ns); err != nil {
			t.Error(err)
		}
	})
	return ns
}

func inNetns(t *testing.T, ns string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startVM boots c and stops QEMU at the end of the test, logging the
// console if the test failed.
func startVM(t *testing.T, c Config) *VM {
	t.Helper()
	vm, err := Start(c)
	if c.LAN != nil {
		c.LAN.Close() // QEMU holds its own copies of the taps
	}
	if c.WANTap != nil {
		c.WANTap.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		vm.Kill()
		if t.Failed() {
			t.Logf("console:\n%s", vm.Console())
		}
	})
	return vm
}

func waitFor(t *testing.T, vm *VM, re string, from int, timeout time.Duration) (Line, int) {
	t.Helper()
	l, i, err := vm.WaitFor(regexp.MustCompile(re), from, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return l, i
}

// timeline lists the console lines from "from" to "to", each with its
// offset from "from": where the boot time goes.
func timeline(lines []Line, from, to Line) string {
	var b strings.Builder
	for _, l := range lines {
		if l.At.Before(from.At) || l.At.After(to.At) {
			continue
		}
		fmt.Fprintf(&b, "  +%5.2fs %s\n", l.At.Sub(from.At).Seconds(), l.Text)
	}
	return b.String()
}

func since(vm *VM, l Line) time.Duration { return l.At.Sub(vm.Started).Round(10 * time.Millisecond) }

// The configuration the router test writes into the image: the image's
// defaults with a static WAN, the ISP being a namespace on the WAN tap.
// (When routerd's WAN DHCP client is wired, this test can run dnsmasq in
// the WAN namespace and keep the default "mode dhcp".)
const (
	ispAddr    = "203.0.113.1"
	routerWAN  = "203.0.113.2"
	staticWAN  = "set interfaces wan mode static\nset interfaces wan address " + routerWAN + "/24\nset interfaces wan gateway " + ispAddr + "\n"
	udhcpcHook = `#!/bin/sh
case "$1" in bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$subnet" dev "$interface"
  for r in $router; do ip route replace default via "$r"; break; done
  echo "$ip" > "$0.addr" ;;
esac
`
)

// TestBootQEMUArm64Router boots the qemu-arm64 image between a LAN
// namespace and a WAN namespace (taps into the VM's two NICs): routerd
// mounts the SD image's boot partition, runs its passgate.conf and says
// it is ready; a LAN host gets a lease from it with busybox udhcpc and
// fetches a page from an HTTP server in the WAN namespace through its NAT.
func TestBootQEMUArm64Router(t *testing.T) {
	needRoot(t)
	b, _ := board.Get("qemu-arm64")
	fw, img := buildBoard(t, b.Name, false, string(image.DefaultConfig(b))+staticWAN)

	lanNS, wanNS := netns(t, "lan"), netns(t, "wan")
	lanTap, err := OpenTapInNetns(lanNS, "lan0")
	if err != nil {
		t.Fatal(err)
	}
	wanTap, err := OpenTapInNetns(wanNS, "wan0")
	if err != nil {
		lanTap.Close()
		t.Fatal(err)
	}
	inNetns(t, wanNS, "ip", "addr", "add", ispAddr+"/24", "dev", "wan0")

	// The internet: an HTTP server in the WAN namespace that says who
	// asked.
	var ln net.Listener
	if err := InNetns(wanNS, func() (err error) {
		ln, err = net.Listen("tcp", ispAddr+":8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the WAN, %s\n", r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	// A DHCP probe on the LAN from the moment QEMU starts: a DISCOVER
	// every 100 ms until the router offers, for the time to the first
	// DHCP answer.
	probeCtx, stopProbe := context.WithCancel(context.Background())
	offered := make(chan time.Time, 1)
	probeErr := make(chan error, 1)
	go func() {
		at, err := dhcpProbe(probeCtx, lanNS, "lan0")
		if err != nil {
			probeErr <- err
			return
		}
		offered <- at
	}()
	t.Cleanup(stopProbe)

	vm := startVM(t, Config{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs,
		Disk: img, DiskSnapshot: true, LAN: lanTap, WANTap: wanTap})

	initLine, i := waitFor(t, vm, `Run /init as init process`, 0, 120*time.Second)
	mounted, _ := waitFor(t, vm, `routerd: boot partition /dev/vda1 \(FAT, label "PASSGATE"\) mounted on /boot`, i, 60*time.Second)
	ready, _ := waitFor(t, vm, `passgate ready: lan 192\.168\.1\.1/24 wan `+regexp.QuoteMeta(routerWAN)+`/24$`, i, 60*time.Second)
	var offer time.Time
	select {
	case offer = <-offered:
	case err := <-probeErr:
		t.Fatalf("DHCP probe: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no DHCP offer on the LAN within 30 s of routerd's ready line")
	}
	t.Logf("QEMU start -> kernel runs /init: %v", since(vm, initLine))
	t.Logf("QEMU start -> boot partition mounted: %v", since(vm, mounted))
	t.Logf("QEMU start -> %q: %v", ready.Text, since(vm, ready))
	t.Logf("QEMU start -> first DHCP offer on the LAN: %v", offer.Sub(vm.Started).Round(10*time.Millisecond))
	t.Logf("kernel runs /init -> routerd ready: %v", ready.At.Sub(initLine.At).Round(10*time.Millisecond))
	t.Logf("boot timeline (offsets from \"Run /init\", as the host saw the lines):\n%s", timeline(vm.Lines(), initLine, ready))
	if l, _, err := vm.WaitFor(regexp.MustCompile(`routerd: start-up took`), i, 10*time.Second); err == nil {
		t.Logf("%s", l.Text) // the worker's phases, timed inside the VM
	}

	// A LAN host: lease with busybox udhcpc, then the web through NAT.
	hook := filepath.Join(t.TempDir(), "udhcpc.sh")
	if err := os.WriteFile(hook, []byte(udhcpcHook), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	inNetns(t, lanNS, "udhcpc", "-i", "lan0", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", hook)
	addr, _ := os.ReadFile(hook + ".addr")
	t.Logf("udhcpc lease %s in %v", strings.TrimSpace(string(addr)), time.Since(start).Round(10*time.Millisecond))
	if a := strings.TrimSpace(string(addr)); !strings.HasPrefix(a, "192.168.1.") {
		t.Fatalf("udhcpc got %q, want an address in 192.168.1.0/24", a)
	}
	body := inNetns(t, lanNS, "curl", "-sS", "--max-time", "20", "http://"+ispAddr+":8080/")
	if !strings.Contains(body, "hello from the WAN, "+routerWAN+":") {
		t.Fatalf("LAN host fetched %q; want the WAN server's page, asked from the router's WAN address %s", body, routerWAN)
	}
	t.Logf("LAN host -> WAN server through the VM: %s", strings.TrimSpace(body))
	if c := vm.Console(); strings.Contains(c, "routerd: kernel module ") || strings.Contains(c, "routerd: as the first process:") {
		t.Errorf("routerd could not load a kernel module or mount what it needs as /init:\n%s", c)
	}
	// The kernel's informational lines stay off the console, where the
	// shell runs (routerd sets the console's log level as init).
	if c := vm.Console(); strings.Contains(c, "entered promiscuous mode") {
		t.Errorf("kernel info lines reach the console after routerd started:\n%s", c)
	}
}

var workerStarted = regexp.MustCompile(`routerd: worker started \(pid (\d+)\)`)

// readyRE is routerd's ready line with the image's default configuration:
// the WAN is "waiting" or has its DHCP lease (from QEMU's user network).
const readyRE = `passgate ready: lan 192\.168\.1\.1/24 wan (waiting|[0-9.]+/\d+)$`

// TestBootQEMUArm64WorkerRestart boots the debug-agent build of the
// qemu-arm64 image (the agent is /init, serves commands on a virtio
// console and becomes routerd, PID 1) with the image's default
// configuration, kills routerd's worker with SIGKILL from inside the VM,
// and expects the supervisor to say so, collect it, and start a new
// worker that comes up again on the same mounted boot partition — and no
// kernel panic.
func TestBootQEMUArm64WorkerRestart(t *testing.T) {
	needRoot(t)
	b, _ := board.Get("qemu-arm64")
	fw, img := buildBoard(t, b.Name, true, "")
	vm := startVM(t, Config{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs,
		Disk: img, DiskSnapshot: true, WAN: true, DebugConsole: filepath.Join(t.TempDir(), "debug.sock")})

	started, i := waitFor(t, vm, workerStarted.String(), 0, 120*time.Second)
	ready, ri := waitFor(t, vm, readyRE, i, 60*time.Second)
	t.Logf("QEMU start -> %q: %v", ready.Text, since(vm, ready))
	pid := workerStarted.FindStringSubmatch(started.Text)[1]

	ps, err := vm.Debug("ps", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^` + pid + ` 1 \S /bin/routerd`).MatchString(ps) {
		t.Fatalf("worker %s not in the VM's process list as PID 1's child:\n%s", pid, ps)
	}
	if !regexp.MustCompile(`(?m)^1 0 \S /bin/routerd`).MatchString(ps) {
		t.Fatalf("PID 1 is not routerd:\n%s", ps)
	}
	// RCU grace periods, expedited for the start-up (pid1.ExpediteRCU),
	// are back to normal once the worker is ready.
	rcu, err := vm.Debug("cat /sys/kernel/rcu_expedited", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(rcu); v != "0" {
		t.Errorf("/sys/kernel/rcu_expedited after ready: %q, want 0", rcu)
	}
	out, err := vm.Debug("kill KILL "+pid, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("debug agent: %s", strings.TrimSpace(out))
	killed, j := waitFor(t, vm, `routerd: worker \(pid `+pid+`\) killed by signal SIGKILL \(9\) after .*; restarting in`, ri, 30*time.Second)
	again, k := waitFor(t, vm, workerStarted.String(), j, 30*time.Second)
	ready2, _ := waitFor(t, vm, readyRE, k, 60*time.Second)
	if workerStarted.FindStringSubmatch(again.Text)[1] == pid {
		t.Errorf("the new worker has the old pid %s", pid)
	}
	t.Logf("%q\n -> %q after %v\n -> ready again after %v", killed.Text, again.Text,
		again.At.Sub(killed.At).Round(10*time.Millisecond), ready2.At.Sub(killed.At).Round(10*time.Millisecond))

	// The new worker found the partition its predecessor mounted.
	mounts, err := vm.Debug("cat /proc/mounts", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^/dev/vda1 /boot vfat .*$`).FindString(mounts); m == "" {
		t.Errorf("/boot is not the FAT partition:\n%s", mounts)
	} else {
		t.Logf("mount: %s", m)
	}
	if n := strings.Count(vm.Console(), "mounted on /boot"); n != 1 {
		t.Errorf("the boot partition was mounted %d times; a restarted worker must reuse the mount", n)
	}
	// What routerd mounted as /init (internal/pid1).
	for _, m := range []string{`devtmpfs /dev devtmpfs`, `proc /proc proc`, `sysfs /sys sysfs`, `tmpfs /tmp tmpfs`,
		`tmpfs /run tmpfs`, `devpts /dev/pts devpts`, `tmpfs /dev/shm tmpfs`} {
		if !regexp.MustCompile(`(?m)^` + m + ` `).MatchString(mounts) {
			t.Errorf("/proc/mounts lacks %q:\n%s", m, mounts)
		}
	}
	// The killed worker was collected: no zombie anywhere.
	if ps, err = vm.Debug("ps", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if z := regexp.MustCompile(`(?m)^\d+ \d+ Z .*$`).FindAllString(ps, -1); len(z) > 0 {
		t.Errorf("zombies in the VM: %q\n%s", z, ps)
	}
}

// TestBootQEMUArm64WithoutBootPartition boots the qemu-arm64 firmware
// without its SD image: routerd waits a bounded time for the boot
// partition, says why it runs without it, and comes up with the factory
// configuration from RAM.
func TestBootQEMUArm64WithoutBootPartition(t *testing.T) {
	needRoot(t)
	b, _ := board.Get("qemu-arm64")
	fw, _ := buildBoard(t, b.Name, false, "")
	vm := startVM(t, Config{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs, WAN: true})
	_, i := waitFor(t, vm, workerStarted.String(), 0, 120*time.Second)
	why, _ := waitFor(t, vm, `routerd: boot partition not mounted: neither /dev/vda1 \(FAT\) nor a FAT file system labelled PASSGATE was found \(waited`, i, 60*time.Second)
	fallback, _ := waitFor(t, vm, `routerd: the boot partition is not available: running the factory configuration \(LAN eth0 192\.168\.1\.1/24, WAN eth1 by dhcp\) from RAM`, i, 10*time.Second)
	ready, _ := waitFor(t, vm, readyRE, i, 60*time.Second)
	t.Logf("%s\n%s\nQEMU start -> %q: %v", why.Text, fallback.Text, ready.Text, since(vm, ready))
}

// TestBootRPi3OnRaspi3b boots the rpi3 image's kernel, device tree and
// initramfs on QEMU's raspi3b machine, with the SD image as its SD card and
// two USB Ethernet devices as its ports: routerd mounts /dev/mmcblk0p1 and
// comes up.
func TestBootRPi3OnRaspi3b(t *testing.T) {
	needRoot(t)
	b, _ := board.Get("rpi3")
	fw, img := buildBoard(t, b.Name, false, "")
	var dtb string
	for _, f := range fw.BootFiles {
		if f.Dst == "bcm2837-rpi-3-b.dtb" {
			dtb = f.Src
		}
	}
	if dtb == "" {
		t.Fatalf("the rpi3 build has no bcm2837-rpi-3-b.dtb: %+v", fw.BootFiles)
	}
	sd := filepath.Join(t.TempDir(), "sd.img")
	if err := PadSD(img, sd); err != nil {
		t.Fatal(err)
	}
	vm := startVM(t, Config{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs, DTB: dtb,
		Disk: sd, DiskSnapshot: true, WAN: true})
	initLine, i := waitFor(t, vm, `Run /init as init process`, 0, 180*time.Second)
	started, _ := waitFor(t, vm, workerStarted.String(), i, 120*time.Second)
	mounted, _ := waitFor(t, vm, `routerd: boot partition /dev/mmcblk0p1 \(FAT, label "PASSGATE"\) mounted on /boot`, i, 60*time.Second)
	ready, _ := waitFor(t, vm, readyRE, i, 120*time.Second)
	t.Logf("raspi3b: QEMU start -> kernel runs /init: %v", since(vm, initLine))
	t.Logf("raspi3b: QEMU start -> %q: %v", started.Text, since(vm, started))
	t.Logf("raspi3b: QEMU start -> %q: %v", mounted.Text, since(vm, mounted))
	t.Logf("raspi3b: QEMU start -> %q: %v", ready.Text, since(vm, ready))
}

type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dhcpProbe broadcasts a DHCP DISCOVER on ifname in namespace ns every
// 100 ms, through an AF_PACKET socket (the interface has no address), and
// returns when the first OFFER for it arrives.
func dhcpProbe(ctx context.Context, ns, ifname string) (time.Time, error) {
	var fd int
	var ifi *net.Interface
	if err := InNetns(ns, func() (err error) {
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}); err != nil {
		return time.Time{}, err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return time.Time{}, err
	}
	discover, err := dhcpv4.NewDiscovery(ifi.HardwareAddr, dhcpv4.WithBroadcast(true))
	if err != nil {
		return time.Time{}, err
	}
	eth := &layers.Ethernet{SrcMAC: ifi.HardwareAddr, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4zero, DstIP: net.IPv4bcast}
	udp := &layers.UDP{SrcPort: 68, DstPort: 67}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(discover.ToBytes())); err != nil {
		return time.Time{}, err
	}
	frame := buf.Bytes()
	rx := make([]byte, 2048)
	var sent time.Time
	for ctx.Err() == nil {
		if time.Since(sent) >= 100*time.Millisecond {
			if _, err := unix.Write(fd, frame); err != nil {
				return time.Time{}, err
			}
			sent = time.Now()
		}
		n, _, err := unix.Recvfrom(fd, rx, 0)
		if err != nil {
			continue // timeout
		}
		p := gopacket.NewPacket(rx[:n], layers.LayerTypeEthernet, gopacket.Default)
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || u.SrcPort != 67 || u.DstPort != 68 {
			continue
		}
		m, err := dhcpv4.FromBytes(u.Payload)
		if err == nil && m.TransactionID == discover.TransactionID && m.MessageType() == dhcpv4.MessageTypeOffer {
			return time.Now(), nil
		}
	}
	return time.Time{}, ctx.Err()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
