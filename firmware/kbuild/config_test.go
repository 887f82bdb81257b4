package kbuild

import (
	"reflect"
	"strings"
	"testing"

	"github.com/passgate/passgate/board"
)

func TestUnmet(t *testing.T) {
	for _, tc := range []struct {
		name             string
		fragment, config string
		want             []string
	}{
		{"all held", "CONFIG_A=y\nCONFIG_B=m\nCONFIG_S=\"x\"\n# CONFIG_C is not set\nCONFIG_D=n\n",
			"CONFIG_A=y\nCONFIG_B=m\nCONFIG_S=\"x\"\n# CONFIG_C is not set\n", nil},
		{"dropped for a missing dependency", "CONFIG_A=y\nCONFIG_STRONG=y\n",
			"CONFIG_A=y\n# CONFIG_STRONG is not set\n", []string{"CONFIG_STRONG=y asked for, CONFIG_STRONG=n made"}},
		{"absent from .config", "CONFIG_X=y\n", "CONFIG_A=y\n", []string{"CONFIG_X=y asked for, CONFIG_X=n made"}},
		{"module made built in", "CONFIG_M=m\n", "CONFIG_M=y\n", []string{"CONFIG_M=m asked for, CONFIG_M=y made"}},
		{"off but made on", "CONFIG_D=n\n# CONFIG_E is not set\n", "CONFIG_D=y\nCONFIG_E=y\n",
			[]string{"CONFIG_D=n asked for, CONFIG_D=y made", "CONFIG_E=n asked for, CONFIG_E=y made"}},
		{"string value", "CONFIG_S=\"ascii\"\n", "CONFIG_S=\"iso8859-1\"\n", []string{"CONFIG_S=\"ascii\" asked for, CONFIG_S=\"iso8859-1\" made"}},
		{"in the fragment's order", "CONFIG_Z=y\nCONFIG_A=y\n", "", []string{"CONFIG_Z=y asked for, CONFIG_Z=n made", "CONFIG_A=y asked for, CONFIG_A=n made"}},
		{"comments and blank lines", "# a comment\n\n  CONFIG_A=y  \n", "CONFIG_A=y\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unmet([]byte(tc.fragment), []byte(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Unmet = %q, want %q", got, tc.want)
			}
		})
	}
}

// A line that is neither an option nor a comment is an error naming it:
// a typo must not pass as nothing.
func TestUnmetRejectsWhatIsNotAnOption(t *testing.T) {
	for _, bad := range []string{"VIRTIO_NET=y", "CONFIG_A y", "config_a=y", "CONFIG_A"} {
		_, err := Unmet([]byte("CONFIG_B=y\n"+bad+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("fragment line %q: err %v, want one naming line 2", bad, err)
		}
	}
	if _, err := Unmet(make([]byte, maxConfig+1), nil); err == nil {
		t.Error("an oversized fragment was read")
	}
}

// Every board's own kernel fragment parses, sets its release's suffix and
// keeps the on-demand modules modules. (That the boot modules are built
// in, the firmware's initramfs test checks on the built kernel.)
func TestBoardFragments(t *testing.T) {
	for _, b := range board.All() {
		if b.KernelConfig == "" {
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			text, err := b.KernelConfigText()
			if err != nil {
				t.Fatal(err)
			}
			opts, err := parseConfig(text)
			if err != nil {
				t.Fatal(err)
			}
			if got := opts["CONFIG_LOCALVERSION"]; got != `"`+board.BuiltKernelSuffix+`"` {
				t.Errorf("CONFIG_LOCALVERSION=%s, want %q (board.BuiltKernelSuffix)", got, board.BuiltKernelSuffix)
			}
			if opts["CONFIG_MODULES"] != "y" {
				t.Error("CONFIG_MODULES is not y: the on-demand modules need it")
			}
			for _, o := range []string{"CONFIG_NET_SCH_INGRESS", "CONFIG_NET_CLS_BPF"} {
				if opts[o] != "m" {
					t.Errorf("%s=%s: the on-demand modules stay modules (board.OnDemandModules)", o, opts[o])
				}
			}
		})
	}
}

func TestCacheKeyNamesEveryInput(t *testing.T) {
	s := Spec{SourceID: "linux-source-6.1=6.1.176-1", Config: []byte("CONFIG_A=y\n"), Release: "6.1.176-passgate", Arch: "arm64"}
	base := cacheKey(s, "gcc 12")
	for name, change := range map[string]func(*Spec, *string){
		"source":   func(s *Spec, _ *string) { s.SourceID = "linux-source-6.1=6.1.192-3" },
		"fragment": func(s *Spec, _ *string) { s.Config = []byte("CONFIG_A=m\n") },
		"release":  func(s *Spec, _ *string) { s.Release = "6.1.176-other" },
		"compiler": func(_ *Spec, c *string) { *c = "gcc 13" },
	} {
		s2, c := s, "gcc 12"
		change(&s2, &c)
		if cacheKey(s2, c) == base {
			t.Errorf("a changed %s keeps the cache key", name)
		}
	}
}
