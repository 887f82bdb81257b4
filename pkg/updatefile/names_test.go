package updatefile

import (
	"regexp"
	"strings"
	"testing"
)

// The names' rules, as regular expressions: the oracle for the written-out
// checks.
var (
	fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	wordRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`)
)

func TestNamesMatchTheirRules(t *testing.T) {
	for _, s := range []string{
		"", "a", "A", "0", "initramfs.cpio.gz", "rockpi-e", "v1.2.3~rc1", "1.0+deb12u3",
		".hidden", "-x", "~x", "_x", "a/b", "a b", "a\x00", "a\n", "é", "a~b", "a_b",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "a" + strings.Repeat(".", 63), "a" + strings.Repeat(".", 64),
	} {
		if got, want := isFileName(s), fileNameRE.MatchString(s); got != want {
			t.Errorf("isFileName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isWord(s), wordRE.MatchString(s); got != want {
			t.Errorf("isWord(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzNames(f *testing.F) {
	f.Add("initramfs.cpio.gz")
	f.Add("v1.2.3~rc1")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isFileName(s), fileNameRE.MatchString(s); got != want {
			t.Fatalf("isFileName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isWord(s), wordRE.MatchString(s); got != want {
			t.Fatalf("isWord(%q) = %v, want %v", s, got, want)
		}
	})
}
