package image

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/mbr"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/config"
)

// fakeSpec builds a Spec for b whose kernel, initramfs, DTBs, firmware and
// loaders are random bytes of realistic-ish sizes, so the image layout is
// tested without downloading anything. It returns the host contents by
// partition path.
func fakeSpec(t *testing.T, b *board.Board) (Spec, map[string][]byte, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	want := map[string][]byte{}
	mk := func(name string, size int) string {
		data := make([]byte, size)
		rand.Read(data)
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = data
		return p
	}
	s := Spec{Board: b}
	s.Kernel = mk(SlotPath("a", board.KernelFile), 9<<20+123)
	s.Initramfs = mk(SlotPath("a", board.InitramfsFile), 2<<20+7)
	for _, f := range b.DTBs {
		// Device trees belong to the slot; the image puts them there.
		src := mk(SlotPath("a", f.Dst), 40<<10+len(f.Dst))
		s.Files = append(s.Files, File{Src: src, Dst: f.Dst})
	}
	for _, f := range b.Firmware {
		s.Files = append(s.Files, File{Src: mk(f.Dst, 40<<10+len(f.Dst)), Dst: f.Dst})
	}
	var raws [][]byte
	for i, r := range b.Raw {
		p := mk("raw"+strconv.Itoa(i), 100<<10+i)
		raws = append(raws, want["raw"+strconv.Itoa(i)])
		delete(want, "raw"+strconv.Itoa(i))
		s.Raw = append(s.Raw, Raw{Src: p, Sector: r.Sector, MaxSize: r.MaxSize})
	}
	for n, data := range s.GeneratedFiles() {
		want[n] = data
	}
	return s, want, raws
}

func TestImageLayoutPerBoard(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Mtools); err != nil {
		t.Fatalf("these tests read the image independently with mtools: %v", err)
	}
	for _, b := range board.All() {
		t.Run(b.Name, func(t *testing.T) {
			spec, want, raws := fakeSpec(t, b)
			out := filepath.Join(t.TempDir(), b.Name+".img")
			var progress bytes.Buffer
			if err := Build(spec, out, &progress); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(progress.String(), "writing slot-a/Image") {
				t.Errorf("no progress for the kernel:\n%s", progress.String())
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != spec.Size() {
				t.Errorf("image is %d bytes, Spec.Size says %d", st.Size(), spec.Size())
			}
			checkWithDiskfs(t, out, b, want)
			checkWithMtools(t, out, b, want)
			checkRaw(t, out, spec, raws)
		})
	}
}

func checkWithDiskfs(t *testing.T, img string, b *board.Board, want map[string][]byte) {
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	table, ok := pt.(*mbr.Table)
	if !ok {
		t.Fatalf("partition table is %T, want MBR", pt)
	}
	var used []*mbr.Partition
	for _, p := range table.Partitions {
		if p.Type != mbr.Empty {
			used = append(used, p)
		}
	}
	if len(used) != 1 {
		t.Fatalf("%d partitions, want 1", len(used))
	}
	p := used[0]
	if !p.Bootable || p.Type != mbr.Fat32LBA || int64(p.Start) != b.BootPartitionStart || int64(p.Size)*512 != DefaultBootSize {
		t.Errorf("partition = %+v, want bootable FAT32 LBA at %d of %d bytes", p, b.BootPartitionStart, DefaultBootSize)
	}
	fs, err := d.GetFilesystem(1)
	if err != nil {
		t.Fatal(err)
	}
	if l := strings.TrimSpace(fs.Label()); l != board.BootLabel {
		t.Errorf("label %q, want %q", l, board.BootLabel)
	}
	for name, data := range want {
		got, err := readFAT(fs, name)
		if err != nil {
			t.Errorf("go-diskfs: %s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("go-diskfs: %s differs (%d bytes, want %d)", name, len(got), len(data))
		}
	}
}

// readFAT reads a whole file in one Read call of exactly its size:
// go-diskfs v1.9.4's fat32 File.Read returns bytes past the end of the file
// when a read starts in the middle of a cluster (as io.ReadAll's second
// call does), so fs.ReadFile cannot be used for files over 512 bytes.
func readFAT(fs filesystem.FileSystem, name string) ([]byte, error) {
	st, err := fs.Stat(name)
	if err != nil {
		return nil, err
	}
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func checkWithMtools(t *testing.T, img string, b *board.Board, want map[string][]byte) {
	at := img + "@@" + strconv.FormatInt(b.BootPartitionStart*512, 10)
	env := append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := runEnv(env, "mdir", "-i", at, "-/", "-b", "::/")
	if err != nil {
		t.Fatalf("mdir: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		listed[strings.ToLower(strings.TrimPrefix(l, "::/"))] = true
	}
	for name, data := range want {
		if !listed[strings.ToLower(name)] {
			t.Errorf("mdir does not list %s; it lists:\n%s", name, out)
			continue
		}
		got, err := runEnv(env, "mtype", "-i", at, "::/"+name)
		if err != nil {
			t.Errorf("mtype %s: %v", name, err)
			continue
		}
		if got != string(data) {
			t.Errorf("mtype %s: %d bytes differ from the %d written", name, len(got), len(data))
		}
	}
	label, err := runEnv(env, "mlabel", "-i", at, "-s", "::")
	if err != nil || !strings.Contains(label, board.BootLabel) {
		t.Errorf("mlabel -s: %q %v", label, err)
	}
}

func checkRaw(t *testing.T, img string, s Spec, raws [][]byte) {
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, r := range s.Raw {
		got := make([]byte, len(raws[i]))
		if _, err := f.ReadAt(got, r.Sector*512); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, raws[i]) {
			t.Errorf("raw blob %d not at sector %d", i, r.Sector)
		}
	}
	mbrSector := make([]byte, 512)
	f.ReadAt(mbrSector, 0)
	if mbrSector[510] != 0x55 || mbrSector[511] != 0xaa {
		t.Error("no MBR signature")
	}
	if bytes.Equal(mbrSector[440:444], []byte{0, 0, 0, 0}) {
		t.Error("MBR disk signature is zero (no PARTUUID)")
	}
}

func runEnv(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

func TestGeneratedFiles(t *testing.T) {
	pi, _ := board.Get("rpi4")
	g := (&Spec{Board: pi}).GeneratedFiles()
	for _, want := range []string{"os_prefix=slot-a/\n", "arm_64bit=1", "kernel=Image", "initramfs initramfs.cpio.gz followkernel"} {
		if !strings.Contains(string(g[PiConfigFile]), want) {
			t.Errorf("config.txt lacks %q", want)
		}
	}
	if try := string(g[PiTrybootFile]); try != strings.Replace(string(g[PiConfigFile]), "os_prefix=slot-a/", "os_prefix=slot-b/", 1) || try == string(g[PiConfigFile]) {
		t.Errorf("tryboot.txt is not config.txt booting slot b:\n%s", try)
	}
	for _, name := range []string{"cmdline.txt", "slot-a/cmdline.txt"} {
		if c := string(g[name]); strings.Count(c, "\n") != 1 || !strings.HasPrefix(c, "console=ttyS1,115200") {
			t.Errorf("%s = %q: want one line starting with the console", name, c)
		}
	}
	if c := string(g["slot-a/cmdline.txt"]); !strings.HasSuffix(c, " passgate.slot=a\n") {
		t.Errorf("slot-a/cmdline.txt = %q: it does not name its slot", c)
	}
	rock, _ := board.Get("rock-pi-e")
	g = (&Spec{Board: rock}).GeneratedFiles()
	src := string(g["boot.cmd"])
	for _, want := range []string{"slot-${passgate_slot}/Image", "slot-${passgate_slot}/initramfs.cpio.gz",
		"slot-${passgate_slot}/rk3328-rock-pi-e.dtb", "console=ttyS2,1500000", "fatrm ${devtype} ${devnum}:${distro_bootpart} passgate-tryboot.txt",
		"passgate.slot=${passgate_slot} passgate.trial=${passgate_trial}", "booti ${kernel_addr_r} ${ramdisk_addr_r}:${passgate_rdsize} ${fdt_addr_r}"} {
		if !strings.Contains(src, want) {
			t.Errorf("boot.cmd lacks %q:\n%s", want, src)
		}
	}
	// The one-shot file is deleted before any kernel is loaded.
	if strings.Index(src, "fatrm") > strings.Index(src, "${kernel_addr_r} slot-") {
		t.Error("boot.cmd loads a kernel before it deletes the trial request")
	}
	if !bytes.Equal(g[UBootScriptFile], ScriptImage("passgate A/B boot", src)) {
		t.Error("boot.scr is not boot.cmd")
	}
	q, _ := board.Get("qemu-arm64")
	g = (&Spec{Board: q}).GeneratedFiles()
	if _, ok := g[PiConfigFile]; ok {
		t.Error("qemu image has a Pi config.txt")
	}
	conf := string(g[board.ConfigFile])
	if !strings.Contains(conf, "set interfaces lan device eth0") || !strings.Contains(conf, "set interfaces wan device eth1") {
		t.Errorf("default config does not use the board's ports:\n%s", conf)
	}
	custom := (&Spec{Board: q, Config: []byte("set system hostname x\n")}).GeneratedFiles()
	if string(custom[board.ConfigFile]) != "set system hostname x\n" {
		t.Error("Spec.Config is not used")
	}
}

func TestBuildRejectsOversizedLoader(t *testing.T) {
	rock, _ := board.Get("rock-pi-e")
	spec, _, _ := fakeSpec(t, rock)
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, make([]byte, spec.Raw[0].MaxSize+1), 0o644)
	spec.Raw[0].Src = big
	if err := Build(spec, filepath.Join(t.TempDir(), "x.img"), nil); err == nil {
		t.Fatal("an idbloader larger than its slot was accepted")
	}
}

func TestReproducible(t *testing.T) {
	rock, _ := board.Get("rock-pi-e")
	spec, _, _ := fakeSpec(t, rock)
	spec.ModTime = time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	dir := t.TempDir()
	var sums [2][32]byte
	for i := range sums {
		out := filepath.Join(dir, fmt.Sprintf("%d.img", i))
		if err := Build(spec, out, nil); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = sha256.Sum256(data)
	}
	if sums[0] != sums[1] {
		t.Error("two builds with the same inputs and ModTime differ")
	}
}

// The passgate.conf every image carries is a valid configuration for its
// board: parses and validates with pkg/config, uses the board's LAN and WAN
// ports, LAN 192.168.1.1/24 with a DHCP pool, WAN by DHCP — the factory
// configuration (config.Default) on the board's ports, which is also what
// routerd runs when the boot partition is unusable.
func TestDefaultConfigValidPerBoard(t *testing.T) {
	for _, b := range board.All() {
		t.Run(b.Name, func(t *testing.T) {
			text := string(DefaultConfig(b))
			c, err := config.Parse(text)
			if err != nil {
				t.Fatalf("does not parse: %v\n%s", err, text)
			}
			errs, warns := c.Validate()
			if len(errs) > 0 {
				t.Fatalf("invalid: %v\n%s", errs, text)
			}
			for _, w := range warns {
				t.Logf("warning: %v", w)
			}
			lan, wan, pool := c.Interfaces.LAN, c.Interfaces.WAN, c.DHCPServer.LAN
			if lan.Device != b.LAN.Name || wan.Device != b.WAN.Name {
				t.Errorf("ports lan %s wan %s, want the board's %s and %s", lan.Device, wan.Device, b.LAN.Name, b.WAN.Name)
			}
			if lan.Address != netip.MustParsePrefix("192.168.1.1/24") || wan.Mode != config.WANDHCP {
				t.Errorf("lan %v, wan mode %v; want 192.168.1.1/24 and dhcp", lan.Address, wan.Mode)
			}
			if !pool.RangeStart.IsValid() || !lan.Address.Contains(pool.RangeStart) || !lan.Address.Contains(pool.RangeEnd) {
				t.Errorf("DHCP pool %v-%v not inside the LAN", pool.RangeStart, pool.RangeEnd)
			}
			want := config.Default()
			want.Interfaces.LAN.Device, want.Interfaces.WAN.Device = b.LAN.Name, b.WAN.Name
			if !c.Equal(want) {
				t.Errorf("differs from the factory configuration on the board's ports:\nimage:\n%s\nfactory:\n%s", c, want)
			}
		})
	}
}

// TestScriptImageIsMkimages: boot.scr is byte for byte what u-boot's own
// mkimage makes of boot.cmd (with its clock at 0), so u-boot's "source"
// reads it.
func TestScriptImageIsMkimages(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Mkimage); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rock-pi-e", "qemu-arm64"} {
		b, _ := board.Get(name)
		src := UBootScript(b)
		dir := t.TempDir()
		cmd, scr := filepath.Join(dir, "boot.cmd"), filepath.Join(dir, "boot.scr")
		os.WriteFile(cmd, []byte(src), 0o644)
		env := append(os.Environ(), "SOURCE_DATE_EPOCH=0")
		if out, err := runEnv(env, "mkimage", "-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "passgate A/B boot", "-d", cmd, scr); err != nil {
			t.Fatalf("mkimage: %v\n%s", err, out)
		}
		want, _ := os.ReadFile(scr)
		if got := ScriptImage("passgate A/B boot", src); !bytes.Equal(got, want) {
			t.Errorf("%s: ScriptImage differs from mkimage's (%d and %d bytes; headers %x / %x)", name, len(got), len(want), got[:64], want[:min(64, len(want))])
		}
	}
}

// TestRefreshSlotA: a kept VM disk gets the new build in slot a, loses a
// trial request and a default slot, and keeps its configuration — read
// back with mtools.
func TestRefreshSlotA(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Mtools); err != nil {
		t.Fatal(err)
	}
	b, _ := board.Get("qemu-arm64")
	spec, _, _ := fakeSpec(t, b)
	img := filepath.Join(t.TempDir(), "run.img")
	if err := Build(spec, img, nil); err != nil {
		t.Fatal(err)
	}
	at := img + "@@" + strconv.FormatInt(b.BootPartitionStart*512, 10)
	env := append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	put := func(name, text string) {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte(text), 0o644)
		if out, err := runEnv(env, "mcopy", "-o", "-i", at, p, "::/"+name); err != nil {
			t.Fatalf("mcopy %s: %v\n%s", name, err, out)
		}
	}
	put(board.ConfigFile, "set system hostname kept\n")
	put(UBootTryFile, "passgate_try=b\n")
	put(UBootDefaultFile, "passgate_slot=b\n")

	next, want, _ := fakeSpec(t, b) // a new build: other kernel and initramfs
	if err := RefreshSlotA(img, next); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{SlotPath("a", board.KernelFile), SlotPath("a", board.InitramfsFile), UBootScriptFile} {
		got, err := runEnv(env, "mtype", "-i", at, "::/"+name)
		if err != nil || got != string(want[name]) {
			t.Errorf("%s: %d bytes, want the new build's %d (%v)", name, len(got), len(want[name]), err)
		}
	}
	if got, _ := runEnv(env, "mtype", "-i", at, "::/"+board.ConfigFile); got != "set system hostname kept\n" {
		t.Errorf("passgate.conf = %q, want it kept", got)
	}
	ls, _ := runEnv(env, "mdir", "-b", "-i", at, "::/")
	for _, gone := range []string{UBootTryFile, UBootDefaultFile} {
		if strings.Contains(strings.ToLower(ls), gone) {
			t.Errorf("%s is still on the disk:\n%s", gone, ls)
		}
	}
}
