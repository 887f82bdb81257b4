package peertext

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"Login ok", 128, "Login ok"},
		{"\x1b[2Jbad\r\n", 128, "?[2Jbad??"},
		{"caf\xc3\xa9", 128, "caf??"},
		{strings.Repeat("a", 300), 128, strings.Repeat("a", 128)},
		{"", 128, ""},
	} {
		if got := Clean([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
