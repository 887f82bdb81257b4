package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/passgate/passgate/firmware"
	"github.com/passgate/passgate/pkg/updatefile"
)

// defaultKeyPath is where the update signing key lives unless -key says:
// in the user's configuration directory, never in the repository.
func defaultKeyPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "passgate", "update-signing-key.pem")
}

// signingKey loads the update signing key, making it on first use and
// saying where it is.
func signingKey(path string) (ed25519.PrivateKey, error) {
	key, created, err := updatefile.LoadOrCreateKey(path)
	if err != nil {
		return nil, err
	}
	id := updatefile.KeyID(key.Public().(ed25519.PublicKey))
	if created {
		fmt.Printf("passgate: made the update signing key %s (key %s).\n"+
			"  Keep it private and out of git: images built now accept only updates signed with it.\n", path, id)
	} else {
		fmt.Printf("passgate: update signing key %s (key %s)\n", path, id)
	}
	return key, nil
}

var describeClean = regexp.MustCompile(`[^A-Za-z0-9._+~-]`)

// gitVersion is the tree's `git describe`, or "dev" outside git.
func gitVersion(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--tags", "--always", "--dirty").Output()
	v := describeClean.ReplaceAllString(strings.TrimSpace(string(out)), "-")
	if err != nil || v == "" || len(v) > 64 {
		return "dev"
	}
	return v
}

// updateName is the update file's name for a board and version.
func updateName(board, version string) string {
	return "passgate-" + board + "-" + version + ".pgu"
}

// writeUpdate writes the signed update file of a build at path, whole or
// not at all.
func writeUpdate(fw *firmware.Result, key ed25519.PrivateKey, path string, now time.Time) (*updatefile.Manifest, error) {
	var src []updatefile.Source
	for _, f := range fw.SlotFiles() {
		src = append(src, updatefile.SourceFile(f.Name, f.Src))
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	m, err := updatefile.Write(f, key, fw.Board.Name, fw.Version, now, src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("update file %s: %w", path, err)
	}
	return m, nil
}

func cmdUpdate(args []string) error {
	fs := flag.NewFlagSet("update", flag.ExitOnError)
	var f buildFlags
	f.register(fs)
	fs.Parse(args)
	b, outDir, fw, key, err := buildFirmware(f)
	if err != nil {
		return err
	}
	path := filepath.Join(outDir, updateName(b.Name, fw.Version))
	m, err := writeUpdate(fw, key, path, time.Now())
	if err != nil {
		return err
	}
	st, _ := os.Stat(path)
	fmt.Printf("\nUpdate for %s, version %s: %s (%.1f MiB, %d files, signed with key %s)\n",
		b.Name, m.Version, relPath(path), float64(st.Size())/(1<<20), len(m.Files), updatefile.KeyID(key.Public().(ed25519.PublicKey)))
	fmt.Println("A router accepts it only if its image was built with the same key.")
	return nil
}
