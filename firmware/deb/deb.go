// Package deb downloads Debian arm64 packages on the build host without
// touching the host's own apt state, checks each against a SHA-256 pin
// committed in this repository, caches it, and extracts it.
//
// Downloads go through `apt-get download` with a private apt directory
// (lists, cache, sources.list, status) under the cache directory and
// APT::Architecture=arm64, so an amd64 host fetches arm64 packages without
// adding a foreign architecture to its dpkg. apt verifies the mirror's signed
// index; the pin then makes the build reproducible and catches a package that
// changed under the same version. A cached, verified .deb is reused without
// any network access, so a second build is offline. The mirrors are the
// build host's own, read from its apt sources (internal/aptsources).
//
// Pins live in pins/NAME_VERSION.pin and are compiled into the binary.
// To pin a new version, run `passgate pin NAME=VERSION` (see cmd/passgate),
// which downloads the package and writes the pin file for review.
package deb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/aptsources"
	"github.com/passgate/passgate/internal/sysdeps"
)

// Suite is the Debian release every pinned package comes from.
const Suite = "bookworm"

//go:embed pins/*.pin
var pinFiles embed.FS

// Pin is the committed identity of one .deb file.
type Pin struct {
	Package string
	Version string
	Arch    string
	Suite   string
	Size    int64
	SHA256  string // lower-case hex
	Source  string // where the pin came from (file name), for messages
}

// PinFileName is the name of the pin file for a package version.
func PinFileName(name, version string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + ".pin"
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParsePin parses a pin file ("key: value" lines, # comments).
func ParsePin(name string, data []byte) (Pin, error) {
	p := Pin{Source: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok {
			return Pin{}, fmt.Errorf("%s:%d: want \"key: value\", got %q", name, line, s)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "package":
			p.Package = v
		case "version":
			p.Version = v
		case "architecture":
			p.Arch = v
		case "suite":
			p.Suite = v
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return Pin{}, fmt.Errorf("%s:%d: bad size %q", name, line, v)
			}
			p.Size = n
		case "sha256":
			if !hexSHA.MatchString(v) {
				return Pin{}, fmt.Errorf("%s:%d: sha256 must be 64 lower-case hex digits, got %q", name, line, v)
			}
			p.SHA256 = v
		default:
			return Pin{}, fmt.Errorf("%s:%d: unknown key %q", name, line, k)
		}
	}
	if p.Package == "" || p.Version == "" || p.Arch == "" || p.Size == 0 || p.SHA256 == "" {
		return Pin{}, fmt.Errorf("%s: incomplete pin (need package, version, architecture, size, sha256)", name)
	}
	return p, nil
}

// Format renders a pin file.
func (p Pin) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# Pinned Debian package for the passgate firmware build.\n")
	b.WriteString("# The hash was taken from the .deb downloaded from the Debian mirror (and\n")
	b.WriteString("# matches the SHA256 field of the mirror's signed Packages index).\n")
	b.WriteString("# A mismatch at build time is an error: see firmware/deb.\n")
	fmt.Fprintf(&b, "package: %s\nversion: %s\narchitecture: %s\nsuite: %s\nsize: %d\nsha256: %s\n",
		p.Package, p.Version, p.Arch, p.Suite, p.Size, p.SHA256)
	return b.Bytes()
}

// Pins returns every committed pin.
func Pins() ([]Pin, error) {
	ents, err := fs.ReadDir(pinFiles, "pins")
	if err != nil {
		return nil, err
	}
	var out []Pin
	for _, e := range ents {
		data, err := pinFiles.ReadFile("pins/" + e.Name())
		if err != nil {
			return nil, err
		}
		p, err := ParsePin(e.Name(), data)
		if err != nil {
			return nil, err
		}
		if want := PinFileName(p.Package, p.Version); e.Name() != want {
			return nil, fmt.Errorf("pin file %s describes %s=%s; it must be named %s", e.Name(), p.Package, p.Version, want)
		}
		out = append(out, p)
	}
	return out, nil
}

// PinFor returns the pin of a package version.
func PinFor(pkg board.Package) (Pin, error) {
	pins, err := Pins()
	if err != nil {
		return Pin{}, err
	}
	for _, p := range pins {
		if p.Package == pkg.Name && p.Version == pkg.Version {
			if p.Arch != pkg.Arch {
				return Pin{}, fmt.Errorf("pin %s is for architecture %s, board wants %s", p.Source, p.Arch, pkg.Arch)
			}
			return p, nil
		}
	}
	return Pin{}, fmt.Errorf("no pin for Debian package %s: add firmware/deb/pins/%s (run `go run ./cmd/passgate pin %s` to download it and write the pin, then review and commit it)",
		pkg, PinFileName(pkg.Name, pkg.Version), pkg)
}

// MismatchError reports a file whose hash or size differs from its pin.
type MismatchError struct {
	Pin       Pin
	File      string
	GotSHA256 string
	GotSize   int64
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("pin mismatch for Debian package %s=%s: the downloaded file %s has sha256 %s (%d bytes), "+
		"but firmware/deb/pins/%s says sha256 %s (%d bytes). The mirror serves a different file under the same version; "+
		"the build stops rather than use it. Update the pin only if you know why the package changed",
		e.Pin.Package, e.Pin.Version, e.File, e.GotSHA256, e.GotSize, e.Pin.Source, e.Pin.SHA256, e.Pin.Size)
}

// Fetcher downloads, verifies, caches and extracts pinned packages.
type Fetcher struct {
	// CacheDir holds apt/ (private apt state), debs/ (verified .deb files)
	// and extract/ (unpacked packages). Usually <repo>/.cache.
	CacheDir string
	// Log receives one line per step that takes time; nil discards.
	Log io.Writer
	// Mirror and SecurityMirror override the Debian mirrors; by default
	// they are the host's (internal/aptsources), and a host whose apt
	// sources name none is an error that says what to add.
	Mirror, SecurityMirror string
	// Arch is the apt architecture; default arm64.
	Arch string
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		fmt.Fprintf(f.Log, format+"\n", args...)
	}
}

func debFileName(name, version, arch string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + arch + ".deb"
}

// Fetch returns the path of the verified .deb for pkg, downloading it if it
// is not cached yet.
func (f *Fetcher) Fetch(pkg board.Package) (string, error) {
	pin, err := PinFor(pkg)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(f.CacheDir, "debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, debFileName(pkg.Name, pkg.Version, pin.Arch))
	if _, err := os.Stat(dst); err == nil {
		err := Verify(dst, pin)
		if err == nil {
			return dst, nil
		}
		var me *MismatchError
		if errors.As(err, &me) {
			f.logf("cached %s has sha256 %s (%d bytes), not the pinned %s (%d bytes); downloading again",
				dst, me.GotSHA256, me.GotSize, pin.SHA256, pin.Size)
		} else {
			f.logf("cached %s: %v; downloading again", dst, err)
		}
		if err := os.Remove(dst); err != nil {
			return "", err
		}
	}
	f.logf("downloading Debian package %s (%d MB)", pkg, (pin.Size+(1<<19))>>20)
	tmp, err := f.download(pkg.Name, pkg.Version, dir)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(filepath.Dir(tmp))
	if err := Verify(tmp, pin); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// FetchUnpinned downloads a package version without a pin and returns the
// pin that describes it, for `passgate pin`. The file is not cached.
func (f *Fetcher) FetchUnpinned(name, version string) (Pin, error) {
	dir := filepath.Join(f.CacheDir, "debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Pin{}, err
	}
	f.logf("downloading Debian package %s=%s to pin it", name, version)
	tmp, err := f.download(name, version, dir)
	if err != nil {
		return Pin{}, err
	}
	defer os.RemoveAll(filepath.Dir(tmp))
	sum, size, err := hashFile(tmp)
	if err != nil {
		return Pin{}, err
	}
	// apt names files NAME_VERSION_ARCH.deb.
	base := strings.TrimSuffix(filepath.Base(tmp), ".deb")
	arch := base[strings.LastIndex(base, "_")+1:]
	return Pin{Package: name, Version: version, Arch: arch, Suite: Suite, Size: size, SHA256: sum,
		Source: PinFileName(name, version)}, nil
}

// Verify checks a file against its pin.
func Verify(path string, pin Pin) error {
	sum, size, err := hashFile(path)
	if err != nil {
		return err
	}
	if sum != pin.SHA256 || size != pin.Size {
		return &MismatchError{Pin: pin, File: path, GotSHA256: sum, GotSize: size}
	}
	return nil
}

func hashFile(path string) (string, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Extract returns a directory holding the unpacked contents of pkg
// (dpkg-deb -x), fetching the package first if needed. The directory is
// cached; it is replaced if it came from a different .deb.
func (f *Fetcher) Extract(pkg board.Package) (string, error) {
	pin, err := PinFor(pkg)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(f.CacheDir, "extract", pkg.Name+"_"+strings.ReplaceAll(pkg.Version, ":", "%3a"))
	marker := filepath.Join(dir, ".passgate-sha256")
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == pin.SHA256 {
		return dir, nil
	}
	debPath, err := f.Fetch(pkg)
	if err != nil {
		return "", err
	}
	if err := sysdeps.Require(sysdeps.DpkgDeb); err != nil {
		return "", err
	}
	f.logf("extracting %s", pkg)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".extract-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("dpkg-deb", "-x", debPath, tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %v\n%s", debPath, err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".passgate-sha256"), []byte(pin.SHA256+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// --- apt ---------------------------------------------------------------

func (f *Fetcher) aptDir() string { return filepath.Join(f.CacheDir, "apt") }

func (f *Fetcher) aptOptions() []string {
	d := f.aptDir()
	arch := f.Arch
	if arch == "" {
		arch = "arm64"
	}
	opts := []string{
		"Dir::State=" + filepath.Join(d, "state"),
		"Dir::State::status=" + filepath.Join(d, "state", "status"),
		"Dir::Cache=" + filepath.Join(d, "cache"),
		"Dir::Etc::SourceList=" + filepath.Join(d, "etc", "sources.list"),
		"Dir::Etc::SourceParts=" + filepath.Join(d, "etc", "sources.list.d"),
		"Dir::Etc::Preferences=" + filepath.Join(d, "etc", "preferences"),
		"Dir::Etc::PreferencesParts=" + filepath.Join(d, "etc", "preferences.d"),
		"APT::Architecture=" + arch,
		"APT::Architectures::=" + arch,
		"Acquire::Languages=none",
	}
	if os.Geteuid() == 0 {
		// The private directories belong to root; don't hand the
		// download to the _apt user, who cannot write them.
		opts = append(opts, "APT::Sandbox::User=root")
	}
	var args []string
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	return args
}

// SourcesList returns the sources.list the private apt uses.
func (f *Fetcher) SourcesList() (string, error) {
	main, sec := f.Mirror, f.SecurityMirror
	if main == "" || sec == "" {
		m, err := aptsources.Debian("/", Suite, sec == "")
		if err != nil {
			return "", fmt.Errorf("the Debian mirrors for the %s packages: %w", f.archOrDefault(), err)
		}
		if main == "" {
			main = m.Archive[0]
		}
		if sec == "" {
			sec = m.Security
		}
	}
	opt := ""
	if _, err := os.Stat("/usr/share/keyrings/debian-archive-keyring.gpg"); err == nil {
		opt = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
	}
	comps := "main non-free-firmware"
	return fmt.Sprintf("# written by passgate firmware/deb; private to this cache\n"+
		"deb %s%s %s %s\ndeb %s%s %s-updates %s\ndeb %s%s %s-security %s\n",
		opt, main, Suite, comps, opt, main, Suite, comps, opt, sec, Suite, comps), nil
}

func (f *Fetcher) setupApt() error {
	d := f.aptDir()
	for _, sub := range []string{"state/lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return err
		}
	}
	status := filepath.Join(d, "state", "status")
	if _, err := os.Stat(status); err != nil {
		if err := os.WriteFile(status, nil, 0o644); err != nil {
			return err
		}
	}
	src := filepath.Join(d, "etc", "sources.list")
	want, err := f.SourcesList()
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(src); err != nil || string(old) != want {
		if err := os.WriteFile(src, []byte(want), 0o644); err != nil {
			return err
		}
		// New sources: the old lists do not describe them.
		os.RemoveAll(filepath.Join(d, "state", "lists"))
		return os.MkdirAll(filepath.Join(d, "state", "lists", "partial"), 0o755)
	}
	return nil
}

func (f *Fetcher) haveLists() bool {
	m, _ := filepath.Glob(filepath.Join(f.aptDir(), "state", "lists", "*_Packages*"))
	return len(m) > 0
}

func (f *Fetcher) aptUpdate() error {
	f.logf("apt-get update (private %s package lists in %s)", f.archOrDefault(), f.aptDir())
	cmd := exec.Command("apt-get", append(f.aptOptions(), "-q", "update")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get update for the %s package lists failed: %v\n%s", f.archOrDefault(), err, out)
	}
	// apt-get update exits 0 when a mirror was unreachable; the lists tell.
	if !f.haveLists() {
		return fmt.Errorf("apt-get update fetched no package lists (is the Debian mirror reachable?)\n%s", out)
	}
	return nil
}

// ready sets up the private apt state and fetches its package lists once.
func (f *Fetcher) ready() error {
	if err := sysdeps.Require(sysdeps.AptGet); err != nil {
		return err
	}
	if err := f.setupApt(); err != nil {
		return err
	}
	if !f.haveLists() {
		return f.aptUpdate()
	}
	return nil
}

// Depends lists the packages that name depends on in the private package
// lists (apt-cache depends --important): e.g. the versioned kernel package
// behind a meta package.
func (f *Fetcher) Depends(name string) ([]string, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	out, err := exec.Command("apt-cache", append(f.aptOptions(), "depends", "--important", name)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("apt-cache depends %s (arch %s): %v\n%s", name, f.archOrDefault(), err, out)
	}
	var deps []string
	for _, ln := range strings.Split(string(out), "\n") {
		if fs := strings.Fields(ln); len(fs) == 2 && (fs[0] == "Depends:" || fs[0] == "|Depends:") {
			deps = append(deps, fs[1])
		}
	}
	return deps, nil
}

// Download fetches the current version of a package (unpinned: for what
// follows the suite, like the interop VM's kernel) into a fresh directory
// under dir and returns the .deb's path.
func (f *Fetcher) Download(name, dir string) (string, error) {
	return f.download(name, "", dir)
}

// download runs apt-get download (of version, or of the current version
// when it is "") into a fresh temporary directory under dir and returns
// the path of the .deb it wrote.
func (f *Fetcher) download(name, version, dir string) (string, error) {
	if err := f.ready(); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return "", err
	}
	what := name
	if version != "" {
		what += "=" + version
	}
	try := func() ([]byte, error) {
		cmd := exec.Command("apt-get", append(f.aptOptions(), "-q", "download", what)...)
		cmd.Dir = tmp
		return cmd.CombinedOutput()
	}
	out, err := try()
	if err != nil {
		// The lists may be older than the pin: refresh once and retry.
		if uerr := f.aptUpdate(); uerr != nil {
			os.RemoveAll(tmp)
			return "", uerr
		}
		out, err = try()
	}
	if err != nil {
		os.RemoveAll(tmp)
		msg := fmt.Sprintf("apt-get download %s (arch %s) failed: %v\n%s", what, f.archOrDefault(), err, out)
		if version != "" && (bytes.Contains(out, []byte("not found")) || bytes.Contains(out, []byte("Unable to locate"))) {
			msg += "\nThe mirror no longer offers this version (Debian drops superseded versions). " +
				"Pick the current one (the board package names it) and pin it with `go run ./cmd/passgate pin NAME=VERSION`."
		}
		return "", errors.New(msg)
	}
	m, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(m) != 1 {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("apt-get download %s produced %d .deb files, want 1\n%s", what, len(m), out)
	}
	return m[0], nil
}

func (f *Fetcher) archOrDefault() string {
	if f.Arch == "" {
		return "arm64"
	}
	return f.Arch
}
