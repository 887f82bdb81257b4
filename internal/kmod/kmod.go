// Package kmod resolves kernel modules in an unpacked kernel package: it
// reads modules.dep (generated with depmod, which Debian does not ship)
// and modules.builtin, closes a set of modules over their dependencies,
// and installs them into another root with a fresh modules.dep. The board
// firmware (firmware) and the interop lab's VM (qemu/interop) both take
// their modules this way.
package kmod

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/passgate/passgate/internal/sysdeps"
)

// Name normalises a module name or file path to the kernel's form: base
// name without .ko(.xz|.gz|.zst), dashes as underscores.
func Name(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".xz", ".gz", ".zst"} {
		s = strings.TrimSuffix(s, ext)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// Table is a parsed modules.dep plus modules.builtin.
type Table struct {
	path    map[string]string   // module name -> path relative to lib/modules/RELEASE
	deps    map[string][]string // path -> dependency paths
	builtin map[string]bool     // names of modules compiled into the kernel
}

// Parse reads modules.dep and, if builtin is not nil, modules.builtin.
func Parse(dep, builtin io.Reader) (*Table, error) {
	t := &Table{path: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
	sc := bufio.NewScanner(dep)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep: bad line %q", line)
		}
		t.path[Name(mod)] = mod
		t.deps[mod] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	if builtin == nil {
		return t, nil
	}
	sc = bufio.NewScanner(builtin)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			t.builtin[Name(l)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.builtin: %w", err)
	}
	return t, nil
}

// Paths returns the module files of modules.dep for which keep is true,
// sorted.
func (t *Table) Paths(keep func(path string) bool) []string {
	var out []string
	for p := range t.deps {
		if keep(p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Closure returns the module files needed to load mods (module names as
// modprobe takes them, dashes or underscores, or module files), their
// dependencies included, sorted; and the mods that are built into the
// kernel. A module that is neither is an error naming it.
func (t *Table) Closure(mods []string) (files, builtin []string, err error) {
	seen := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, d := range t.deps[p] {
			visit(d)
		}
	}
	var missing []string
	for _, n := range mods {
		k := Name(n)
		if p, ok := t.path[k]; ok {
			visit(p)
		} else if t.builtin[k] {
			builtin = append(builtin, n)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("kernel modules neither in modules.dep nor in modules.builtin: %s", strings.Join(missing, ", "))
	}
	for p := range seen {
		files = append(files, p)
	}
	sort.Strings(files)
	return files, builtin, nil
}

// Dir is where a root holds a kernel release's modules.
func Dir(root, release string) string { return filepath.Join(root, "lib", "modules", release) }

// Load returns the table of the kernel release unpacked under root,
// running depmod there first if it has no modules.dep.
func Load(root, release string) (*Table, error) {
	dir := Dir(root, release)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("kernel package has no lib/modules/%s: %w", release, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "modules.dep")); err != nil {
		if err := Depmod(root, release); err != nil {
			return nil, err
		}
	}
	dep, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer dep.Close()
	var builtin io.Reader
	if b, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		defer b.Close()
		builtin = b
	}
	t, err := Parse(dep, builtin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return t, nil
}

// Depmod runs depmod for release on the tree under root.
func Depmod(root, release string) error {
	if err := sysdeps.Require(sysdeps.Depmod); err != nil {
		return err
	}
	if out, err := exec.Command("depmod", "-b", root, release).CombinedOutput(); err != nil {
		return fmt.Errorf("depmod -b %s %s: %v\n%s", root, release, err, out)
	}
	return nil
}

// metaFiles are copied with the modules when the kernel package has them:
// depmod reads them to write modules.dep and modules.builtin.*.
var metaFiles = []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"}

// Install copies the module files (as Closure returns them) of release
// from the root src to the root dst, with the kernel's module lists, and
// runs depmod in dst.
func Install(src, dst, release string, files []string) error {
	from, to := Dir(src, release), Dir(dst, release)
	for _, f := range files {
		if err := copyTo(filepath.Join(from, f), filepath.Join(to, f)); err != nil {
			return err
		}
	}
	for _, f := range metaFiles {
		if _, err := os.Stat(filepath.Join(from, f)); err == nil {
			if err := copyTo(filepath.Join(from, f), filepath.Join(to, f)); err != nil {
				return err
			}
		}
	}
	return Depmod(dst, release)
}

func copyTo(src, dst string) error {
	b, err := os.ReadFile(src)
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
	}
	return err
}
