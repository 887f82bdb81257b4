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
		logf: func(format string, args ...any) { fmt.Fprintf(&f.logs, format+"\n", args...) },
	}
	return f
}

var qemuBoard, _ = board.Get("qemu-arm64")

func TestPrepareRunsThePartitionsConfiguration(t *testing.T) {
	conf := factoryConfig(qemuBoard).String()
	f := newFakeBoot(t, map[string]string{board.ConfigFile: conf}, nil)
	cfg, state, err := f.prepare(qemuBoard.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != filepath.Join(f.mountPoint, board.ConfigFile) || state != f.mountPoint {
		t.Errorf("prepare = %s, %s; want the partition's configuration and state", cfg, state)
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
			cfg, state, err := f.prepare(name)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(cfg) != f.runDir || state != f.runDir {
				t.Errorf("prepare = %s, %s; want both in RAM (%s)", cfg, state, f.runDir)
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
	cfg, _, err := f.prepare("no-such-board")
	if err != nil {
		t.Fatal(err)
	}
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

func TestPrepareBadConfigurationIsLeftAlone(t *testing.T) {
	good := factoryConfig(qemuBoard)
	good.System.Hostname = "from-backup"
	invalid := "set interfaces lan device eth0\nset interfaces wan device eth0\n"
	cases := []struct {
		name     string
		files    map[string]string
		hostname string // of the configuration run
		log      string
	}{
		{"missing", map[string]string{"readme.txt": "x"}, "passgate", "has no passgate.conf"},
		{"invalid line", map[string]string{board.ConfigFile: "set interfaces lan adress 1.2.3.4/24\n"}, "passgate", "cannot be used"},
		{"fails validation", map[string]string{board.ConfigFile: invalid}, "passgate", "is invalid"},
		{"damaged, good backup", map[string]string{board.ConfigFile: "", config.BackupName: good.String()}, "from-backup", "loaded the backup"},
		{"missing, good backup", map[string]string{config.BackupName: good.String()}, "from-backup", "is missing"},
		{"fails validation, good backup", map[string]string{board.ConfigFile: invalid, config.BackupName: good.String()}, "from-backup", "running the backup"},
		{"fails validation, invalid backup", map[string]string{board.ConfigFile: invalid, config.BackupName: invalid}, "passgate", "factory configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeBoot(t, c.files, nil)
			cfg, state, err := f.prepare(qemuBoard.Name)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(cfg) != f.runDir || state != f.mountPoint {
				t.Errorf("prepare = %s, %s; want the configuration in RAM and the state on the partition", cfg, state)
			}
			conf, err := config.ReadFile(cfg)
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
		})
	}
}

func TestPrepareNeedsFirmware(t *testing.T) {
	if _, _, err := Prepare("", t.Logf); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("Prepare outside the firmware: %v; want an error asking for --config", err)
	}
}
