// Package qemu boots a board's kernel and initramfs under
// qemu-system-aarch64 with software emulation (-accel tcg: KVM is not
// usable on the build machines), a WAN on QEMU's user-mode network (its
// built-in DHCP server hands the router a WAN lease) and a LAN on a tap
// device that lives in a network namespace on the host, so programs run
// in that namespace are LAN hosts.
//
// For qemu-arm64 (-M virt) the NICs are virtio-net on fixed PCI slots
// (LAN 00:02.0 = eth0, WAN 00:03.0 = eth1, matching the board definition)
// and the board's SD image is attached as a virtio disk (/dev/vda), so a
// configuration saved by routerd survives a reboot, as on real hardware.
// The WAN can also be a tap in a namespace that plays the ISP (tests), and
// a debug console (a virtio console on a Unix socket) reaches the debug
// agent of a firmware DebugAgent build.
//
// rpi3 boots on -M raspi3b with its own kernel, device tree and
// initramfs, the SD image as its SD card (/dev/mmcblk0) and two USB
// Ethernet devices as its ports (eth0, eth1).
package qemu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/sysdeps"
)

// Binary is the QEMU system emulator used.
const Binary = "qemu-system-aarch64"

// MACs of the VM's NICs.
const (
	LANMAC = "52:54:00:50:47:01"
	WANMAC = "52:54:00:50:47:02"
	// The USB NICs of a Raspberry Pi machine use universally administered
	// addresses (from the documentation range 00:00:5e:00:53:xx, RFC
	// 7042): the kernel names CDC Ethernet devices with locally
	// administered ones usb0, usb1 instead of eth0, eth1.
	LANUSBMAC = "00:00:5e:00:53:01"
	WANUSBMAC = "00:00:5e:00:53:02"
)

// Config describes one VM.
type Config struct {
	Board     *board.Board
	Kernel    string
	Initramfs string
	// Cmdline defaults to the board's kernel command line.
	Cmdline string
	// BIOS, if set, is the boot loader QEMU starts instead of loading
	// Kernel and Initramfs itself (firmware.Result.Loader: u-boot for
	// qemu-arm64), which boots a slot of Disk with the disk's own boot
	// script and command line. virt only; needs Disk.
	BIOS string
	// Disk is the SD image attached as a virtio disk (qemu-arm64); empty
	// for none. With DiskSnapshot, writes go to a temporary overlay.
	Disk         string
	DiskSnapshot bool
	// MemoryMiB defaults to 512, SMP to 2.
	MemoryMiB int
	SMP       int
	// DTB is the device tree for machines that need one from the board
	// (raspi3b); QEMU makes its own for virt.
	DTB string
	// LAN is the tap device (from OpenTapInNetns) for the LAN NIC; nil
	// leaves the LAN NIC unconnected.
	LAN *os.File
	// WAN connects the WAN NIC to QEMU's user-mode network, unless WANTap
	// is set: then the WAN NIC is that tap (a namespace playing the ISP).
	WAN    bool
	WANTap *os.File
	// DebugConsole is a Unix socket path: QEMU listens there and connects
	// it to a virtio console, hvc0 in the guest, where the debug agent of
	// a firmware.Options.DebugAgent build serves commands (VM.Debug).
	// virt only.
	DebugConsole string
	// Interactive puts the serial console and QEMU's monitor on the
	// terminal (-nographic: Ctrl-A X quits, Ctrl-A C switches to the
	// monitor) and lets the guest reboot. Otherwise the console goes to
	// Console and a reboot ends QEMU.
	Interactive bool
	Console     io.Writer
	// SerialInput lets VM.Type write to the serial console (a test types
	// on the router's console); otherwise the console reads nothing.
	SerialInput bool
}

// Args returns QEMU's command line (without the binary) and the files to
// pass as ExtraFiles (the taps become fds 3, 4).
//
// virt (qemu-arm64): virtio NICs on fixed PCI slots, the SD image as a
// virtio disk. raspi3b (rpi3): the Pi 3's own device tree and kernel, the
// console on the PL011 (ttyAMA0: QEMU's first serial port; the board's
// GPIO mini UART is its second), the NICs as USB CDC Ethernet devices on
// the Pi's dwc2 controller (the Pi 3's SMSC/Microchip Ethernet is not
// emulated; cdc_ether is in the board's module list for USB adapters), and
// the SD image as the SD card (QEMU needs its size to be a power of two).
func (c *Config) Args() ([]string, []*os.File, error) {
	b := c.Board
	if b == nil {
		return nil, nil, errors.New("qemu: no board")
	}
	switch b.QEMUMachine {
	case "virt", "raspi3b":
	default:
		return nil, nil, fmt.Errorf("qemu: board %s has no QEMU machine that boots it; use qemu-arm64 or rpi3", b.Name)
	}
	raspi := b.QEMUMachine == "raspi3b"
	if raspi && c.DTB == "" {
		return nil, nil, fmt.Errorf("qemu: board %s needs its device tree (Config.DTB) on %s", b.Name, b.QEMUMachine)
	}
	if raspi && c.DebugConsole != "" {
		return nil, nil, fmt.Errorf("qemu: a debug console needs virtio, which %s does not have", b.QEMUMachine)
	}
	mem, smp := c.MemoryMiB, c.SMP
	if mem == 0 {
		mem = 512
	}
	if smp == 0 {
		smp = 2
	}
	cmdline := c.Cmdline
	if cmdline == "" {
		cmdline = b.KernelCmdline()
		if raspi {
			// QEMU's firmware mailbox is partial: the Pi's power domain
			// driver never binds, and fw_devlink would hold dwc2 (USB, so
			// both NICs) back until it gives up after 10 s.
			cmdline = withConsole(cmdline, "ttyAMA0") + " fw_devlink=permissive"
		}
	}
	args := []string{"-accel", "tcg", "-M", b.QEMUMachine}
	if raspi {
		// The machine fixes its CPUs (4 Cortex-A53) and RAM (1 GiB).
		args = append(args, "-dtb", c.DTB)
	} else {
		args = append(args, "-cpu", b.QEMUCPU, "-smp", strconv.Itoa(smp), "-m", strconv.Itoa(mem))
	}
	if c.BIOS != "" {
		if raspi || c.Disk == "" {
			return nil, nil, fmt.Errorf("qemu: a boot loader (BIOS) boots a disk on virt; board %s, disk %q", b.Name, c.Disk)
		}
		args = append(args, "-bios", c.BIOS, "-nodefaults")
	} else {
		args = append(args,
			"-kernel", c.Kernel,
			"-initrd", c.Initramfs,
			"-append", cmdline,
			"-nodefaults",
		)
	}
	if !raspi {
		// A hardware watchdog, which routerd arms for a trial boot: when
		// it fires, the machine resets (and with -no-reboot, QEMU ends).
		args = append(args, "-device", "virtio-rng-pci", "-device", "i6300esb,addr=0x6", "-action", "watchdog=reset")
	}
	var files []*os.File
	tap := func(id string, f *os.File) {
		files = append(files, f)
		args = append(args, "-netdev", fmt.Sprintf("tap,id=%s,fd=%d", id, 2+len(files)))
	}
	// LAN first (slot 2 or USB port 1 -> eth0), WAN second (eth1).
	if c.LAN != nil {
		tap("lan", c.LAN)
	} else {
		args = append(args, "-netdev", "hubport,id=lan,hubid=9")
	}
	if raspi {
		args = append(args, "-device", "usb-net,netdev=lan,mac="+LANUSBMAC)
	} else {
		args = append(args, "-device", "virtio-net-pci,netdev=lan,mac="+LANMAC+",addr=0x2"+virtioNetOpts)
	}
	switch {
	case c.WANTap != nil:
		tap("wan", c.WANTap)
	case c.WAN:
		args = append(args, "-netdev", "user,id=wan")
	default:
		args = append(args, "-netdev", "hubport,id=wan,hubid=8")
	}
	if raspi {
		args = append(args, "-device", "usb-net,netdev=wan,mac="+WANUSBMAC)
	} else {
		args = append(args, "-device", "virtio-net-pci,netdev=wan,mac="+WANMAC+",addr=0x3"+virtioNetOpts)
	}
	if c.Disk != "" {
		drive := "file=" + c.Disk + ",format=raw,if=none,id=sd"
		if raspi {
			drive = "file=" + c.Disk + ",format=raw,if=sd"
		}
		if c.DiskSnapshot {
			drive += ",snapshot=on"
		}
		args = append(args, "-drive", drive)
		if !raspi {
			args = append(args, "-device", "virtio-blk-pci,drive=sd,addr=0x4")
		}
	}
	if c.DebugConsole != "" {
		args = append(args,
			"-device", "virtio-serial-pci,addr=0x5",
			"-chardev", "socket,id=debug,path="+c.DebugConsole+",server=on,wait=off",
			"-device", "virtconsole,chardev=debug")
	}
	if c.Interactive {
		args = append(args, "-nographic", "-serial", "mon:stdio")
	} else {
		args = append(args, "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot")
	}
	return args, files, nil
}

// PadSD copies an SD image to dst, grown (sparsely) to the next power of
// two, which QEMU requires of an SD card.
func PadSD(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	size := int64(1 << 20)
	for size < st.Size() {
		size *= 2
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Truncate(size); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// virtioNetOpts are the options of both virtio NICs.
//
// romfile= keeps QEMU from loading iPXE boot ROMs for the NICs: the
// kernel is loaded directly, and Debian's ipxe-qemu is only a recommended
// package that a minimal install lacks.
//
// guest_csum=off makes the NICs deliver frames with complete checksums,
// as a physical NIC receives them from the wire. With it on, frames from
// a host namespace arrive as the host kernel left them, TCP and UDP
// checksums not yet filled in (CHECKSUM_PARTIAL, which AF_PACKET only
// flags with TP_STATUS_CSUMNOTREADY), and routerd would forward them
// unfinished, so LAN hosts in a namespace could not use TCP through the
// VM.
const virtioNetOpts = ",romfile=,guest_csum=off"

// withConsole replaces the console= parameter of a kernel command line.
func withConsole(cmdline, console string) string {
	f := strings.Fields(cmdline)
	out := []string{"console=" + console}
	for _, w := range f {
		if !strings.HasPrefix(w, "console=") {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

// VM is a running QEMU.
type VM struct {
	Cmd     *exec.Cmd
	Started time.Time

	debugPath string
	serialIn  io.WriteCloser // Config.SerialInput
	debugMu   sync.Mutex
	debug     net.Conn
	debugIn   *bufio.Reader

	mu      sync.Mutex
	cond    *sync.Cond
	lines   []Line
	done    bool
	waitErr error
}

// Line is one console line and when the host saw it.
type Line struct {
	At   time.Time
	Text string
}

// Start starts QEMU (an error names `make deps` when qemu-system-arm is
// missing).
func Start(c Config) (*VM, error) {
	if err := sysdeps.Require(sysdeps.QEMU); err != nil {
		return nil, err
	}
	args, files, err := c.Args()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(Binary, args...)
	cmd.ExtraFiles = files
	vm := &VM{Cmd: cmd, debugPath: c.DebugConsole}
	vm.cond = sync.NewCond(&vm.mu)
	var pipe io.ReadCloser
	if c.Interactive {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	} else {
		pipe, err = cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if c.SerialInput {
			if vm.serialIn, err = cmd.StdinPipe(); err != nil {
				return nil, err
			}
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
	}
	vm.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", Binary, err)
	}
	if pipe != nil {
		go vm.readConsole(pipe, c.Console)
	} else {
		go func() {
			err := cmd.Wait()
			vm.finish(err)
		}()
	}
	return vm, nil
}

func (vm *VM) readConsole(r io.Reader, tee io.Writer) {
	br := bufio.NewReader(r)
	for {
		s, err := br.ReadString('\n')
		if s != "" {
			if tee != nil {
				tee.Write([]byte(s))
			}
			vm.mu.Lock()
			vm.lines = append(vm.lines, Line{time.Now(), string(bytes.TrimRight([]byte(s), "\r\n"))})
			vm.cond.Broadcast()
			vm.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	err := vm.Cmd.Wait()
	if err != nil {
		if b, ok := vm.Cmd.Stderr.(*bytes.Buffer); ok && b.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(b.Bytes()))
		}
	}
	vm.finish(err)
}

func (vm *VM) finish(err error) {
	vm.mu.Lock()
	vm.done, vm.waitErr = true, err
	vm.cond.Broadcast()
	vm.mu.Unlock()
}

// Wait waits for QEMU to exit.
func (vm *VM) Wait() error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for !vm.done {
		vm.cond.Wait()
	}
	return vm.waitErr
}

// Type writes s to the serial console, as typed on its keyboard (a VM
// started with Config.SerialInput).
func (vm *VM) Type(s string) error {
	if vm.serialIn == nil {
		return errors.New("qemu: the VM was started without SerialInput")
	}
	_, err := io.WriteString(vm.serialIn, s)
	return err
}

// Kill stops QEMU and waits for it. For the guest it is a power cut:
// what it had not yet written to its disk is lost, as on a board.
func (vm *VM) Kill() {
	if vm.Cmd.Process != nil {
		vm.Cmd.Process.Kill()
	}
	vm.Wait()
	if vm.serialIn != nil {
		vm.serialIn.Close()
	}
	vm.debugMu.Lock()
	if vm.debug != nil {
		vm.debug.Close()
	}
	vm.debugMu.Unlock()
}

// Debug runs one command through the debug agent in the guest (a
// firmware DebugAgent image booted with Config.DebugConsole; see
// firmware/debugagent for the commands) and returns its output.
func (vm *VM) Debug(command string, timeout time.Duration) (string, error) {
	if vm.debugPath == "" {
		return "", errors.New("qemu: the VM has no debug console")
	}
	vm.debugMu.Lock()
	defer vm.debugMu.Unlock()
	deadline := time.Now().Add(timeout)
	for vm.debug == nil {
		c, err := net.Dial("unix", vm.debugPath)
		if err == nil {
			vm.debug, vm.debugIn = c, bufio.NewReader(c)
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("qemu: debug console %s: %w", vm.debugPath, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	vm.debug.SetDeadline(deadline)
	if _, err := io.WriteString(vm.debug, command+"\n"); err != nil {
		return "", fmt.Errorf("qemu: debug console: %w", err)
	}
	var out strings.Builder
	for {
		line, err := vm.debugIn.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if rest, ok := strings.CutPrefix(line, "pgdebug: done "); ok {
			if rest != "0" {
				return out.String(), fmt.Errorf("qemu: debug command %q failed: %s", command, strings.TrimSpace(out.String()))
			}
			return out.String(), nil
		}
		if line != "pgdebug: ready" && line != "" {
			out.WriteString(line + "\n")
		}
		if err != nil {
			return out.String(), fmt.Errorf("qemu: debug command %q: %w (output so far: %q)", command, err, out.String())
		}
	}
}

// Lines returns the console lines seen so far.
func (vm *VM) Lines() []Line {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return append([]Line(nil), vm.lines...)
}

// Console returns the console output seen so far.
func (vm *VM) Console() string {
	var b bytes.Buffer
	for _, l := range vm.Lines() {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// ErrPanic is returned by WaitFor when the kernel panicked.
var ErrPanic = errors.New("kernel panic")

var panicRE = regexp.MustCompile(`Kernel panic|Attempted to kill init`)

// WaitFor waits until a console line (at index from or later) matches re
// and returns it with its index. It fails on timeout, on a kernel panic,
// or when QEMU exits.
func (vm *VM) WaitFor(re *regexp.Regexp, from int, timeout time.Duration) (Line, int, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		vm.mu.Lock()
		vm.cond.Broadcast()
		vm.mu.Unlock()
	})
	defer timer.Stop()
	vm.mu.Lock()
	defer vm.mu.Unlock()
	i := from
	for {
		for ; i < len(vm.lines); i++ {
			if re.MatchString(vm.lines[i].Text) {
				return vm.lines[i], i, nil
			}
			if panicRE.MatchString(vm.lines[i].Text) {
				return Line{}, i, fmt.Errorf("%w: %s", ErrPanic, vm.lines[i].Text)
			}
		}
		if vm.done {
			return Line{}, i, fmt.Errorf("QEMU exited (%v) before the console showed %q", vm.waitErr, re)
		}
		if !time.Now().Before(deadline) {
			return Line{}, i, fmt.Errorf("timed out after %v waiting for %q on the console", timeout, re)
		}
		vm.cond.Wait()
	}
}
