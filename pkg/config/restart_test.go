package config

import (
	"slices"
	"strings"
	"testing"
)

func TestRestartNotes(t *testing.T) {
	running := Default()
	with := func(lines ...string) *Config {
		c := Default()
		for _, l := range lines {
			if err := c.Set(strings.Fields(l)); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	cases := []struct {
		name       string
		old, c     *Config
		notes      []string
		restart    bool
		liveDiffer []string // what Running keeps from running
	}{
		{"nothing that needs a restart", running, with("nat hairpin disable", "service ssh listen wan"), nil, false, nil},
		{"the LAN address", running, with("interfaces lan address 192.168.2.1/24"),
			[]string{`interfaces lan address 192.168.2.1/24 takes effect after a restart ("reboot"); until then the router keeps 192.168.1.1/24 on the LAN`},
			true, []string{"- set interfaces lan address 192.168.2.1/24"}},
		{"the SSH port", running, with("service ssh port 2222", "service ssh listen wan"),
			[]string{`service ssh port 2222 takes effect after a restart ("reboot"); until then SSH, and its forward from the WAN, stay on port 22`},
			true, []string{"- set service ssh port 2222"}},
		{"ports, MTU and WAN mode", running, with("interfaces lan device eth9", "interfaces wan mtu 1492", "interfaces wan mode static"),
			[]string{`interfaces lan device eth9 takes effect after a restart ("reboot"); until then the LAN stays on eth0`,
				`interfaces wan mtu 1492 takes effect after a restart ("reboot"); until then the WAN MTU stays 1500`,
				`interfaces wan mode static takes effect after a restart ("reboot"); until then the WAN stays in mode dhcp`},
			true, []string{"- set interfaces lan device eth9", "- set interfaces wan mode static", "- set interfaces wan mtu 1492"}},
		{"said once: a later commit that changes something else", with("interfaces lan address 192.168.2.1/24"),
			with("interfaces lan address 192.168.2.1/24", "nat hairpin disable"), nil, true, []string{"- set interfaces lan address 192.168.2.1/24"}},
		{"changed back before the restart", with("interfaces lan address 192.168.2.1/24"), running, nil, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RestartNotes(running, c.old, c.c); !slices.Equal(got, c.notes) {
				t.Errorf("RestartNotes:\n%q\nwant\n%q", got, c.notes)
			}
			if got := NeedsRestart(running, c.c); got != c.restart {
				t.Errorf("NeedsRestart = %v, want %v", got, c.restart)
			}
			live := Running(running, c.c)
			var kept []string
			for _, l := range Diff(c.c, live) {
				if strings.HasPrefix(l, "- ") {
					kept = append(kept, l)
				}
			}
			if !slices.Equal(kept, c.liveDiffer) {
				t.Errorf("Running differs from the commit in %q, want %q", kept, c.liveDiffer)
			}
			if NeedsRestart(running, live) {
				t.Error("what runs needs a restart")
			}
		})
	}
}
