package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// startOnly are the settings routerd plumbs when it starts (self0 and
// its address, the rings and MTUs, the WAN clients, IPv6 on both sides,
// the SSH listener, flow offload): a commit saves a change to one of them, and it takes
// effect at the next start. Everything else applies at once.
var startOnly = []struct {
	path  string                      // the set command's path
	get   func(*Config) string        // the value as the shell prints it; "" when unset
	take  func(dst, src *Config)      // copy the setting from src
	until func(running string) string // what holds until the restart
}{
	{"interfaces lan device", func(c *Config) string { return c.Interfaces.LAN.Device },
		func(d, s *Config) { d.Interfaces.LAN.Device = s.Interfaces.LAN.Device }, untilf("the LAN stays on %s")},
	{"interfaces lan address", func(c *Config) string { return c.Interfaces.LAN.Address.String() },
		func(d, s *Config) { d.Interfaces.LAN.Address = s.Interfaces.LAN.Address }, untilf("the router keeps %s on the LAN")},
	{"interfaces lan mtu", func(c *Config) string { return strconv.Itoa(c.Interfaces.LAN.MTU) },
		func(d, s *Config) { d.Interfaces.LAN.MTU = s.Interfaces.LAN.MTU }, untilf("the LAN MTU stays %s")},
	{"interfaces wan device", func(c *Config) string { return c.Interfaces.WAN.Device },
		func(d, s *Config) { d.Interfaces.WAN.Device = s.Interfaces.WAN.Device }, untilf("the WAN stays on %s")},
	{"interfaces wan mtu", func(c *Config) string { return strconv.Itoa(c.Interfaces.WAN.MTU) },
		func(d, s *Config) { d.Interfaces.WAN.MTU = s.Interfaces.WAN.MTU }, untilf("the WAN MTU stays %s")},
	{"interfaces wan mode", func(c *Config) string { return string(c.Interfaces.WAN.Mode) },
		func(d, s *Config) { d.Interfaces.WAN.Mode = s.Interfaces.WAN.Mode }, untilf("the WAN stays in mode %s")},
	{"interfaces wan vlan", func(c *Config) string {
		if c.Interfaces.WAN.VLAN.ID == 0 {
			return ""
		}
		return fmt.Sprintf("%d priority %d", c.Interfaces.WAN.VLAN.ID, c.Interfaces.WAN.VLAN.Priority)
	},
		func(d, s *Config) { d.Interfaces.WAN.VLAN = s.Interfaces.WAN.VLAN },
		untilUnset("the WAN stays on VLAN %s", "the WAN stays untagged")},
	// The PPPoE client as a whole; the value compared holds the password,
	// so the message does not print it.
	{"interfaces wan pppoe", func(c *Config) string {
		p := c.Interfaces.WAN.PPPoE
		if p == New().Interfaces.WAN.PPPoE {
			return ""
		}
		return fmt.Sprintf("%q %q %q %q %v %v %d", p.Username, p.Password, p.ServiceName, p.ACName, p.Jumbo, p.EchoInterval, p.EchoFailures)
	},
		func(d, s *Config) { d.Interfaces.WAN.PPPoE = s.Interfaces.WAN.PPPoE },
		func(string) string { return "the PPPoE client keeps its running settings" }},
	// Flow offload: routerd attaches the tc programs to the ports when a
	// worker starts (router.go, startFlowOffload).
	{"system flow-offload", func(c *Config) string { return switchWord(c.System.FlowOffload) },
		func(d, s *Config) { d.System.FlowOffload = s.System.FlowOffload },
		func(run string) string { return "flow offload to the kernel stays " + run + "d" }},
	{"service ssh port", func(c *Config) string { return strconv.Itoa(c.Service.SSH.Port) },
		func(d, s *Config) { d.Service.SSH.Port = s.Service.SSH.Port },
		untilf("SSH, and its forward from the WAN, stay on port %s")},

	// IPv6 on the LAN.
	{"interfaces lan ipv6", func(c *Config) string { return switchWord(!c.Interfaces.LAN.IPv6.Disabled) },
		func(d, s *Config) { d.Interfaces.LAN.IPv6.Disabled = s.Interfaces.LAN.IPv6.Disabled },
		func(run string) string { return "IPv6 on the LAN stays " + run + "d" }},
	{"interfaces lan ipv6 ula", func(c *Config) string { return ulaText(c.Interfaces.LAN.IPv6) },
		func(d, s *Config) {
			d.Interfaces.LAN.IPv6.ULA, d.Interfaces.LAN.IPv6.NoULA = s.Interfaces.LAN.IPv6.ULA, s.Interfaces.LAN.IPv6.NoULA
		},
		func(run string) string {
			switch run {
			case "":
				return "the LAN keeps the generated unique local prefix"
			case "disable":
				return "the LAN has no unique local prefix"
			}
			return "the LAN keeps the unique local prefix " + run
		}},
	{"interfaces lan ipv6 subnet-id", func(c *Config) string { return strconv.Itoa(c.Interfaces.LAN.IPv6.SubnetID) },
		func(d, s *Config) { d.Interfaces.LAN.IPv6.SubnetID = s.Interfaces.LAN.IPv6.SubnetID },
		untilf("the LAN keeps the /64s of subnet id %s")},
	{"interfaces lan ipv6 dns", func(c *Config) string { return addrsText(c.Interfaces.LAN.IPv6.DNS) },
		func(d, s *Config) { d.Interfaces.LAN.IPv6.DNS = slices.Clone(s.Interfaces.LAN.IPv6.DNS) },
		untilUnset("LAN hosts are told of the DNS servers %s", "LAN hosts are told of the WAN's DNS servers")},
	{"interfaces lan ipv6 domain", func(c *Config) string { return c.Interfaces.LAN.IPv6.Domain },
		func(d, s *Config) { d.Interfaces.LAN.IPv6.Domain = s.Interfaces.LAN.IPv6.Domain },
		untilUnset("LAN hosts are told of the domain %s", "LAN hosts are told of no domain")},

	// IPv6 on the WAN.
	{"interfaces wan ipv6 mode", func(c *Config) string { return string(c.Interfaces.WAN.IPv6.Mode) },
		func(d, s *Config) { d.Interfaces.WAN.IPv6.Mode = s.Interfaces.WAN.IPv6.Mode }, untilf("WAN IPv6 stays in mode %s")},
	{"interfaces wan ipv6 prefix-length", func(c *Config) string { return strconv.Itoa(c.Interfaces.WAN.IPv6.PrefixLength) },
		func(d, s *Config) { d.Interfaces.WAN.IPv6.PrefixLength = s.Interfaces.WAN.IPv6.PrefixLength },
		untilf("the router keeps asking for a /%s")},
	{"interfaces wan ipv6 address", func(c *Config) string { return prefixText(c.Interfaces.WAN.IPv6.Address) },
		func(d, s *Config) { d.Interfaces.WAN.IPv6.Address = s.Interfaces.WAN.IPv6.Address },
		untilUnset("the WAN keeps the IPv6 address %s", "the WAN has no static IPv6 address")},
	{"interfaces wan ipv6 gateway", func(c *Config) string { return addrText(c.Interfaces.WAN.IPv6.Gateway) },
		func(d, s *Config) { d.Interfaces.WAN.IPv6.Gateway = s.Interfaces.WAN.IPv6.Gateway },
		untilUnset("the IPv6 gateway stays %s", "there is no static IPv6 gateway")},
	{"interfaces wan ipv6 prefix", func(c *Config) string { return prefixText(c.Interfaces.WAN.IPv6.Prefix) },
		func(d, s *Config) { d.Interfaces.WAN.IPv6.Prefix = s.Interfaces.WAN.IPv6.Prefix },
		untilUnset("the LAN is numbered from %s", "there is no static prefix")},
	{"interfaces wan ipv6 dns", func(c *Config) string { return addrsText(c.Interfaces.WAN.IPv6.DNS) },
		func(d, s *Config) { d.Interfaces.WAN.IPv6.DNS = slices.Clone(s.Interfaces.WAN.IPv6.DNS) },
		untilUnset("the static IPv6 DNS servers stay %s", "there are no static IPv6 DNS servers")},
}

// untilf says what holds until the restart: format with the running value.
func untilf(format string) func(string) string {
	return func(run string) string { return fmt.Sprintf(format, run) }
}

// untilUnset is untilf with another text for an unset running value.
func untilUnset(format, unset string) func(string) string {
	return func(run string) string {
		if run == "" {
			return unset
		}
		return fmt.Sprintf(format, run)
	}
}

func switchWord(on bool) string {
	if on {
		return "enable"
	}
	return "disable"
}

func ulaText(l LANIPv6) string {
	switch {
	case l.NoULA:
		return "disable"
	case l.ULA.IsValid():
		return l.ULA.String()
	}
	return ""
}

func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func addrsText(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

// Running returns what a router started with running runs once c is
// committed: c, with the settings that take effect only at start taken
// from running.
func Running(running, c *Config) *Config {
	live := c.Clone()
	for _, s := range startOnly {
		s.take(live, running)
	}
	return live
}

// NeedsRestart reports whether c holds a setting that takes effect only
// at start and differs from running.
func NeedsRestart(running, c *Config) bool {
	for _, s := range startOnly {
		if s.get(running) != s.get(c) {
			return true
		}
	}
	return false
}

// RestartNotes says, one line each, which settings of c take effect only
// after a restart: those that differ from running and that the commit
// from old to c changed (old nil: every one that differs from running).
// hiddenValues are start-only settings whose value holds a secret: the
// notes say that they changed, never what to.
var hiddenValues = map[string]bool{"interfaces wan pppoe": true}

func RestartNotes(running, old, c *Config) []string {
	var out []string
	for _, s := range startOnly {
		v, run := s.get(c), s.get(running)
		if v == run || (old != nil && s.get(old) == v) {
			continue
		}
		what := s.path + " " + v
		if hiddenValues[s.path] {
			what = "changing " + s.path
		}
		if v == "" {
			what = "deleting " + s.path
		}
		out = append(out, fmt.Sprintf("%s takes effect after a restart (\"reboot\"); until then %s", what, s.until(run)))
	}
	return out
}
