package config

import (
	"slices"
	"testing"
)

// TestConsoleLogin: "system console login enable" without a password hash
// is allowed (the console must stay usable) but warned about.
func TestConsoleLogin(t *testing.T) {
	const warning = `system console login: enabled, but system admin has no password-hash, so the console stays open; set one, e.g. set system admin password-hash "$6$..." (from mkpasswd -m sha-512)`
	for _, c := range []struct {
		name  string
		lines []string
		warn  bool
	}{
		{"default: open console", nil, false},
		{"login without a hash", []string{"system console login enable"}, true},
		{"login with a hash", []string{"system console login enable", `system admin password-hash "` + hash6 + `"`}, false},
		{"login disabled", []string{"system console login disable"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := validBase(t)
			for _, l := range c.lines {
				toks, _ := Tokenize(l)
				if err := cfg.Set(tokenTexts(toks)); err != nil {
					t.Fatal(err)
				}
			}
			errs, warns := cfg.Validate()
			if len(errs) > 0 || slices.Contains(issueStrings(warns), warning) != c.warn {
				t.Errorf("errors %v, warnings %v; want the console warning: %v", errs, warns, c.warn)
			}
		})
	}
}
