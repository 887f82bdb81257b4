package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16Bytes(s string, bigEndian, mark bool) []byte {
	var out []byte
	units := utf16.Encode([]rune(s))
	if mark {
		units = append([]uint16{0xfeff}, units...)
	}
	for _, u := range units {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

const fallbackTail = "; loaded the backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) instead. Check it and commit to write a new passgate.conf."

// TestLoadVariants: passgate.conf as a PC leaves it. Line ends and a
// byte-order mark change nothing; a hand edit that kept the checksum
// lines is taken when it reads and validates; anything else falls back to
// the backup with a message that says what is wrong and what to do.
func TestLoadVariants(t *testing.T) {
	older, old := configNamed(t, "older"), configNamed(t, "old")
	_, s0 := storeWith(t, older, old)
	saved, _ := s0.fs.ReadFile(FileName)
	text := string(saved)
	crlf := strings.ReplaceAll(text, "\n", "\r\n")
	edited := strings.Replace(text, "hostname old", "hostname edited", 1)
	handNotice := "passgate.conf was edited by hand after it was saved at 2026-01-02T03:06:05Z: its checksum no longer matches, but it reads and validates, so the edited configuration is running. The backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) is kept as it was. Commit to store it with a new checksum."
	cut := strings.LastIndex(text, "set dhcp-server lan dns")

	tests := []struct {
		name     string
		data     []byte
		hostname string // of the configuration loaded
		handEdit bool
		notice   string
	}{
		{"as saved", saved, "old", false, ""},
		{"CRLF", []byte(crlf), "old", false, ""},
		{"CR (classic Mac)", []byte(strings.ReplaceAll(text, "\n", "\r")), "old", false, ""},
		{"BOM", append([]byte("\xef\xbb\xbf"), saved...), "old", false, ""},
		{"BOM and CRLF", []byte("\ufeff" + crlf), "old", false, ""},
		{"no final newline", saved[:len(saved)-1], "old", false, ""},
		{"blank lines after the trailer", []byte(text + "\n\r\n  \n"), "old", false, ""},
		{"edited, stale checksum", []byte(edited), "edited", true, handNotice},
		{"edited, stale checksum, CRLF and BOM", []byte("\ufeff" + strings.ReplaceAll(edited, "\n", "\r\n")), "edited", true, handNotice},
		{"edited, line added", []byte(text[:cut] + "set nat dmz 192.168.1.7\n" + text[cut:]), "old", true, handNotice},
		{"edited, invalid", []byte(strings.Replace(text, "wan device eth1", "wan device eth0", 1)), "older", false,
			"passgate.conf is a hand edit (its checksum no longer matches) that is invalid: interfaces wan device: eth0 is also the LAN device; LAN and WAN need different ports" + fallbackTail},
		{"edited, typo", []byte(strings.Replace(text, "hostname old", "hostname -old", 1)), "older", false,
			`passgate.conf is damaged: the sha256 checksum does not match and line 5, column 21: "-old" is not a hostname; use letters, digits and '-' (not first or last), e.g. passgate (the file was corrupted, or edited by hand with a mistake)` + fallbackTail},
		{"edited, all set lines deleted", []byte(savedPrefix + "2026-01-02T03:06:05Z\n" + checkedLine + "\n" + text[strings.Index(text, trailerPrefix):]), "older", false,
			"passgate.conf is damaged: the sha256 checksum does not match and the file holds no set command (the file was truncated or corrupted)" + fallbackTail},
		{"hand-written, invalid", []byte("set system hostname x\n"), "older", false,
			"passgate.conf is invalid: interfaces lan device: not set; name the LAN port, e.g. set interfaces lan device eth0 (and 2 more problems)" + fallbackTail},
		{"UTF-16LE with BOM", utf16Bytes(text, false, true), "older", false,
			"passgate.conf is saved as UTF-16 (little-endian, byte-order mark FF FE), which the router cannot read: save it as UTF-8 (in Notepad: File, Save As, Encoding UTF-8)" + fallbackTail},
		{"UTF-16BE with BOM", utf16Bytes(text, true, true), "older", false,
			"passgate.conf is saved as UTF-16 (big-endian, byte-order mark FE FF), which the router cannot read: save it as UTF-8 (in Notepad: File, Save As, Encoding UTF-8)" + fallbackTail},
		{"UTF-16LE without BOM", utf16Bytes(text, false, false), "older", false,
			"passgate.conf is saved as UTF-16 (little-endian, every other byte is NUL), which the router cannot read: save it as UTF-8 (in Notepad: File, Save As, Encoding UTF-8)" + fallbackTail},
		{"UTF-16BE without BOM", utf16Bytes(text, true, false), "older", false,
			"passgate.conf is saved as UTF-16 (big-endian, every other byte is NUL), which the router cannot read: save it as UTF-8 (in Notepad: File, Save As, Encoding UTF-8)" + fallbackTail},
		{"over-size", append(bytes.Repeat([]byte("# padding padding padding\n"), MaxFileSize/26+1), saved...), "older", false,
			"passgate.conf is too large: the file is larger than 1048576 bytes (1 MiB), the most a configuration file may hold" + fallbackTail},
		{"truncated in a line", []byte(text[:cut+10]), "older", false,
			`passgate.conf is damaged: the file ends in the middle of line 10 and the "# sha256" line at the end is missing (the file was truncated)` + fallbackTail},
		{"truncated at a line end", []byte(text[:cut]), "older", false,
			`passgate.conf is damaged: the "# sha256" line at the end is missing (the file was truncated; to edit the file by hand, keep both checksum lines or delete both)` + fallbackTail},
		{"line over the limit", []byte(text[:cut] + "# " + strings.Repeat("x", MaxLine) + "\n" + text[cut:]), "older", false,
			"passgate.conf is damaged: the sha256 checksum does not match and line 10, column 4097: the line is longer than 4096 bytes, the most one line may hold (the file was corrupted, or edited by hand with a mistake)" + fallbackTail},
		{"hand-written, line over the limit", []byte(Default().String() + "# " + strings.Repeat("é", MaxLine) + "\n"), "older", false,
			"passgate.conf is damaged: line 7, column 2050: the line is longer than 4096 bytes, the most one line may hold" + fallbackTail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := storeWith(t, older, old)
			m.live[FileName].data = tt.data
			l, err := s.LoadInfo()
			if err != nil {
				t.Fatal(err)
			}
			if l.Config.System.Hostname != tt.hostname {
				t.Errorf("loaded %q from %s, want %q", l.Config.System.Hostname, l.File, tt.hostname)
			}
			if l.HandEdit != tt.handEdit || l.Fallback() != (tt.hostname == "older") {
				t.Errorf("HandEdit %v, Fallback %v (file %s)", l.HandEdit, l.Fallback(), l.File)
			}
			if l.Notice != tt.notice {
				t.Errorf("notice:\ngot  %s\nwant %s", l.Notice, tt.notice)
			}
			if l.Fallback() != (l.Problem != nil) {
				t.Errorf("Problem %v with file %s", l.Problem, l.File)
			}
		})
	}
}

// TestHandEditThenCommit: the first commit after a hand edit stores the
// new configuration with a fresh checksum, and the hand-edited one becomes
// the backup and revision 1 (the configuration it replaced).
func TestHandEditThenCommit(t *testing.T) {
	m, s := storeWith(t, configNamed(t, "older"), configNamed(t, "old"))
	m.live[FileName].data = bytes.Replace(m.live[FileName].data, []byte("hostname old"), []byte("hostname edited"), 1)
	if err := s.Save(configNamed(t, "new")); err != nil {
		t.Fatal(err)
	}
	l, err := s.LoadInfo()
	if err != nil || l.Notice != "" || l.Config.System.Hostname != "new" {
		t.Fatalf("after the commit: %v, %q, %v", l.Config, l.Notice, err)
	}
	if r, err := s.Revision(1); err != nil || r.System.Hostname != "edited" {
		t.Fatalf("Revision(1) = %v, %v; want the hand edit", r, err)
	}
	if bak, _, err := decode(m.live[BackupName].data); err != nil || bak.System.Hostname != "edited" {
		t.Fatalf("backup %v, %v; want the hand edit", bak, err)
	}
}

// TestSaveOverInvalidKeepsBackup: a passgate.conf that reads but does not
// validate is not the configuration in use, so a commit (which repairs it)
// keeps the good backup instead of replacing it with the invalid file.
func TestSaveOverInvalidKeepsBackup(t *testing.T) {
	m, s := storeWith(t, configNamed(t, "a"), configNamed(t, "b"))
	bak := bytes.Clone(m.live[BackupName].data)
	m.live[FileName].data = []byte("set system hostname lonely\n")
	if err := s.Save(configNamed(t, "c")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.live[BackupName].data, bak) {
		t.Fatal("the backup was replaced by the invalid passgate.conf")
	}
}

// TestReadFileVariants: routerd --config FILE reads files the same way,
// and never reads more than MaxFileSize+1 bytes of one.
func TestReadFileVariants(t *testing.T) {
	dir := t.TempDir()
	c := configNamed(t, "disk")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stored := encode(c, testStore(newMemFS()).Now())
	for name, data := range map[string][]byte{
		"crlf.conf": bytes.ReplaceAll(stored, []byte("\n"), []byte("\r\n")),
		"bom.conf":  append([]byte("\xef\xbb\xbf"), stored...),
		"cr.conf":   bytes.ReplaceAll(stored, []byte("\n"), []byte("\r")),
	} {
		if got, err := ReadFile(write(name, data)); err != nil || !got.Equal(c) {
			t.Errorf("%s: %v", name, err)
		}
	}
	big := write("big.conf", append(bytes.Repeat([]byte("#\n"), MaxFileSize), stored...))
	_, err := ReadFile(big)
	if !errors.Is(err, ErrTooLarge) || err.Error() != "config: "+big+": too large: the file is larger than 1048576 bytes (1 MiB), the most a configuration file may hold" {
		t.Errorf("big file: %v", err)
	}
	data, err := DirFS(dir).ReadFile("big.conf")
	if err != nil || len(data) != MaxFileSize+1 {
		t.Errorf("DirFS.ReadFile of a big file read %d bytes, %v; want %d", len(data), err, MaxFileSize+1)
	}
	if _, err := ReadFile(write("utf16.conf", utf16Bytes(string(stored), false, true))); !errors.Is(err, ErrNotUTF8) {
		t.Errorf("UTF-16 file: %v", err)
	}
}

// TestUTF16Detection: UTF-16 is recognised by its mark or its NULs, never
// in UTF-8 text or a zero-filled file (a damaged file, said as such).
func TestUTF16Detection(t *testing.T) {
	for _, tt := range []struct {
		data []byte
		want string
	}{
		{[]byte("set system hostname x\n"), ""},
		{make([]byte, 300), ""},
		{[]byte("s\x00"), ""},
		{utf16Bytes("set système hostname x\n", false, false), "UTF-16 (little-endian, every other byte is NUL)"},
		{utf16Bytes("set system hostname x\n", true, false), "UTF-16 (big-endian, every other byte is NUL)"},
		{[]byte{0xff, 0xfe}, "UTF-16 (little-endian, byte-order mark FF FE)"},
	} {
		if got := utf16Kind(tt.data); got != tt.want {
			t.Errorf("utf16Kind(%q) = %q, want %q", tt.data, got, tt.want)
		}
	}
}
