package firmware

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/passgate/passgate/internal/kmod"
)

// stageModules copies the modules the board needs (with dependencies) from
// the extracted kernel package at kroot into stage/lib/modules/RELEASE,
// generates modules.dep there with depmod (and keeps only that), and writes
// the list routerd's supervisor loads at boot (kmod.ListFile, in parallel;
// not under lib/modules-load.d, which the debug shell's u-root init would
// load one module at a time). It returns the module files staged.
//
// onDemand are staged too (with dependencies) but not listed: routerd
// loads them when a feature needs them (board.OnDemandModules).
func stageModules(kroot, release, stage string, modules, onDemand []string) ([]string, error) {
	t, err := kmod.Load(kroot, release)
	if err != nil {
		return nil, err
	}
	all := append(append([]string(nil), modules...), onDemand...)
	files, _, err := t.Closure(all)
	if err != nil {
		return nil, err
	}
	_, builtin, err := t.Closure(modules)
	if err != nil {
		return nil, err
	}
	if err := kmod.Install(kroot, stage, release, files); err != nil {
		return nil, err
	}
	// routerd's loader reads only modules.dep (the board's list holds no
	// built-in module, see below). The rest of depmod's output (aliases,
	// symbols, .bin indexes) is for kmod's modprobe, which the initramfs
	// does not have.
	dst := kmod.Dir(stage, release)
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
	load.WriteString("# Kernel modules routerd loads at boot (written by passgate firmware).\n")
	isBuiltin := map[string]bool{}
	for _, b := range builtin {
		isBuiltin[b] = true
	}
	for _, m := range modules {
		if !isBuiltin[m] {
			load.WriteString(m + "\n")
		}
	}
	conf := filepath.Join(stage, filepath.FromSlash(kmod.ListFile))
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
