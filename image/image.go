// Package image writes a flashable SD-card image for a board, in pure Go
// with go-diskfs (no loop devices, no root):
//
//	sector 0           MBR, one partition
//	sector 64...       (Rockchip only) idbloader.img, u-boot.itb at 16384
//	BootPartitionStart FAT32 partition labelled PASSGATE, marked bootable:
//	                   slot-a/ with Image, initramfs.cpio.gz and the DTBs
//	                   (slot-b/ is filled by the first update), cmdline.txt,
//	                   passgate.conf, and per board config.txt, tryboot.txt
//	                   + GPU firmware (Pi) or boot.scr (u-boot)
//
// passgate.conf is the router's configuration: people edit it on a PC
// before the first boot, routerd rewrites it when the configuration is
// saved from the shell.
package image

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/mbr"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/bootslot"
)

// DefaultBootSize is the size of the FAT32 boot partition: room for two
// kernels (an upgrade writes the new one before removing the old), the
// firmware, and the configuration with its backups.
const DefaultBootSize = 128 << 20

// File is a host file copied onto the boot partition.
type File struct {
	Src string // host path
	Dst string // path on the partition, "/" separated, no leading slash
}

// Raw is a host file written to the raw disk at a sector.
type Raw struct {
	Src     string
	Sector  int64
	MaxSize int64
}

// Spec says what goes into an image.
type Spec struct {
	Board     *board.Board
	Kernel    string // host path of the arm64 Image
	Initramfs string // host path of initramfs.cpio.gz
	Files     []File // DTBs and boot firmware
	Raw       []Raw  // loaders outside the partition
	// Config is passgate.conf; nil means DefaultConfig(Board).
	Config []byte
	// BootSize is the boot partition size in bytes; 0 means DefaultBootSize.
	BootSize int64
	// ModTime stamps every file and directory on the boot partition. Zero
	// means $SOURCE_DATE_EPOCH if set (reproducible builds), else the
	// current time. Equal inputs and ModTime give a byte-identical image.
	ModTime time.Time
}

// epochMu serialises builds that set SOURCE_DATE_EPOCH in the process
// environment (the only way to give go-diskfs a fixed clock).
var epochMu sync.Mutex

func pinSourceDateEpoch(t time.Time) (restore func()) {
	epochMu.Lock()
	old, had := os.LookupEnv("SOURCE_DATE_EPOCH")
	os.Setenv("SOURCE_DATE_EPOCH", strconv.FormatInt(t.Unix(), 10))
	return func() {
		if had {
			os.Setenv("SOURCE_DATE_EPOCH", old)
		} else {
			os.Unsetenv("SOURCE_DATE_EPOCH")
		}
		epochMu.Unlock()
	}
}

func (s *Spec) modTime() time.Time {
	if !s.ModTime.IsZero() {
		return s.ModTime
	}
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		if n, err := strconv.ParseInt(e, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Time{}
}

const sector = 512

// Size returns the size in bytes of the image Build writes.
func (s *Spec) Size() int64 {
	return s.Board.BootPartitionStart*sector + s.bootSize()
}

func (s *Spec) bootSize() int64 {
	if s.BootSize > 0 {
		return s.BootSize &^ (1<<20 - 1)
	}
	return DefaultBootSize
}

// GeneratedFiles returns the text files Build writes onto the boot
// partition for this board, by name.
func (s *Spec) GeneratedFiles() map[string][]byte {
	b := s.Board
	out := map[string][]byte{
		"cmdline.txt": []byte(b.KernelCmdline() + "\n"),
	}
	cfg := s.Config
	if cfg == nil {
		cfg = DefaultConfig(b)
	}
	out[board.ConfigFile] = cfg
	switch b.Boot {
	case board.BootRaspberryPi:
		// The firmware reads config.txt, or once after reboot "0
		// tryboot" tryboot.txt; os_prefix picks the slot.
		out[PiConfigFile] = []byte(PiConfigTxt("a"))
		out[PiTrybootFile] = []byte(PiConfigTxt("b"))
		// The slot's command line names the slot to the kernel (the
		// trial flag comes from the firmware's device tree:
		// chosen/bootloader/tryboot). The one at the top is for a
		// firmware that reads it without os_prefix: no slot then.
		out[board.SlotDir("a")+"/cmdline.txt"] = []byte(b.KernelCmdline() + " passgate.slot=a\n")
	case board.BootUBoot, board.BootQEMU:
		src := UBootScript(b)
		out["boot.cmd"] = []byte(src)
		out[UBootScriptFile] = ScriptImage("passgate A/B boot", src)
	}
	return out
}

// The Raspberry Pi firmware's configuration files (pkg/bootslot's
// PiTryboot loader rewrites their os_prefix).
const (
	PiConfigFile  = bootslot.PiConfigFile
	PiTrybootFile = bootslot.PiTrybootFile
)

// SlotPath is where a slot file (kernel, initramfs, DTB) of slot goes on
// the boot partition.
func SlotPath(slot, name string) string { return board.SlotDir(slot) + "/" + name }

// isSlotFile reports whether a boot file belongs to a slot (a device
// tree) rather than to the boot loader (GPU firmware).
func isSlotFile(dst string) bool { return strings.HasSuffix(dst, ".dtb") }

// PiConfigTxt is the Raspberry Pi firmware's config.txt (or tryboot.txt)
// booting slot.
func PiConfigTxt(slot string) string {
	return `# Raspberry Pi boot configuration, written by passgate.
# The router's own settings are in passgate.conf, not here.

# The boot slot: kernel, initramfs, device trees and cmdline.txt are read
# from this directory. config.txt names the committed slot; tryboot.txt,
# read once after "reboot 0 tryboot", the slot on trial.
os_prefix=` + board.SlotDir(slot) + `/

# Start the CPU in 64-bit mode and boot the arm64 kernel.
arm_64bit=1
kernel=` + board.KernelFile + `
# Load the initramfs right after the kernel; routerd runs from it.
initramfs ` + board.InitramfsFile + ` followkernel
# Debian's mainline kernel and device trees (bcm27xx-rpi-*.dtb).
upstream_kernel=1
# Serial console on GPIO 14/15 (header pins 8 and 10), 115200 baud.
enable_uart=1
`
}

// DefaultConfig is the passgate.conf a fresh image carries, using the
// board's LAN and WAN ports.
func DefaultConfig(b *board.Board) []byte {
	return []byte(`# passgate router configuration (` + b.Name + `).
#
# You can edit this file on a PC before the first boot; the router reads it
# at start-up and rewrites it when you save from its shell. One setting per
# line, each a "set" command as typed in the shell's configure mode; lines
# starting with # are comments.
#
# LAN: ` + b.LAN.Note + `
# WAN: ` + b.WAN.Note + `

set system hostname passgate
set interfaces lan device ` + b.LAN.Name + `
set interfaces lan address 192.168.1.1/24
set interfaces wan device ` + b.WAN.Name + `
set interfaces wan mode dhcp
set dhcp-server lan range 192.168.1.100 192.168.1.199
set dhcp-server lan lease-time 12h
set dhcp-server lan dns 192.168.1.1
set nat hairpin enable
set service ssh listen lan
`)
}

// Build writes the image to out (replaced if it exists). Progress lines go
// to progress (may be nil).
func Build(s Spec, out string, progress io.Writer) error {
	if s.Board == nil {
		return errors.New("image: no board")
	}
	logf := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", args...)
		}
	}
	b := s.Board
	start := time.Now()
	boot := s.bootSize()
	if boot < 64<<20 {
		return fmt.Errorf("image: boot partition of %d bytes is too small for FAT32 (min 64 MiB)", boot)
	}
	// Gather the partition's files and check they fit before writing.
	type entry struct {
		dst  string
		src  string // host file, or "" for generated
		data []byte
		size int64
	}
	var entries []entry
	add := func(dst, src string) error {
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("image: %s: %w", dst, err)
		}
		entries = append(entries, entry{dst: dst, src: src, size: st.Size()})
		return nil
	}
	if err := add(SlotPath("a", board.KernelFile), s.Kernel); err != nil {
		return err
	}
	if err := add(SlotPath("a", board.InitramfsFile), s.Initramfs); err != nil {
		return err
	}
	for _, f := range s.Files {
		dst := f.Dst
		if isSlotFile(dst) {
			dst = SlotPath("a", dst)
		}
		if err := add(dst, f.Src); err != nil {
			return err
		}
	}
	gen := s.GeneratedFiles()
	var genNames []string
	for n := range gen {
		genNames = append(genNames, n)
	}
	sort.Strings(genNames)
	for _, n := range genNames {
		entries = append(entries, entry{dst: n, data: gen[n], size: int64(len(gen[n]))})
	}
	var total int64
	seen := map[string]bool{}
	for _, e := range entries {
		k := strings.ToLower(e.dst)
		if seen[k] {
			return fmt.Errorf("image: %s is written twice", e.dst)
		}
		seen[k] = true
		total += e.size
	}
	if total > boot*9/10 {
		return fmt.Errorf("image: %d MiB of files do not fit a %d MiB boot partition", total>>20, boot>>20)
	}
	for _, r := range s.Raw {
		st, err := os.Stat(r.Src)
		if err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if st.Size() > r.MaxSize || r.Sector < 1 || r.Sector*sector+r.MaxSize > b.BootPartitionStart*sector {
			return fmt.Errorf("image: %s (%d bytes at sector %d) does not fit before the boot partition", r.Src, st.Size(), r.Sector)
		}
	}

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	os.Remove(tmp)
	size := s.Size()
	logf("creating %s: %d MiB, MBR, FAT32 boot partition of %d MiB at sector %d", out, size>>20, boot>>20, b.BootPartitionStart)
	d, err := diskfs.Create(tmp, size, diskfs.SectorSizeDefault)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			d.Close()
			os.Remove(tmp)
		}
	}()
	table := &mbr.Table{
		LogicalSectorSize:  sector,
		PhysicalSectorSize: sector,
		Partitions: []*mbr.Partition{{
			Index:    1,
			Bootable: true,
			Type:     mbr.Fat32LBA,
			Start:    uint32(b.BootPartitionStart),
			Size:     uint32(boot / sector),
		}},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("image: partition table: %w", err)
	}
	// go-diskfs stamps new directory entries ("." and "..", which Chtimes
	// below cannot reach) with SOURCE_DATE_EPOCH if set, else the wall
	// clock: pin it to the spec's time while the FAT is written.
	if mt := s.modTime(); !mt.IsZero() {
		restore := pinSourceDateEpoch(mt)
		defer restore()
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{
		Partition: 1, FSType: filesystem.TypeFat32, VolumeLabel: board.BootLabel, Reproducible: true,
	})
	if err != nil {
		return fmt.Errorf("image: FAT32: %w", err)
	}
	dirs := map[string]bool{}
	for _, e := range entries {
		if dir := path.Dir(e.dst); dir != "." && !dirs[dir] {
			if err := fs.Mkdir("/" + dir); err != nil {
				return fmt.Errorf("image: mkdir %s: %w", dir, err)
			}
			dirs[dir] = true
		}
		if e.size > 4<<20 {
			logf("  writing %s (%.1f MiB)", e.dst, float64(e.size)/(1<<20))
		}
		if err := writeFATFile(fs, e.dst, e.src, e.data); err != nil {
			return fmt.Errorf("image: %s: %w", e.dst, err)
		}
	}
	if mt := s.modTime(); !mt.IsZero() {
		var names []string
		for dir := range dirs {
			names = append(names, dir)
		}
		sort.Strings(names) // map order would make the image differ from build to build
		for _, e := range entries {
			names = append(names, e.dst)
		}
		for _, n := range names {
			if err := fs.Chtimes("/"+n, mt, mt, mt); err != nil {
				return fmt.Errorf("image: timestamps of %s: %w", n, err)
			}
		}
	}
	if err := fs.Close(); err != nil {
		return fmt.Errorf("image: closing FAT: %w", err)
	}
	if err := d.Close(); err != nil {
		return err
	}
	ok = true

	// Raw writes after go-diskfs is done with the file: the disk signature
	// (so Linux shows a PARTUUID) and the boot loaders.
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	sig := sha256.Sum256([]byte("passgate disk " + b.Name))
	if _, err := f.WriteAt(sig[:4], 440); err != nil {
		return err
	}
	for _, r := range s.Raw {
		data, err := os.ReadFile(r.Src)
		if err != nil {
			return err
		}
		logf("  writing %s at sector %d (%d KiB)", filepath.Base(r.Src), r.Sector, len(data)>>10)
		if _, err := f.WriteAt(data, r.Sector*sector); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	logf("image written in %v", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func writeFATFile(fs filesystem.FileSystem, dst, src string, data []byte) error {
	w, err := fs.OpenFile("/"+dst, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return err
	}
	if src != "" {
		in, err := os.Open(src)
		if err != nil {
			w.Close()
			return err
		}
		defer in.Close()
		// Large writes: go-diskfs allocates clusters per Write call.
		if _, err := io.CopyBuffer(struct{ io.Writer }{w}, in, make([]byte, 4<<20)); err != nil {
			w.Close()
			return err
		}
	} else if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// RefreshSlotA writes the spec's slot a (kernel, initramfs, device trees)
// and the boot loader's generated files onto an existing disk image, and
// removes any trial request or default slot, so the next boot starts
// this build; passgate.conf and everything else on the card stay. It is
// `passgate run` keeping its VM disk (and the configuration saved on it)
// while booting a fresh build through the disk's own boot loader. The
// card was written by Linux's vfat since it was built, so it is changed
// with mtools, which reads whatever a FAT driver writes (go-diskfs does
// not read every directory Linux writes).
func RefreshSlotA(diskPath string, s Spec) error {
	if err := sysdeps.Require(sysdeps.Mtools); err != nil {
		return err
	}
	at := diskPath + "@@" + strconv.FormatInt(s.Board.BootPartitionStart*sector, 10)
	mtools := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], append([]string{"-i", at}, args[1:]...)...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("image: %s: %s: %v: %s", diskPath, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return string(out), nil
	}
	ls, err := mtools("mdir", "-b", "::/")
	if err != nil {
		return err
	}
	has := func(name string) bool {
		for _, l := range strings.Split(strings.ToLower(ls), "\n") {
			if strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "::/"), "/") == strings.ToLower(name) {
				return true
			}
		}
		return false
	}
	if !has(board.SlotDir("a")) {
		if _, err := mtools("mmd", "::/"+board.SlotDir("a")); err != nil {
			return err
		}
	}
	put := func(dst, src string) error {
		_, err := mtools("mcopy", "-o", src, "::/"+dst)
		return err
	}
	if err := put(SlotPath("a", board.KernelFile), s.Kernel); err != nil {
		return err
	}
	if err := put(SlotPath("a", board.InitramfsFile), s.Initramfs); err != nil {
		return err
	}
	for _, f := range s.Files {
		if isSlotFile(f.Dst) {
			if err := put(SlotPath("a", f.Dst), f.Src); err != nil {
				return err
			}
		}
	}
	tmp, err := os.MkdirTemp("", "passgate-refresh")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for name, data := range s.GeneratedFiles() {
		if name == board.ConfigFile {
			continue
		}
		p := filepath.Join(tmp, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		if err := put(name, p); err != nil {
			return err
		}
	}
	for _, name := range []string{UBootTryFile, UBootDefaultFile} {
		if has(name) {
			if _, err := mtools("mdel", "::/"+name); err != nil {
				return err
			}
		}
	}
	return nil
}
