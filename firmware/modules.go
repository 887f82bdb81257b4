package firmware

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

// modName normalises a module name or file path to the kernel's form:
// base name without .ko(.xz|.gz|.zst), dashes as underscores.
func modName(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".xz", ".gz", ".zst"} {
		s = strings.TrimSuffix(s, ext)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// depTable is a parsed modules.dep plus modules.builtin.
type depTable struct {
	path    map[string]string   // module name -> path relative to lib/modules/REL
	deps    map[string][]string // path -> dependency paths
	builtin map[string]bool     // module names compiled into the kernel
}

func parseModulesDep(r io.Reader) (*depTable, error) {
	t := &depTable{path: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
	sc := bufio.NewScanner(r)
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
		t.path[modName(mod)] = mod
		t.deps[mod] = strings.Fields(rest)
	}
	return t, sc.Err()
}

func (t *depTable) addBuiltin(r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			t.builtin[modName(l)] = true
		}
	}
	return sc.Err()
}

// closure returns the module files needed to load names (dependencies
// included), and the names that are built into the kernel. An unknown
// module is an error.
func (t *depTable) closure(names []string) (files []string, builtin []string, err error) {
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
	for _, n := range names {
		k := modName(n)
		if p, ok := t.path[k]; ok {
			visit(p)
		} else if t.builtin[k] {
			builtin = append(builtin, n)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("kernel modules not found in the kernel package (neither modules.dep nor modules.builtin): %s", strings.Join(missing, ", "))
	}
	for p := range seen {
		files = append(files, p)
	}
	sort.Strings(files)
	return files, builtin, nil
}

// depmodTree runs depmod on an extracted kernel package once (Debian ships
// no modules.dep) and returns its dependency table.
func depmodTree(log io.Writer, root, release string) (*depTable, error) {
	dir := filepath.Join(root, "lib", "modules", release)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("kernel package has no lib/modules/%s: %v", release, err)
	}
	dep := filepath.Join(dir, "modules.dep")
	if _, err := os.Stat(dep); err != nil {
		if err := runDepmod(log, root, release); err != nil {
			return nil, err
		}
	}
	return loadDepTable(dir)
}

func loadDepTable(dir string) (*depTable, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := parseModulesDep(f)
	if err != nil {
		return nil, err
	}
	if b, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		defer b.Close()
		if err := t.addBuiltin(b); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func runDepmod(log io.Writer, root, release string) error {
	if err := sysdeps.Require(sysdeps.Depmod); err != nil {
		return err
	}
	if out, err := exec.Command("depmod", "-b", root, release).CombinedOutput(); err != nil {
		return fmt.Errorf("depmod -b %s %s: %v\n%s", root, release, err, out)
	}
	return nil
}

// stageModules copies the modules the board needs (with dependencies) from
// the extracted kernel package at kroot into stage/lib/modules/RELEASE,
// generates modules.dep there with depmod (and keeps only that), and writes
// stage/lib/modules-load.d/passgate.conf, which u-root's init reads to load
// them at boot. It returns the module files staged.
func stageModules(log io.Writer, kroot, release, stage string, modules []string) ([]string, error) {
	t, err := depmodTree(log, kroot, release)
	if err != nil {
		return nil, err
	}
	files, builtin, err := t.closure(modules)
	if err != nil {
		return nil, err
	}
	src := filepath.Join(kroot, "lib", "modules", release)
	dst := filepath.Join(stage, "lib", "modules", release)
	for _, f := range append(files, "modules.builtin", "modules.builtin.modinfo", "modules.order") {
		if err := copyFile(filepath.Join(src, f), filepath.Join(dst, f)); err != nil {
			return nil, err
		}
	}
	if err := runDepmod(log, stage, release); err != nil {
		return nil, err
	}
	// u-root's loader reads only modules.dep; it reads modules.builtin too
	// if present, again for every module it loads, which costs boot time
	// (the board's list holds no built-in module, see below). The rest of
	// depmod's output (aliases, symbols, .bin indexes) is for kmod's
	// modprobe, which the initramfs does not have.
	ents, err := os.ReadDir(dst)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() && e.Name() != "modules.dep" {
			if err := os.Remove(filepath.Join(dst, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	var load strings.Builder
	load.WriteString("# Kernel modules u-root's init loads at boot (written by passgate firmware).\n")
	isBuiltin := map[string]bool{}
	for _, b := range builtin {
		isBuiltin[b] = true
	}
	for _, m := range modules {
		if !isBuiltin[m] {
			load.WriteString(m + "\n")
		}
	}
	conf := filepath.Join(stage, "lib", "modules-load.d", "passgate.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		return nil, err
	}
	return files, os.WriteFile(conf, []byte(load.String()), 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
