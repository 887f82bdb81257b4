package aptsources

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Sample files; the hosts are neutral examples.
const (
	oneLine = `# Debian, one-line style
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian/ bookworm main contrib
deb-src http://src.example/debian bookworm main
deb http://mirror.example/debian bookworm-updates main # trailing comment
#deb http://old.example/debian bookworm main
deb [ arch=amd64 ] http://sec.example/debian-security bookworm-security main non-free-firmware
`
	deb822 = `Types: deb deb-src
# a comment inside the stanza
URIs: http://mirror.example/debian http://second.example/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

types: deb
uris: http://sec.example/debian-security/
suites: bookworm-security
components: main
`
	disabled = `Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no
`
	// A third-party repository: its suite is another one, and its key
	// is inline (a multi-line field).
	thirdParty = `Types: deb
URIs: https://vendor.example/node_20.x
Suites: nodistro
Components: main
Architectures: amd64
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBFAKE
 -----END PGP PUBLIC KEY BLOCK-----
`
	// A third-party repository for the same suite, without main.
	docker = "deb [arch=amd64] https://vendor.example/linux/debian bookworm stable\n"
)

func TestDebian(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string // relative to the root
		security bool
		archive  []string
		sec      string
		err      string // part of the error, "" for none
	}{
		{name: "one-line sources.list",
			files:   map[string]string{ListFile: oneLine},
			archive: []string{"http://mirror.example/debian"}, sec: "http://sec.example/debian-security", security: true},
		{name: "deb822 with several URIs, disabled stanza and third parties",
			files: map[string]string{
				PartsDir + "/debian.sources":  deb822,
				PartsDir + "/a-off.sources":   disabled,
				PartsDir + "/node.sources":    thirdParty,
				PartsDir + "/docker.list":     docker,
				PartsDir + "/x.list.disabled": "deb http://ignored.example/debian bookworm main\n",
				PartsDir + "/x.sources.bak":   "garbage",
			},
			archive: []string{"http://mirror.example/debian", "http://second.example/debian"}, sec: "http://sec.example/debian-security", security: true},
		{name: "sources.list comes first, then the parts in name order",
			files: map[string]string{
				ListFile:                "deb http://first.example/debian bookworm main\n",
				PartsDir + "/b.list":    "deb http://third.example/debian bookworm main\n",
				PartsDir + "/a.sources": "Types: deb\nURIs: http://second.example/debian\nSuites: bookworm\nComponents: main\n",
			},
			archive: []string{"http://first.example/debian", "http://second.example/debian", "http://third.example/debian"}},
		{name: "no security mirror, not needed",
			files:   map[string]string{ListFile: "deb http://mirror.example/debian bookworm main\n"},
			archive: []string{"http://mirror.example/debian"}},
		{name: "no security mirror, needed",
			files:    map[string]string{ListFile: "deb http://mirror.example/debian bookworm main\n"},
			security: true,
			err:      "deb <your Debian security mirror URI> bookworm-security main"},
		{name: "only other suites and disabled entries",
			files: map[string]string{
				ListFile:                   "# deb http://mirror.example/debian bookworm main\ndeb http://mirror.example/debian trixie main\n",
				PartsDir + "/off.sources":  disabled,
				PartsDir + "/node.sources": thirdParty,
				PartsDir + "/docker.list":  docker,
			},
			err: "no Debian mirror for bookworm was found in /etc/apt/sources.list or /etc/apt/sources.list.d/"},
		{name: "no apt configuration at all",
			files: nil,
			err:   "deb <your Debian mirror URI> bookworm main\nto /etc/apt/sources.list"},
		{name: "malformed one-line entry",
			files: map[string]string{ListFile: "deb http://mirror.example/debian bookworm main\ndeb [arch=amd64 http://x.example/debian\n"},
			err:   "etc/apt/sources.list:2: options without ]"},
		{name: "malformed deb822 stanza",
			files: map[string]string{PartsDir + "/d.sources": "Types: deb\nSuites: bookworm\n\nTypes: deb\nURIs: http://x.example/debian\nSuites: bookworm\nComponents: main\n"},
			err:   "etc/apt/sources.list.d/d.sources:1: a stanza needs Types, URIs and Suites"},
		{name: "bad Enabled value",
			files: map[string]string{PartsDir + "/d.sources": "Types: deb\nURIs: http://x.example/debian\nSuites: bookworm\nComponents: main\nEnabled: maybe\n"},
			err:   "neither yes nor no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, data := range tt.files {
				p := filepath.Join(root, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m, err := Debian(root, "bookworm", tt.security)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Archive, tt.archive) || m.Security != tt.sec {
				t.Errorf("got %q, %q; want %q, %q", m.Archive, m.Security, tt.archive, tt.sec)
			}
		})
	}
}

// Every field of an entry is read, in both formats.
func TestParseFields(t *testing.T) {
	srcs, err := ParseOneLine("l", oneLine)
	if err != nil || len(srcs) != 4 {
		t.Fatalf("one-line: %d entries, %v", len(srcs), err)
	}
	s := srcs[0]
	if s.Type != "deb" || s.URI != "http://mirror.example/debian/" || s.Suite != "bookworm" || !slices.Equal(s.Components, []string{"main", "contrib"}) ||
		s.Options["arch"] != "amd64" || s.Options["signed-by"] != "/usr/share/keyrings/debian-archive-keyring.gpg" || s.Line != 2 {
		t.Errorf("one-line entry %+v", s)
	}
	if srcs[1].Type != "deb-src" {
		t.Errorf("second entry %+v", srcs[1])
	}
	srcs, err = ParseDeb822("s", deb822+"\n"+thirdParty)
	// 2 types x 2 URIs x 2 suites, the security stanza, the third party.
	if err != nil || len(srcs) != 10 {
		t.Fatalf("deb822: %d entries, %v", len(srcs), err)
	}
	if s := srcs[9]; s.URI != "https://vendor.example/node_20.x" || s.Options["architectures"] != "amd64" ||
		!strings.HasPrefix(s.Options["signed-by"], "\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n.\nmQINBFAKE") || s.Line != 13 {
		t.Errorf("third-party stanza %+v", s)
	}
	if s := srcs[8]; s.URI != "http://sec.example/debian-security/" || s.Suite != "bookworm-security" || s.Line != 8 {
		t.Errorf("lower-case field names: %+v", s)
	}
	// A flat repository ("suite" ending in /) needs no component.
	if srcs, err := ParseOneLine("l", "deb http://flat.example/repo ./\n"); err != nil || len(srcs) != 1 || srcs[0].Suite != "./" {
		t.Errorf("flat repository: %+v %v", srcs, err)
	}
}
