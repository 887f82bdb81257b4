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
package qemu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/firmware/sysdeps"
)

// Binary is the QEMU system emulator used.
const Binary = "qemu-system-aarch64"

// MACs of the VM's NICs.
const (
	LANMAC = "52:54:00:50:47:01"
	WANMAC = "52:54:00:50:47:02"
)

// Config describes one VM.
type Config struct {
	Board     *board.Board
	Kernel    string
	Initramfs string
	// Cmdline defaults to the board's kernel command line.
	Cmdline string
	// Disk is the SD image attached as a virtio disk (qemu-arm64); empty
	// for none. With DiskSnapshot, writes go to a temporary overlay.
	Disk         string
	DiskSnapshot bool
	// MemoryMiB defaults to 512, SMP to 2.
	MemoryMiB int
	SMP       int
	// LAN is the tap device (from OpenTapInNetns) for the LAN NIC; nil
	// leaves the LAN NIC unconnected.
	LAN *os.File
	// WAN connects the WAN NIC to QEMU's user-mode network.
	WAN bool
	// Interactive puts the serial console and QEMU's monitor on the
	// terminal (-nographic: Ctrl-A X quits, Ctrl-A C switches to the
	// monitor) and lets the guest reboot. Otherwise the console goes to
	// Console and a reboot ends QEMU.
	Interactive bool
	Console     io.Writer
}

// Args returns QEMU's command line (without the binary) and the files to
// pass as ExtraFiles (the LAN tap becomes fd 3).
func (c *Config) Args() ([]string, []*os.File, error) {
	b := c.Board
	if b == nil {
		return nil, nil, errors.New("qemu: no board")
	}
	if b.QEMUMachine != "virt" {
		return nil, nil, fmt.Errorf("qemu: booting board %s (QEMU machine %q) is not supported yet; use qemu-arm64", b.Name, b.QEMUMachine)
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
	}
	args := []string{
		"-accel", "tcg",
		"-M", b.QEMUMachine,
		"-cpu", b.QEMUCPU,
		"-smp", strconv.Itoa(smp),
		"-m", strconv.Itoa(mem),
		"-kernel", c.Kernel,
		"-initrd", c.Initramfs,
		"-append", cmdline,
		"-nodefaults",
		"-device", "virtio-rng-pci",
	}
	var files []*os.File
	// romfile= keeps QEMU from loading iPXE boot ROMs for the NICs: the
	// kernel is loaded directly, and Debian's ipxe-qemu is only a
	// recommended package that a minimal install lacks.
	// LAN first (slot 2 -> eth0), WAN second (slot 3 -> eth1).
	if c.LAN != nil {
		files = append(files, c.LAN)
		args = append(args, "-netdev", fmt.Sprintf("tap,id=lan,fd=%d", 2+len(files)))
	} else {
		args = append(args, "-netdev", "hubport,id=lan,hubid=9")
	}
	args = append(args, "-device", "virtio-net-pci,netdev=lan,mac="+LANMAC+",addr=0x2,romfile=")
	if c.WAN {
		args = append(args, "-netdev", "user,id=wan")
	} else {
		args = append(args, "-netdev", "hubport,id=wan,hubid=8")
	}
	args = append(args, "-device", "virtio-net-pci,netdev=wan,mac="+WANMAC+",addr=0x3,romfile=")
	if c.Disk != "" {
		drive := "file=" + c.Disk + ",format=raw,if=none,id=sd"
		if c.DiskSnapshot {
			drive += ",snapshot=on"
		}
		args = append(args, "-drive", drive, "-device", "virtio-blk-pci,drive=sd,addr=0x4")
	}
	if c.Interactive {
		args = append(args, "-nographic", "-serial", "mon:stdio")
	} else {
		args = append(args, "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot")
	}
	return args, files, nil
}

// VM is a running QEMU.
type VM struct {
	Cmd     *exec.Cmd
	Started time.Time

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

// Start starts QEMU (installing Debian's qemu-system-arm first if it is
// missing).
func Start(c Config) (*VM, error) {
	if err := sysdeps.Ensure(os.Stderr, sysdeps.QEMU); err != nil {
		return nil, err
	}
	args, files, err := c.Args()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(Binary, args...)
	cmd.ExtraFiles = files
	vm := &VM{Cmd: cmd}
	vm.cond = sync.NewCond(&vm.mu)
	var pipe io.ReadCloser
	if c.Interactive {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	} else {
		pipe, err = cmd.StdoutPipe()
		if err != nil {
			return nil, err
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

// Kill stops QEMU and waits for it.
func (vm *VM) Kill() {
	if vm.Cmd.Process != nil {
		vm.Cmd.Process.Kill()
	}
	vm.Wait()
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
