package bootconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/pkg/config"
)

// fakeBoot is a chooser over a temporary directory whose mount "mounts" a
// partition holding files (copies them into the mount point), or fails
// with err.
type fakeBoot struct {
	*chooser
	files  map[string]string
	err    error
	ro     bool     // the partition is read-only
	mounts []string // device and label of each call
	logs   strings.Builder
}

func newFakeBoot(t *testing.T, files map[string]string, err error) *fakeBoot {
	root := t.TempDir()
	f := &fakeBoot{files: files, err: err}
	f.chooser = &chooser{
		mountPoint: filepath.Join(root, "boot"),
		runDir:     filepath.Join(root, "run/passgate"),
		mount: func(dir, device, label string) error {
			f.mounts = append(f.mounts, device+" "+label)
			if f.err != nil {
				return f.err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for name, data := range f.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
		readOnly: func(string) bool { return f.ro },
		logf:     func(format string, args ...any) { fmt.Fprintf(&f.logs, format+"\n", args...) },
	}
	return f
}

var qemuBoard, _ = board.Get("qemu-arm64")

func TestPrepareRunsThePartitionsConfiguration(t *testing.T) {
	conf := factoryConfig(qemuBoard).String()
	f := newFakeBoot(t, map[string]string{board.ConfigFile: conf}, nil)
	ch, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Choice{Config: filepath.Join(f.mountPoint, board.ConfigFile), StateDir: f.mountPoint, Store: f.mountPoint}); ch != want {
		t.Errorf("prepare = %+v; want the partition's configuration, state and store: %+v", ch, want)
	}
	if want := qemuBoard.BootPartition + " " + board.BootLabel; len(f.mounts) != 1 || f.mounts[0] != want {
		t.Errorf("mounted %q, want [%q]: the board's device, else its label", f.mounts, want)
	}
	if _, err := os.Stat(f.runDir); err == nil {
		t.Errorf("%s was written: nothing goes to RAM when the partition is good", f.runDir)
	}
}

func TestPrepareNoPartitionRunsFactoryConfig(t *testing.T) {
	for _, name := range []string{"qemu-arm64", "rock-pi-e"} {
		t.Run(name, func(t *testing.T) {
			b, _ := board.Get(name)
			why := errors.New("neither " + b.BootPartition + " (FAT) nor a FAT file system labelled PASSGATE was found")
			f := newFakeBoot(t, nil, why)
			ch, err := f.prepare(name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := ch.Config
			if filepath.Dir(cfg) != f.runDir || ch.StateDir != f.runDir {
				t.Errorf("prepare = %+v; want both in RAM (%s)", ch, f.runDir)
			}
			// Commits cannot be saved, and are refused saying why (never
			// kept in RAM).
			wantNoSave := "the configuration cannot be saved: the boot partition is not mounted (" + why.Error() + "); insert or fix the SD card and restart the router to commit"
			if ch.Store != "" || ch.NoSave != wantNoSave {
				t.Errorf("Store %q, NoSave:\ngot  %s\nwant %s", ch.Store, ch.NoSave, wantNoSave)
			}
			if want := "running the factory configuration (LAN " + b.LAN.Name + " 192.168.1.1/24, WAN " + b.WAN.Name + " by dhcp) from RAM: the boot partition is not available"; ch.Note != want {
				t.Errorf("Note:\ngot  %s\nwant %s", ch.Note, want)
			}
			if want := b.BootPartition + " " + board.BootLabel; len(f.mounts) != 1 || f.mounts[0] != want {
				t.Errorf("mounted %q, want [%q]", f.mounts, want)
			}
			c, err := config.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Equal(factoryConfig(b)) {
				t.Errorf("fallback configuration:\n%s\nwant the factory one on the board's ports:\n%s", c, factoryConfig(b))
			}
			if c.Interfaces.LAN.Device != b.LAN.Name || c.Interfaces.WAN.Device != b.WAN.Name {
				t.Errorf("fallback ports %s/%s, want %s/%s", c.Interfaces.LAN.Device, c.Interfaces.WAN.Device, b.LAN.Name, b.WAN.Name)
			}
			log := f.logs.String()
			for _, want := range []string{"boot partition not mounted: " + why.Error(), "factory configuration", "nothing on the boot partition was changed"} {
				if !strings.Contains(log, want) {
					t.Errorf("console does not say %q:\n%s", want, log)
				}
			}
		})
	}
}

// An unknown board (a firmware newer than its board list) still gets a
// partition labelled PASSGATE, or the factory configuration.
func TestPrepareUnknownBoard(t *testing.T) {
	f := newFakeBoot(t, nil, errors.New("nothing there"))
	ch, err := f.prepare("no-such-board")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ch.Config
	if want := " " + board.BootLabel; len(f.mounts) != 1 || f.mounts[0] != want {
		t.Errorf("mounted %q, want [%q]: by label only", f.mounts, want)
	}
	c, err := config.ReadFile(cfg)
	if err != nil || !c.Equal(config.Default()) {
		t.Errorf("fallback %v, %v; want config.Default()", c, err)
	}
	if !strings.Contains(f.logs.String(), "looking for the partition labelled PASSGATE only") {
		t.Errorf("console does not name the unknown board:\n%s", f.logs.String())
	}
}

// TestPrepareBadConfigurationIsLeftAlone: an unusable passgate.conf
// makes the router run the backup (or the factory configuration) from
// RAM, nothing on the partition changes, and commits go to the partition
// (Store), whose first commit writes a good passgate.conf.
func TestPrepareBadConfigurationIsLeftAlone(t *testing.T) {
	good := factoryConfig(qemuBoard)
	good.System.Hostname = "from-backup"
	invalid := "set interfaces lan device eth0\nset interfaces wan device eth0\n"
	cases := []struct {
		name     string
		files    map[string]string
		hostname string // of the configuration run
		log      string
		note     string
	}{
		{"missing", map[string]string{"readme.txt": "x"}, "passgate", "has no passgate.conf",
			"running the factory configuration (LAN eth0 192.168.1.1/24, WAN eth1 by dhcp) from RAM: no configuration on the boot partition"},
		{"invalid line", map[string]string{board.ConfigFile: "set interfaces lan adress 1.2.3.4/24\n"}, "passgate", "cannot be used",
			"running the factory configuration (LAN eth0 192.168.1.1/24, WAN eth1 by dhcp) from RAM: the configuration on the boot partition cannot be used"},
		{"fails validation", map[string]string{board.ConfigFile: invalid}, "passgate", "invalid: interfaces lan address: not set; give the router's LAN address, e.g. set interfaces lan address 192.168.1.1/24 (and 1 more problem), and there is no valid backup",
			"running the factory configuration (LAN eth0 192.168.1.1/24, WAN eth1 by dhcp) from RAM: the configuration on the boot partition cannot be used"},
		{"damaged, good backup", map[string]string{board.ConfigFile: "", config.BackupName: good.String()}, "from-backup", "loaded the backup",
			"running the backup passgate.conf.bak from RAM: passgate.conf is damaged: the file holds no set command (empty or truncated)"},
		{"missing, good backup", map[string]string{config.BackupName: good.String()}, "from-backup", "is missing",
			"running the backup passgate.conf.bak from RAM: passgate.conf is missing"},
		{"fails validation, good backup", map[string]string{board.ConfigFile: invalid, config.BackupName: good.String()}, "from-backup", "loaded the backup",
			"running the backup passgate.conf.bak from RAM: passgate.conf is invalid: interfaces lan address: not set; give the router's LAN address, e.g. set interfaces lan address 192.168.1.1/24 (and 1 more problem)"},
		{"UTF-16, good backup", map[string]string{board.ConfigFile: "\xff\xfes\x00e\x00t\x00", config.BackupName: good.String()}, "from-backup", "save it as UTF-8",
			"running the backup passgate.conf.bak from RAM: passgate.conf is saved as UTF-16 (little-endian, byte-order mark FF FE), which the router cannot read: save it as UTF-8 (in Notepad: File, Save As, Encoding UTF-8)"},
		{"fails validation, invalid backup", map[string]string{board.ConfigFile: invalid, config.BackupName: invalid}, "passgate", "factory configuration",
			"running the factory configuration (LAN eth0 192.168.1.1/24, WAN eth1 by dhcp) from RAM: the configuration on the boot partition cannot be used"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeBoot(t, c.files, nil)
			ch, err := f.prepare(qemuBoard.Name)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(ch.Config) != f.runDir || ch.StateDir != f.mountPoint || ch.Store != f.mountPoint || ch.NoSave != "" {
				t.Errorf("prepare = %+v; want the configuration in RAM, the state and the commits on the partition", ch)
			}
			if want := c.note + "; the next commit writes a new passgate.conf on the boot partition"; ch.Note != want {
				t.Errorf("Note:\ngot  %s\nwant %s", ch.Note, want)
			}
			conf, err := config.ReadFile(ch.Config)
			if err != nil {
				t.Fatal(err)
			}
			if conf.System.Hostname != c.hostname {
				t.Errorf("running hostname %q, want %q", conf.System.Hostname, c.hostname)
			}
			// Nothing on the partition changed.
			for name, data := range c.files {
				if b, err := os.ReadFile(filepath.Join(f.mountPoint, name)); err != nil || string(b) != data {
					t.Errorf("%s on the partition changed: %q, %v", name, b, err)
				}
			}
			ents, _ := os.ReadDir(f.mountPoint)
			if len(ents) != len(c.files) {
				t.Errorf("the partition holds %d files, want the %d it had", len(ents), len(c.files))
			}
			if !strings.Contains(f.logs.String(), c.log) {
				t.Errorf("console does not say %q:\n%s", c.log, f.logs.String())
			}

			// The first commit repairs the card: the next start runs the
			// partition's passgate.conf, and a good backup was kept.
			conf.System.Hostname = "committed"
			if err := config.NewStore(ch.Store).Save(conf); err != nil {
				t.Fatal(err)
			}
			if b, ok := c.files[config.BackupName]; ok && c.hostname == "from-backup" {
				if got, _ := os.ReadFile(filepath.Join(f.mountPoint, config.BackupName)); string(got) != b {
					t.Errorf("the commit replaced the good backup with %q", got)
				}
			}
			f.files = nil
			again, err := f.prepare(qemuBoard.Name)
			if err != nil {
				t.Fatal(err)
			}
			if again.Config != filepath.Join(f.mountPoint, board.ConfigFile) || again.Note != "" {
				t.Errorf("after the commit, prepare = %+v; want the partition's passgate.conf", again)
			}
		})
	}
}

// TestPrepareReadOnlyPartition: a write-protected card runs its
// configuration, but commits are refused with the reason.
func TestPrepareReadOnlyPartition(t *testing.T) {
	f := newFakeBoot(t, map[string]string{board.ConfigFile: factoryConfig(qemuBoard).String()}, nil)
	f.ro = true
	ch, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := Choice{Config: filepath.Join(f.mountPoint, board.ConfigFile), StateDir: f.mountPoint, Store: f.mountPoint,
		NoSave: "the configuration cannot be saved: the boot partition is read-only (a write-protected SD card); unlock the card and restart the router to commit"}
	if ch != want {
		t.Errorf("prepare = %+v\nwant %+v", ch, want)
	}
}

// TestPrepareHandEdit: a hand edit that kept the checksum lines runs from
// the partition (routerd's load says it was taken).
func TestPrepareHandEdit(t *testing.T) {
	dir := t.TempDir()
	c := factoryConfig(qemuBoard)
	if err := config.NewStore(dir).Save(c); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(filepath.Join(dir, board.ConfigFile))
	edited := strings.Replace(string(saved), "hostname passgate", "hostname edited", 1)
	if edited == string(saved) {
		edited = strings.Replace(string(saved), "set interfaces", "set system hostname edited\nset interfaces", 1)
	}
	f := newFakeBoot(t, map[string]string{board.ConfigFile: strings.ReplaceAll(edited, "\n", "\r\n")}, nil)
	ch, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Config != filepath.Join(f.mountPoint, board.ConfigFile) || ch.Note != "" {
		t.Fatalf("prepare = %+v; want the partition's file", ch)
	}
	l, err := config.NewStore(f.mountPoint).LoadInfo()
	if err != nil || !l.HandEdit || l.Config.System.Hostname != "edited" {
		t.Fatalf("load: %+v, %v", l, err)
	}
}

func TestPrepareNeedsFirmware(t *testing.T) {
	if _, err := Prepare("", t.Logf); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("Prepare outside the firmware: %v; want an error asking for --config", err)
	}
}
