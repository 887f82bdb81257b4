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
		{"IPv6 on both sides", running, with("interfaces lan ipv6 disable", "interfaces wan ipv6 mode static", "interfaces wan ipv6 prefix 2600:1:2:100::/56"),
			[]string{`interfaces lan ipv6 disable takes effect after a restart ("reboot"); until then IPv6 on the LAN stays enabled`,
				`interfaces wan ipv6 mode static takes effect after a restart ("reboot"); until then WAN IPv6 stays in mode dhcpv6-pd`,
				`interfaces wan ipv6 prefix 2600:1:2:100::/56 takes effect after a restart ("reboot"); until then there is no static prefix`},
			true, []string{"- set interfaces lan ipv6 disable", "- set interfaces wan ipv6 mode static", "- set interfaces wan ipv6 prefix 2600:1:2:100::/56"}},
		{"the LAN's ULA, subnet and what RAs say", running, with("interfaces lan ipv6 ula fd12:3456:789a::/48", "interfaces lan ipv6 subnet-id 0x1f",
			"interfaces lan ipv6 dns fd12:3456:789a::1", "interfaces lan ipv6 dns 2620:fe::fe", "interfaces lan ipv6 domain home.arpa"),
			[]string{`interfaces lan ipv6 ula fd12:3456:789a::/48 takes effect after a restart ("reboot"); until then the LAN keeps the generated unique local prefix`,
				`interfaces lan ipv6 subnet-id 31 takes effect after a restart ("reboot"); until then the LAN keeps the /64s of subnet id 0`,
				`interfaces lan ipv6 dns fd12:3456:789a::1 2620:fe::fe takes effect after a restart ("reboot"); until then LAN hosts are told of the WAN's DNS servers`,
				`interfaces lan ipv6 domain home.arpa takes effect after a restart ("reboot"); until then LAN hosts are told of no domain`},
			true, []string{"- set interfaces lan ipv6 ula fd12:3456:789a::/48", "- set interfaces lan ipv6 subnet-id 31",
				"- set interfaces lan ipv6 dns fd12:3456:789a::1", "- set interfaces lan ipv6 dns 2620:fe::fe", "- set interfaces lan ipv6 domain home.arpa"}},
		{"the firewall applies at once", running, with("firewall ipv6 allow ssh protocol tcp port 22 to 2600:1:2:3::10", "firewall ipv6 inbound-ping disable", "firewall ipv6 inbound-ipsec disable"),
			nil, false, nil},
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

// TestRestartNotesDeleted: deleting a start-only setting says so, and what
// holds until the restart.
func TestRestartNotesDeleted(t *testing.T) {
	running := Default()
	for _, l := range []string{"interfaces lan ipv6 ula fd12:3456:789a::/48", "interfaces lan ipv6 domain home.arpa",
		"interfaces wan ipv6 mode static", "interfaces wan ipv6 gateway fe80::1", "interfaces wan ipv6 prefix-length 60"} {
		if err := running.Set(strings.Fields(l)); err != nil {
			t.Fatal(err)
		}
	}
	c := running.Clone()
	for _, l := range []string{"interfaces lan ipv6 domain", "interfaces wan ipv6 gateway", "interfaces wan ipv6 prefix-length"} {
		if err := c.Delete(strings.Fields(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(strings.Fields("interfaces lan ipv6 ula disable")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`interfaces lan ipv6 ula disable takes effect after a restart ("reboot"); until then the LAN keeps the unique local prefix fd12:3456:789a::/48`,
		`deleting interfaces lan ipv6 domain takes effect after a restart ("reboot"); until then LAN hosts are told of the domain home.arpa`,
		`interfaces wan ipv6 prefix-length 56 takes effect after a restart ("reboot"); until then the router keeps asking for a /60`,
		`deleting interfaces wan ipv6 gateway takes effect after a restart ("reboot"); until then the IPv6 gateway stays fe80::1`,
	}
	if got := RestartNotes(running, running, c); !slices.Equal(got, want) {
		t.Errorf("RestartNotes:\n%q\nwant\n%q", got, want)
	}
	if live := Running(running, c); !live.Equal(running) {
		t.Errorf("Running keeps %q", Diff(running, live))
	}
}

// TestIPv6StartOnly: every interfaces lan/wan ipv6 statement is taken at
// start (its change needs a restart and Running keeps the running value);
// every firewall statement (ipv6, mac-filter) applies at once. A statement added to the
// schema is covered through leafSamples.
func TestIPv6StartOnly(t *testing.T) {
	running := Default()
	n := 0
	for path, line := range leafSamples {
		start := strings.HasPrefix(path, "interfaces lan ipv6") || strings.HasPrefix(path, "interfaces wan ipv6")
		live := strings.HasPrefix(path, "firewall ")
		if !start && !live {
			continue
		}
		n++
		c := Default()
		if err := c.Set(strings.Fields(strings.TrimPrefix(line, "set "))); err != nil {
			t.Fatal(err)
		}
		if got := NeedsRestart(running, c); got != start {
			t.Errorf("%s: NeedsRestart = %v, want %v", line, got, start)
		}
		if got := Running(running, c).Equal(running); got != start {
			t.Errorf("%s: Running is the running config: %v, want %v", line, got, start)
		}
		if notes := RestartNotes(running, nil, c); (len(notes) == 1) != start {
			t.Errorf("%s: notes %q", line, notes)
		}
	}
	if n != 29 {
		t.Errorf("%d IPv6 and firewall statements checked, want 29", n)
	}
}

func TestFlowOffloadNeedsRestart(t *testing.T) {
	run := New()
	c := run.Clone()
	c.System.FlowOffload = true
	if !NeedsRestart(run, c) {
		t.Fatal("system flow-offload enable: NeedsRestart false")
	}
	if Running(run, c).System.FlowOffload {
		t.Fatal("Running took flow-offload from the new configuration, not from running")
	}
	notes := RestartNotes(run, nil, c)
	if len(notes) != 1 || !strings.Contains(notes[0], "system flow-offload enable takes effect after a restart") || !strings.Contains(notes[0], "stays disabled") {
		t.Fatalf("notes %q", notes)
	}
}
