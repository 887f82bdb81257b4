// Package interop is the VPN interoperability lab: real, unmodified VPN
// software from Debian bookworm (pptpd/pptp-linux/pppd, xl2tpd,
// strongSwan, libreswan, OpenVPN, WireGuard) connecting two LAN clients
// to one server through routerd, and for comparison through the Linux
// kernel's nftables masquerade.
//
// The host kernel of the build machines has neither ESP nor PPP, so the
// whole lab runs inside an x86_64 QEMU VM (software emulation, -accel
// tcg) that boots Debian's linux-image-amd64 kernel with a debootstrap
// minbase userland packed as an initramfs. Inside the VM the lab builds
// the same namespace topology as cmd/routerd's end-to-end lab (lan1 and
// lan2 on a bridge in sw, routerd in rtr, the servers in wan).
// The lab program, routerd and the per-run keys reach the VM through a
// 9p shared directory, and the results come back through it.
//
// The VM image is cached under .cache/interop/<key>, where the key hashes
// the package list, the kernel package, the init script and the module
// list, so a second run skips debootstrap.
package interop

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/passgate/passgate/firmware/deb"
	"github.com/passgate/passgate/internal/aptsources"
	"github.com/passgate/passgate/internal/cpio"
	"github.com/passgate/passgate/internal/kmod"
	"github.com/passgate/passgate/internal/sysdeps"
)

// Suite is the Debian release of the VM's userland and kernel.
const Suite = "bookworm"

// KernelMeta is the meta package whose dependency names the kernel.
const KernelMeta = "linux-image-amd64"

// Packages are installed into the VM with debootstrap --include.
// libreswan conflicts with strongSwan's packages, so it is not among them:
// its .deb is unpacked beside them (only its programs under
// /usr/libexec/ipsec are used) and its libraries are listed here.
var Packages = []string{
	// base tools
	"kmod", "iproute2", "iputils-ping", "socat", "nftables", "conntrack", "ethtool", "procps",
	// traffic beyond the ISP (the pppoe case): a web client, iperf3, a
	// capture, an ISP resolver and a stub to ask it
	"curl", "iperf3", "tcpdump", "dnsmasq-base", "busybox",
	// VPN software
	"ppp", "pptpd", "pptp-linux", "xl2tpd", "pppoe",
	"strongswan-charon", "strongswan-swanctl",
	"openvpn", "wireguard-tools",
	// libreswan's run-time dependencies (libreswan itself: LibreswanPackage)
	"libnss3-tools", "libunbound8", "libldns3", "libevent-core-2.1-7", "libevent-pthreads-2.1-7",
	"libcurl3-nss", "libldap-2.5-0", "libcap-ng0", "dns-root-data",
}

// LibreswanPackage is unpacked into the image next to strongSwan.
const LibreswanPackage = "libreswan"

// builderVersion changes the cache key when the way the image is put
// together changes.
const builderVersion = "interop-image-4"

//go:embed files/init
var initScript []byte

//go:embed files/modules
var moduleList []byte

// moduleDirs are the module trees (under kernel/) copied into the image
// whole, so that modules the kernel requests on demand (crypto
// algorithms, conntrack helpers, nft expressions) are there; the modules
// in files/modules and the dependencies of all of them are added.
var moduleDirs = []string{
	"net/", "crypto/", "lib/", "arch/", "fs/9p/", "fs/netfs/", "fs/fscache/",
	"drivers/virtio/", "drivers/char/hw_random/", "drivers/net/ppp/", "drivers/net/wireguard/",
	"drivers/net/veth.ko", "drivers/net/tun.ko", "drivers/net/dummy.ko",
}

// moduleSkip are subtrees of moduleDirs that the lab does not need.
var moduleSkip = []string{
	"net/wireless/", "net/mac80211/", "net/bluetooth/", "net/mac802154/", "net/ieee802154/",
	"net/nfc/", "net/rfkill/", "net/ceph/", "net/sunrpc/", "net/rds/", "net/tipc/", "net/sctp/",
	"net/dccp/", "net/smc/", "net/rxrpc/", "net/batman-adv/", "net/openvswitch/", "net/sched/",
	"net/atm/", "net/can/", "net/dsa/", "net/qrtr/", "net/vmw_vsock/", "net/9p/9pnet_rdma",
	"net/9p/9pnet_xen",
}

// Image is a built (or cached) VM: a kernel and an initramfs.
type Image struct {
	Dir      string // the cache directory holding both
	Kernel   string
	Initrd   string
	Versions string // dpkg versions of the lab's software, one "package version" a line
	Key      string
	// Built is false when the image came from the cache.
	Built     bool
	BuildTime time.Duration
}

// HostTools are the programs the image build and the VM need on the host.
var HostTools = []sysdeps.Tool{
	sysdeps.QEMUx86,
	sysdeps.Debootstrap,
	sysdeps.DpkgDeb,
	sysdeps.Depmod,
	sysdeps.AptGet,
}

// RepoRoot finds the module root (the directory holding go.mod) above dir.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = p
	}
}

// fetcher downloads the VM's kernel and libreswan with a private apt state
// under cacheRoot (amd64 package lists of its own), so the build never
// runs the host's apt-get update nor needs the host's package lists.
func fetcher(cacheRoot string, log io.Writer) *deb.Fetcher {
	return &deb.Fetcher{CacheDir: filepath.Join(cacheRoot, "interop-apt"), Arch: "amd64", Log: log,
		Mirror: os.Getenv("PASSGATE_DEBIAN_MIRROR")}
}

// kernelPackage asks the private apt which versioned kernel package the
// meta package depends on (e.g. linux-image-6.1.0-56-amd64).
func kernelPackage(f *deb.Fetcher) (string, error) {
	deps, err := f.Depends(KernelMeta)
	if err != nil {
		return "", err
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "linux-image-") {
			return d, nil
		}
	}
	return "", fmt.Errorf("%s depends on no linux-image package (depends: %s)", KernelMeta, strings.Join(deps, " "))
}

// Mirror returns the Debian mirror the host's apt uses for Suite
// (PASSGATE_DEBIAN_MIRROR overrides it); a host whose apt sources name
// none is an error that says what line to add.
func Mirror() (string, error) {
	if m := os.Getenv("PASSGATE_DEBIAN_MIRROR"); m != "" {
		return m, nil
	}
	m, err := aptsources.Debian("/", Suite, false)
	if err != nil {
		return "", fmt.Errorf("interop: the mirror for debootstrap: %w", err)
	}
	return m.Archive[0], nil
}

// cacheKey hashes everything that goes into the image.
func cacheKey(kernelPkg string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n", builderVersion, Suite, kernelPkg, LibreswanPackage, strings.Join(Packages, " "))
	fmt.Fprintf(h, "%s\n%s\n%s\n", strings.Join(moduleDirs, " "), strings.Join(moduleSkip, " "), moduleList)
	h.Write(initScript)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// BuildImage returns the cached image for the current package list, or
// builds it (debootstrap, kernel, libreswan, modules, initramfs) under
// cacheRoot. Progress goes to log.
func BuildImage(cacheRoot string, log io.Writer) (*Image, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("interop: building the VM image needs root (debootstrap)")
	}
	if err := sysdeps.Require(HostTools...); err != nil {
		return nil, fmt.Errorf("interop: host prerequisites: %w", err)
	}
	apt := fetcher(cacheRoot, log)
	kpkg, err := kernelPackage(apt)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	key := cacheKey(kpkg)
	dir := filepath.Join(cacheRoot, "interop", key)
	img := &Image{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "lab.cpio.gz"), Key: key}
	if v, err := os.ReadFile(filepath.Join(dir, "versions.txt")); err == nil {
		if _, err := os.Stat(img.Initrd); err == nil {
			img.Versions = string(v)
			fmt.Fprintf(log, "interop: VM image %s from the cache (%s)\n", key, dir)
			return img, nil
		}
	}
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(cacheRoot, "interop"), 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(filepath.Join(cacheRoot, "interop"), "build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := build(work, kpkg, apt, log); err != nil {
		return nil, fmt.Errorf("interop: building the VM image: %w", err)
	}
	out := filepath.Join(work, "out")
	os.RemoveAll(dir)
	if err := os.Rename(out, dir); err != nil {
		return nil, err
	}
	v, _ := os.ReadFile(filepath.Join(dir, "versions.txt"))
	img.Versions = string(v)
	img.Built = true
	pruneCache(filepath.Join(cacheRoot, "interop"), key)
	img.BuildTime = time.Since(start)
	fmt.Fprintf(log, "interop: built VM image %s in %v\n", key, img.BuildTime.Round(time.Second))
	return img, nil
}

// pruneCache removes images of other keys and build directories left by
// interrupted builds (older than a day), so the cache holds one image.
func pruneCache(dir, keep string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		switch {
		case n == keep:
		case len(n) == 16 && strings.Trim(n, "0123456789abcdef") == "":
			os.RemoveAll(filepath.Join(dir, n))
		case strings.HasPrefix(n, "build-"):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				os.RemoveAll(filepath.Join(dir, n))
			}
		}
	}
}

func run(log io.Writer, dir string, name string, args ...string) error {
	c := exec.Command(name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	var buf bytes.Buffer
	c.Stdout, c.Stderr = &buf, &buf
	if err := c.Run(); err != nil {
		tail := buf.String()
		if len(tail) > 4000 {
			tail = "…" + tail[len(tail)-4000:]
		}
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail)
	}
	return nil
}

func build(work, kpkg string, apt *deb.Fetcher, log io.Writer) error {
	root := filepath.Join(work, "root")
	mirror, err := Mirror()
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "interop: debootstrap --variant=minbase %s from %s (%d packages)\n", Suite, mirror, len(Packages))
	t := time.Now()
	if err := run(log, work, "debootstrap", "--variant=minbase", "--include="+strings.Join(Packages, ","), Suite, root, mirror); err != nil {
		return err
	}
	fmt.Fprintf(log, "interop: debootstrap took %v\n", time.Since(t).Round(time.Second))

	debs := filepath.Join(work, "debs")
	os.MkdirAll(debs, 0o755)
	kdeb, err := apt.Download(kpkg, debs)
	if err != nil {
		return err
	}
	ldeb, err := apt.Download(LibreswanPackage, debs)
	if err != nil {
		return err
	}

	// libreswan: its programs under /usr/libexec/ipsec (strongSwan's are
	// under /usr/lib/ipsec, so nothing collides).
	lsw := filepath.Join(work, "libreswan")
	if err := run(log, work, "dpkg-deb", "-x", ldeb, lsw); err != nil {
		return err
	}
	if err := run(log, work, "cp", "-a", filepath.Join(lsw, "usr/libexec/ipsec"), filepath.Join(root, "usr/libexec/")); err != nil {
		return err
	}
	lver, err := debVersion(ldeb)
	if err != nil {
		return err
	}

	// The kernel and the modules the lab needs.
	kern := filepath.Join(work, "kernel")
	if err := run(log, work, "dpkg-deb", "-x", kdeb, kern); err != nil {
		return err
	}
	kver := strings.TrimSuffix(strings.TrimPrefix(kpkg, "linux-image-"), "")
	vmlinuz := filepath.Join(kern, "boot", "vmlinuz-"+kver)
	if _, err := os.Stat(vmlinuz); err != nil {
		return fmt.Errorf("kernel package %s has no boot/vmlinuz-%s", kpkg, kver)
	}
	kdebVer, err := debVersion(kdeb)
	if err != nil {
		return err
	}
	nmods, err := installModules(kern, root, kver)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "interop: %d kernel modules of %s\n", nmods, kpkg)

	// The lab's own files.
	if err := os.MkdirAll(filepath.Join(root, "etc/interop"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "init"), initScript, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "etc/interop/modules"), moduleList, 0o644); err != nil {
		return err
	}
	// Versions of the lab's software, for docs/interop.md.
	q := exec.Command("chroot", root, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n")
	qout, err := q.Output()
	if err != nil {
		return fmt.Errorf("dpkg-query in the image: %v", err)
	}
	want := map[string]bool{"pptpd": true, "pptp-linux": true, "ppp": true, "xl2tpd": true, "pppoe": true, "curl": true, "iperf3": true, "strongswan-charon": true,
		"strongswan-swanctl": true, "openvpn": true, "wireguard-tools": true, "nftables": true, "conntrack": true, "iproute2": true}
	var vers []string
	vers = append(vers, kpkg+" "+kdebVer, LibreswanPackage+" "+lver)
	for _, ln := range strings.Split(string(qout), "\n") {
		if f := strings.Fields(ln); len(f) == 2 && want[f[0]] {
			vers = append(vers, ln)
		}
	}
	versions := strings.Join(vers, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(root, "etc/interop/versions"), []byte(versions), 0o644); err != nil {
		return err
	}
	// Neither pppd nor pluto needs Debian's defaults; the scenario
	// scripts write what they use.
	os.WriteFile(filepath.Join(root, "etc/ppp/options"), []byte("# interop lab: options are on the command line\n"), 0o644)

	for _, p := range []string{"usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "usr/share/lintian",
		"var/cache/apt", "var/lib/apt/lists", "var/cache/debconf", "var/log"} {
		os.RemoveAll(filepath.Join(root, p))
	}
	os.MkdirAll(filepath.Join(root, "var/log"), 0o755)

	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := run(log, work, "cp", vmlinuz, filepath.Join(out, "vmlinuz")); err != nil {
		return err
	}
	t = time.Now()
	n, err := packInitramfs(root, filepath.Join(out, "lab.cpio.gz"))
	if err != nil {
		return err
	}
	st, _ := os.Stat(filepath.Join(out, "lab.cpio.gz"))
	fmt.Fprintf(log, "interop: initramfs %d files, %d MiB (gzip), packed in %v\n", n, st.Size()>>20, time.Since(t).Round(time.Second))
	return os.WriteFile(filepath.Join(out, "versions.txt"), []byte(versions), 0o644)
}

func debVersion(deb string) (string, error) {
	out, err := exec.Command("dpkg-deb", "-f", deb, "Version").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-deb -f %s Version: %v", deb, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// installModules copies the lab's modules (moduleDirs plus files/modules,
// closed over their dependencies) from the unpacked kernel package into
// root and runs depmod there.
func installModules(kern, root, kver string) (int, error) {
	t, err := kmod.Load(kern, kver)
	if err != nil {
		return 0, err
	}
	inDirs := func(p string) bool {
		rel := strings.TrimPrefix(p, "kernel/")
		in := false
		for _, d := range moduleDirs {
			in = in || strings.HasPrefix(rel, d)
		}
		for _, d := range moduleSkip {
			in = in && !strings.HasPrefix(rel, d)
		}
		return in
	}
	files, _, err := t.Closure(append(t.Paths(inDirs), strings.Fields(string(moduleList))...))
	if err != nil {
		return 0, fmt.Errorf("files/modules, kernel %s: %w", kver, err)
	}
	return len(files), kmod.Install(kern, root, kver, files)
}

// packInitramfs writes root as a gzip-compressed newc cpio archive (the
// format the kernel unpacks into its rootfs) and returns the entry count.
// Owners, times and device nodes are kept; hard links become separate
// files.
func packInitramfs(root, out string) (int, error) {
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
	if err != nil {
		return 0, err
	}
	cw := cpio.NewWriter(zw)
	cw.HostMetadata = true
	cw.Tree(root, "")
	if err := cw.Close(); err != nil {
		return 0, fmt.Errorf("packing %s: %w", root, err)
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return cw.Count(), f.Close()
}
