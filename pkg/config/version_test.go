package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newerFile is a configuration as a later passgate (version
// FormatVersion+1) might save it: lines this version knows, a setting it
// does not know, and a value it does not know for a setting it knows.
func newerFile() string {
	return fmt.Sprintf(`# saved 2027-01-01T00:00:00Z
%s%d
set system hostname later
set interfaces lan device eth0
set interfaces lan address 192.168.7.1/24
set interfaces wan device eth1
set wifi ssid home
set nat hairpin sometimes
set passthrough pptp disable
`, versionPrefix, FormatVersion+1)
}

func TestSaveWritesTheVersion(t *testing.T) {
	s := NewStore(t.TempDir())
	if err := s.Save(Default()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(s.File())
	if !strings.Contains(string(b), fmt.Sprintf("\n%s%d\n", versionPrefix, FormatVersion)) {
		t.Fatalf("saved file has no version line:\n%s", b)
	}
	l, err := s.LoadInfo()
	if err != nil || l.Version != FormatVersion || l.Notice != "" || len(l.Ignored) != 0 {
		t.Fatalf("LoadInfo = %+v, %v", l, err)
	}
}

func TestOlderVersionRunsANewerFileWithoutWhatItDoesNotKnow(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir)
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(newerFile()), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := s.LoadInfo()
	if err != nil {
		t.Fatal(err)
	}
	if l.Fallback() || l.Version != FormatVersion+1 {
		t.Fatalf("loaded %s version %d, want passgate.conf version %d", l.File, l.Version, FormatVersion+1)
	}
	c := l.Config
	if c.System.Hostname != "later" || c.Passthrough.PPTP || !c.NAT.Hairpin || c.Interfaces.LAN.Address.String() != "192.168.7.1/24" {
		t.Errorf("the lines this version knows did not all apply: %q", c.Commands())
	}
	if len(l.Ignored) != 2 || l.Ignored[0].Line != 7 || l.Ignored[0].Text != "set wifi ssid home" || l.Ignored[1].Line != 8 {
		t.Fatalf("ignored %+v", l.Ignored)
	}
	for _, want := range []string{"saved by a newer passgate", "2 line(s)", `line 7 "set wifi ssid home"`, "the newer file stays as the backup"} {
		if !strings.Contains(l.Notice, want) {
			t.Errorf("notice %q lacks %q", l.Notice, want)
		}
	}
	// A commit from this version keeps the newer file as the backup.
	newer, _ := os.ReadFile(filepath.Join(dir, FileName))
	c.System.Hostname = "older"
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	if bak, _ := os.ReadFile(filepath.Join(dir, BackupName)); string(bak) != string(newer) {
		t.Errorf("the backup is not the newer file:\n%s", bak)
	}
	if l, _ := s.LoadInfo(); l.Version != FormatVersion || l.Notice != "" || l.Config.System.Hostname != "older" {
		t.Errorf("after the commit: %+v", l)
	}
}

func TestThisVersionDoesNotSkipLines(t *testing.T) {
	// The same unknown line in a file of this version is a mistake: the
	// file is not used (here: no other file, so no configuration).
	dir := t.TempDir()
	text := strings.Replace(newerFile(), fmt.Sprintf("%s%d", versionPrefix, FormatVersion+1), fmt.Sprintf("%s%d", versionPrefix, FormatVersion), 1)
	os.WriteFile(filepath.Join(dir, FileName), []byte(text), 0o644)
	if _, err := NewStore(dir).LoadInfo(); err == nil || !strings.Contains(err.Error(), `"wifi"`) {
		t.Fatalf("LoadInfo of a current-version file with an unknown line: %v", err)
	}
	// And a file without a version line is version 1.
	text = strings.Replace(text, fmt.Sprintf("%s%d\n", versionPrefix, FormatVersion), "", 1)
	if v, err := fileVersion(text); v != 1 || err != nil {
		t.Fatalf("fileVersion without the line = %d, %v", v, err)
	}
}

func TestVersionLineAndLimits(t *testing.T) {
	for _, bad := range []string{"x", "0", "-3", "99999999999"} {
		if _, _, err := decode([]byte(versionPrefix + bad + "\nset system hostname a\n")); err == nil || !errors.Is(err, ErrDamaged) {
			t.Errorf("version %q: %v", bad, err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d\nset system hostname a\n", versionPrefix, FormatVersion+1)
	for i := 0; i <= maxIgnored; i++ {
		fmt.Fprintf(&b, "set future thing%d\n", i)
	}
	if _, _, err := decode([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "not understood") {
		t.Errorf("a 'newer' file of unknown lines only: %v", err)
	}
}

func TestNewerFileFailedLineLeavesNothingBehind(t *testing.T) {
	// A list's limit is checked after the entry is added: the line that
	// fails must not leave its entry.
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d\n", versionPrefix, FormatVersion+1)
	for i := 1; i <= maxDNS+1; i++ {
		fmt.Fprintf(&b, "set dhcp-server lan dns 10.0.0.%d\n", i)
	}
	c, info, err := decode([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DHCPServer.LAN.DNS) != maxDNS || len(info.ignored) != 1 {
		t.Fatalf("dns %v, ignored %v", c.DHCPServer.LAN.DNS, info.ignored)
	}
}

func TestMigrationsRunInOrder(t *testing.T) {
	saved := migrations
	defer func() { migrations = saved }()
	migrations = map[int]func(string) (string, error){
		1: func(s string) (string, error) {
			return strings.ReplaceAll(s, "set nat loopback", "set nat hairpin"), nil
		},
		2: func(s string) (string, error) { return strings.ReplaceAll(s, "hairpin off", "hairpin disable"), nil },
		3: func(s string) (string, error) {
			if strings.Contains(s, "broken") {
				return "", errors.New("cannot rewrite a broken line")
			}
			return s, nil
		},
	}
	got, err := migrate("set nat loopback off\n", 1, 3)
	if err != nil || got != "set nat hairpin disable\n" {
		t.Fatalf("migrate 1→3 = %q, %v", got, err)
	}
	if c, err := Parse(got); err != nil || c.NAT.Hairpin {
		t.Fatalf("the migrated text: %v", err)
	}
	if got, _ := migrate("set nat loopback off\n", 2, 3); got != "set nat loopback off\n" {
		t.Errorf("a version 2 file ran the 1→2 migration: %q", got)
	}
	if _, err := migrate("broken\n", 1, 4); err == nil || !strings.Contains(err.Error(), "version 3 to 4") {
		t.Errorf("failing migration: %v", err)
	}
}
