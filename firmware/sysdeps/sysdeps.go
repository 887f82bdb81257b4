// Package sysdeps makes sure the host programs the build, the images and
// QEMU need are installed, installing their Debian packages with apt-get when
// they are missing (as root), and failing with a message that names the
// missing program and package otherwise. Nothing is ever skipped silently.
package sysdeps

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// Tool is one program and the Debian package that provides it.
type Tool struct {
	Bin     string // looked up in PATH
	Package string // Debian package
}

// Well-known tools.
var (
	QEMU    = Tool{"qemu-system-aarch64", "qemu-system-arm"}
	Mtools  = Tool{"mdir", "mtools"}
	Depmod  = Tool{"depmod", "kmod"}
	DpkgDeb = Tool{"dpkg-deb", "dpkg"}
	AptGet  = Tool{"apt-get", "apt"}
	IP      = Tool{"ip", "iproute2"}
)

var (
	mu      sync.Mutex
	updated bool
)

// Ensure makes every tool available, installing missing packages with
// apt-get (apt-get update first if the install fails once). Progress goes
// to log (may be nil).
func Ensure(log io.Writer, tools ...Tool) error {
	mu.Lock()
	defer mu.Unlock()
	var missing []Tool
	for _, t := range tools {
		if _, err := exec.LookPath(t.Bin); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var pkgs []string
	for _, t := range missing {
		pkgs = append(pkgs, t.Package)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing %s: install it with `sudo apt-get install -y %v` (not root, so passgate cannot)", describe(missing), join(pkgs))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("missing %s and no apt-get to install Debian package(s) %s", describe(missing), join(pkgs))
	}
	if log != nil {
		fmt.Fprintf(log, "installing Debian package(s) %s for %s\n", join(pkgs), describe(missing))
	}
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err != nil && !updated {
		if uout, uerr := exec.Command("apt-get", "update", "-q").CombinedOutput(); uerr != nil {
			return fmt.Errorf("missing %s; apt-get update failed: %v\n%s", describe(missing), uerr, uout)
		}
		updated = true
		out, err = install()
	}
	if err != nil {
		return fmt.Errorf("missing %s; apt-get install -y %s failed: %v\n%s", describe(missing), join(pkgs), err, out)
	}
	for _, t := range missing {
		if _, err := exec.LookPath(t.Bin); err != nil {
			return fmt.Errorf("installed Debian package %s but %s is still not in PATH", t.Package, t.Bin)
		}
	}
	return nil
}

func describe(ts []Tool) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s (Debian package %s)", t.Bin, t.Package)
	}
	return s
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
