package interop

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"syscall"
)

// VMConfig is one boot of the lab VM.
type VMConfig struct {
	Image *Image
	// Share is the host directory mounted at /lab in the guest (9p); the
	// guest's init runs /lab/labagent.
	Share     string
	MemoryMiB int // default 2048
	SMP       int // default 2
	Console   io.Writer
	// Append is added to the kernel command line.
	Append string
}

// Args returns qemu-system-x86_64's arguments.
func (c *VMConfig) Args() []string {
	mem, smp := c.MemoryMiB, c.SMP
	if mem == 0 {
		mem = 2048
	}
	if smp == 0 {
		smp = 2
	}
	cmdline := "console=ttyS0 panic=-1 quiet loglevel=4 random.trust_cpu=on"
	if c.Append != "" {
		cmdline += " " + c.Append
	}
	return []string{
		"-accel", "tcg", "-cpu", "max", "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(smp),
		"-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
		"-kernel", c.Image.Kernel, "-initrd", c.Image.Initrd, "-append", cmdline,
		"-virtfs", "local,path=" + c.Share + ",mount_tag=lab,security_model=none,id=lab",
		"-device", "virtio-rng-pci",
	}
}

// Run boots the VM and waits until it powers off (the guest's init does
// that after labagent) or ctx ends, in which case QEMU is killed.
func (c *VMConfig) Run(ctx context.Context) error {
	cmd := exec.Command("qemu-system-x86_64", c.Args()...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = c.Console, c.Console
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu-system-x86_64: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("qemu-system-x86_64: %w", err)
		}
		return nil
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("the lab VM did not finish: %w", ctx.Err())
	}
}

// teeWriter writes to several writers; only the first one's errors count.
type teeWriter []io.Writer

func (t teeWriter) Write(b []byte) (int, error) {
	for i, w := range t {
		if _, err := w.Write(b); err != nil && i == 0 {
			return 0, err
		}
	}
	return len(b), nil
}

// Tee returns a writer writing to all of ws.
func Tee(ws ...io.Writer) io.Writer { return teeWriter(ws) }
