package bootpart

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSystem is a system over a temporary directory: a sysfs with the
// block devices the test adds (their "device nodes" are regular files
// holding the data) and a mount that only records what it is asked.
type fakeSystem struct {
	*system
	root   string
	dir    string // the mount point
	mu     sync.Mutex
	mounts []string
	logs   strings.Builder
	errs   []error // returned by the next mounts, in turn
}

func newFakeSystem(t *testing.T) *fakeSystem {
	root := t.TempDir()
	f := &fakeSystem{root: root, dir: filepath.Join(root, "boot")}
	s := &system{
		sysBlock:  filepath.Join(root, "sys/class/block"),
		devDir:    filepath.Join(root, "dev"),
		byLabel:   filepath.Join(root, "dev/disk/by-label"),
		mountInfo: filepath.Join(root, "proc/self/mountinfo"),
		wait:      200 * time.Millisecond,
		poll:      10 * time.Millisecond,
		logf: func(format string, args ...any) {
			f.mu.Lock()
			defer f.mu.Unlock()
			fmt.Fprintf(&f.logs, format+"\n", args...)
		},
	}
	s.mount = func(source, target, fstype string, flags uintptr, data string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.mounts = append(f.mounts, fmt.Sprintf("%s %s %s %#x %s", source, target, fstype, flags, data))
		if len(f.errs) > 0 {
			err := f.errs[0]
			f.errs = f.errs[1:]
			return err
		}
		return nil
	}
	for _, d := range []string{s.sysBlock, s.devDir, filepath.Dir(s.mountInfo)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.mountInfo, []byte("22 1 0:5 / / rw - rootfs rootfs rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.system = s
	return f
}

// addDevice adds a block device whose contents are the file img (a FAT
// image, or "" for a device of zeros). The device appears at once: node
// first, then its sysfs directory.
func (f *fakeSystem) addDevice(t *testing.T, name, img string, partition bool) {
	t.Helper()
	data := make([]byte, 8192)
	if img != "" {
		var err error
		if data, err = os.ReadFile(img); err != nil {
			t.Error(err)
			return
		}
	}
	dev := filepath.Join(f.devDir, name)
	if err := os.WriteFile(dev+".tmp", data, 0o644); err != nil {
		t.Error(err)
	}
	os.Rename(dev+".tmp", dev)
	stage := filepath.Join(f.root, "sys-"+name)
	os.MkdirAll(stage, 0o755)
	os.WriteFile(filepath.Join(stage, "size"), []byte("81920\n"), 0o644)
	if partition {
		os.WriteFile(filepath.Join(stage, "partition"), []byte("1\n"), 0o644)
	}
	if err := os.Rename(stage, filepath.Join(f.sysBlock, name)); err != nil {
		t.Error(err)
	}
}

func (f *fakeSystem) dev(name string) string { return filepath.Join(f.devDir, name) }

func (f *fakeSystem) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

func TestMountTheBoardsPartition(t *testing.T) {
	img := fatImage(t, label, 0, nil)
	// The board names vda1; a second PASSGATE partition (a USB stick
	// flashed with passgate) sorts first but is not taken. The board may
	// name the device with or without /dev/.
	for _, device := range []string{"/dev/vda1", "vda1"} {
		f := newFakeSystem(t)
		f.addDevice(t, "vda1", img, true)
		f.addDevice(t, "sda1", img, true)
		if err := f.mountBoot(f.dir, device, label); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s %s vfat %#x %s", f.dev("vda1"), f.dir, mountFlags, mountData)
		if len(f.mounts) != 1 || f.mounts[0] != want {
			t.Errorf("board device %q: mounts %q, want [%q]", device, f.mounts, want)
		}
		if _, err := os.Stat(f.dir); err != nil {
			t.Errorf("mount point not created: %v", err)
		}
		if !strings.Contains(f.log(), "mounted on "+f.dir) {
			t.Errorf("log does not say what was mounted:\n%s", f.log())
		}
	}
}

func TestMountWaitsForTheDevice(t *testing.T) {
	f := newFakeSystem(t)
	f.wait = 5 * time.Second
	img := fatImage(t, label, 0, nil)
	go func() {
		time.Sleep(150 * time.Millisecond)
		f.addDevice(t, "sda1", img, true)
	}()
	start := time.Now()
	if err := f.mountBoot(f.dir, "/dev/vda1", label); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > 3*time.Second {
		t.Errorf("mount took %v; want it to wait for the device and take it as soon as it appears", el)
	}
	if len(f.mounts) != 1 || !strings.HasPrefix(f.mounts[0], f.dev("sda1")+" ") {
		t.Errorf("mounts %q, want sda1", f.mounts)
	}
	if !strings.Contains(f.log(), "waiting up to") {
		t.Errorf("no waiting message:\n%s", f.log())
	}
}

func TestMountNoPartition(t *testing.T) {
	for _, c := range []struct{ device, says string }{
		{"/dev/vda1", "neither " + "%s/vda1 (FAT) nor a FAT file system labelled PASSGATE was found"},
		{"", "no FAT file system labelled PASSGATE was found"},
	} {
		f := newFakeSystem(t)
		f.addDevice(t, "vda1", "", true) // not FAT
		f.addDevice(t, "sda1", fatImage(t, "USBSTICK", 0, nil), true)
		start := time.Now()
		err := f.mountBoot(f.dir, c.device, label)
		if el := time.Since(start); el < f.wait || el > 2*time.Second {
			t.Errorf("gave up after %v; want the bounded wait (%v)", el, f.wait)
		}
		says := c.says
		if strings.Contains(says, "%s") {
			says = fmt.Sprintf(says, f.devDir)
		}
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("device %q: error %v; want one saying %q", c.device, err, says)
		}
		if len(f.mounts) != 0 {
			t.Errorf("mounted %q", f.mounts)
		}
	}
}

// A restarted worker finds the partition mounted by its predecessor.
func TestMountAlreadyMounted(t *testing.T) {
	f := newFakeSystem(t)
	f.addDevice(t, "vda1", fatImage(t, label, 0, nil), true)
	mp := strings.ReplaceAll(f.dir, " ", `\040`)
	os.WriteFile(f.mountInfo, []byte("22 1 0:5 / / rw - rootfs rootfs rw\n"+
		"40 22 254:1 / "+mp+" rw,nosuid,nodev,noexec,noatime - vfat /dev/vda1 rw,fmask=0133\n"), 0o644)
	if err := f.mountBoot(f.dir, "/dev/vda1", label); err != nil || len(f.mounts) != 0 {
		t.Errorf("mount = %v, mounts %q; want the mounted partition reused", err, f.mounts)
	}

	// Something else on /boot (a development machine's ext4 /boot) is never
	// mounted over, and the last mount on a directory is the one on top.
	os.WriteFile(f.mountInfo, []byte("40 22 254:1 / "+mp+" rw - vfat /dev/vda1 rw\n"+
		"41 22 8:1 / "+mp+" rw - ext4 /dev/sda1 rw\n"), 0o644)
	err := f.mountBoot(f.dir, "/dev/vda1", label)
	if err == nil || !strings.Contains(err.Error(), "ext4 mount of /dev/sda1") || len(f.mounts) != 0 {
		t.Errorf("mount = %v, mounts %q: want no mount over a foreign /boot", err, f.mounts)
	}
}

func TestMountRetries(t *testing.T) {
	cases := []struct {
		name  string
		errs  []error
		flags []uintptr // of each mount call
		data  []string
		ok    bool
		log   string
	}{
		{"write-protected card", []error{unix.EROFS, nil}, []uintptr{mountFlags, mountFlags | unix.MS_RDONLY}, []string{mountData, mountData}, true, "read-only"},
		{"EACCES is write protection too", []error{unix.EACCES, nil}, []uintptr{mountFlags, mountFlags | unix.MS_RDONLY}, []string{mountData, mountData}, true, "read-only"},
		{"kernel without an option", []error{unix.EINVAL, nil}, []uintptr{mountFlags, mountFlags}, []string{mountData, ""}, true, "mounted on"},
		{"damaged file system", []error{unix.EIO}, []uintptr{mountFlags}, []string{mountData}, false, ""},
	}
	for _, c := range cases {
		f := newFakeSystem(t)
		f.addDevice(t, "vda1", fatImage(t, label, 0, nil), true)
		f.errs = c.errs
		err := f.mountBoot(f.dir, "/dev/vda1", label)
		if (err == nil) != c.ok {
			t.Errorf("%s: mount = %v", c.name, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "input/output error")) {
			t.Errorf("%s: error %v does not say why", c.name, err)
		}
		var want []string
		for i := range c.flags {
			want = append(want, fmt.Sprintf("%s %s vfat %#x %s", f.dev("vda1"), f.dir, c.flags[i], c.data[i]))
		}
		if fmt.Sprint(f.mounts) != fmt.Sprint(want) {
			t.Errorf("%s: mounts %q, want %q", c.name, f.mounts, want)
		}
		if c.log != "" && !strings.Contains(f.log(), c.log) {
			t.Errorf("%s: log does not say %q:\n%s", c.name, c.log, f.log())
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/boot`: "/boot", `/my\040boot`: "/my boot", `/a\134b`: `/a\b`, `/x\04`: `/x\04`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// The board's partition is taken without reading the other disks: a
// second disk whose device hangs when opened (here a FIFO with no writer;
// in life a failing USB stick) does not hold up the boot.
func TestMountTheBoardsPartitionWithoutReadingOtherDisks(t *testing.T) {
	f := newFakeSystem(t)
	f.addDevice(t, "vda1", fatImage(t, label, 0, nil), true)
	f.addDevice(t, "sda1", "", true)
	os.Remove(f.dev("sda1"))
	if err := unix.Mkfifo(f.dev("sda1"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.mountBoot(f.dir, "/dev/vda1", label) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		// Unblock the stuck open so the goroutine ends.
		if w, err := os.OpenFile(f.dev("sda1"), os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("mounting the board's partition waited on another disk")
	}
	want := fmt.Sprintf("%s %s vfat %#x %s", f.dev("vda1"), f.dir, mountFlags, mountData)
	if len(f.mounts) != 1 || f.mounts[0] != want {
		t.Errorf("mounts %q, want [%q]", f.mounts, want)
	}
}
