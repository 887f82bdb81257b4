package config

import (
	"fmt"
	"strconv"
)

// startOnly are the settings routerd plumbs when it starts (self0 and
// its address, the rings and MTUs, the WAN client, the SSH listener): a
// commit saves a change to one of them, and it takes effect at the next
// start. Everything else applies at once.
var startOnly = []struct {
	path  string                 // the set command's path
	get   func(*Config) string   // the value as the shell prints it
	take  func(dst, src *Config) // copy the setting from src
	until string                 // what holds until the restart (%s: the running value)
}{
	{"interfaces lan device", func(c *Config) string { return c.Interfaces.LAN.Device },
		func(d, s *Config) { d.Interfaces.LAN.Device = s.Interfaces.LAN.Device }, "the LAN stays on %s"},
	{"interfaces lan address", func(c *Config) string { return c.Interfaces.LAN.Address.String() },
		func(d, s *Config) { d.Interfaces.LAN.Address = s.Interfaces.LAN.Address }, "the router keeps %s on the LAN"},
	{"interfaces lan mtu", func(c *Config) string { return strconv.Itoa(c.Interfaces.LAN.MTU) },
		func(d, s *Config) { d.Interfaces.LAN.MTU = s.Interfaces.LAN.MTU }, "the LAN MTU stays %s"},
	{"interfaces wan device", func(c *Config) string { return c.Interfaces.WAN.Device },
		func(d, s *Config) { d.Interfaces.WAN.Device = s.Interfaces.WAN.Device }, "the WAN stays on %s"},
	{"interfaces wan mtu", func(c *Config) string { return strconv.Itoa(c.Interfaces.WAN.MTU) },
		func(d, s *Config) { d.Interfaces.WAN.MTU = s.Interfaces.WAN.MTU }, "the WAN MTU stays %s"},
	{"interfaces wan mode", func(c *Config) string { return string(c.Interfaces.WAN.Mode) },
		func(d, s *Config) { d.Interfaces.WAN.Mode = s.Interfaces.WAN.Mode }, "the WAN stays in mode %s"},
	{"service ssh port", func(c *Config) string { return strconv.Itoa(c.Service.SSH.Port) },
		func(d, s *Config) { d.Service.SSH.Port = s.Service.SSH.Port },
		"SSH, and its forward from the WAN, stay on port %s"},
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
func RestartNotes(running, old, c *Config) []string {
	var out []string
	for _, s := range startOnly {
		v, run := s.get(c), s.get(running)
		if v == run || (old != nil && s.get(old) == v) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s takes effect after a restart (\"reboot\"); until then %s",
			s.path, v, fmt.Sprintf(s.until, run)))
	}
	return out
}
