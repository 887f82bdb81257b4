package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestMACFilterValidation(t *testing.T) {
	for _, tt := range []struct {
		name, lines string
		err, warn   string // a substring of the one error or warning ("" none)
	}{
		{"off", "", "", ""},
		{"deny one", "set firewall mac-filter mode deny\nset firewall mac-filter device tv mac 02:11:22:33:44:55", "", ""},
		{"allow one", "set firewall mac-filter mode allow\nset firewall mac-filter device pc mac 02:11:22:33:44:55", "", ""},
		{"allow none", "set firewall mac-filter mode allow", "firewall mac-filter mode: allow with no device listed would shut every LAN device out", ""},
		{"deny none", "set firewall mac-filter mode deny", "", "firewall mac-filter mode: deny with no device listed blocks nothing"},
		{"list while off", "set firewall mac-filter device tv mac 02:11:22:33:44:55", "", "the list has no effect while the mode is off"},
		{"twice", "set firewall mac-filter mode deny\nset firewall mac-filter device tv mac 02:11:22:33:44:55\nset firewall mac-filter device tv2 mac 02:11:22:33:44:55",
			"firewall mac-filter device tv2: mac 02:11:22:33:44:55 is already device tv", ""},
		{"static not allowed", "set firewall mac-filter mode allow\nset firewall mac-filter device pc mac 02:11:22:33:44:55\nset dhcp-server lan static nas mac 02:00:00:00:00:09\nset dhcp-server lan static nas ip 192.168.1.9",
			"", "dhcp-server lan static nas: mac 02:00:00:00:00:09 is not in the mac-filter allow list"},
	} {
		c := Default()
		for _, l := range strings.Split(tt.lines, "\n") {
			if l == "" {
				continue
			}
			if err := c.Set(strings.Fields(strings.TrimPrefix(l, "set "))); err != nil {
				t.Fatalf("%s: %s: %v", tt.name, l, err)
			}
		}
		errs, all := c.Validate()
		var warns []Issue
		for _, w := range all {
			if !strings.HasPrefix(w.Path, "service ssh") { // the default configuration's own
				warns = append(warns, w)
			}
		}
		check := func(what string, got []Issue, want string) {
			if want == "" && len(got) > 0 || want != "" && (len(got) != 1 || !strings.Contains(got[0].String(), want)) {
				t.Errorf("%s: %s %q, want %q", tt.name, what, got, want)
			}
		}
		check("errors", errs, tt.err)
		check("warnings", warns, tt.warn)
	}
	c := Default()
	c.Firewall.MACFilter = MACFilter{Mode: MACFilterDeny, Devices: []MACDevice{{Name: "tv"}}}
	if errs, _ := c.Validate(); len(errs) != 1 || !strings.Contains(errs[0].String(), "firewall mac-filter device tv: has no mac") {
		t.Errorf("a device without a mac: %q", errs)
	}
	c.Firewall.MACFilter.Devices = nil
	for i := 0; i <= MaxMACDevices; i++ {
		c.Firewall.MACFilter.Devices = append(c.Firewall.MACFilter.Devices, MACDevice{Name: fmt.Sprintf("d%03d", i), MAC: MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}})
	}
	if errs, _ := c.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Msg, "513 devices; at most 512") {
		t.Errorf("too many devices: %q", errs)
	}
}

func TestMACFilterBlocks(t *testing.T) {
	listed, other := MAC{2, 1, 1, 1, 1, 1}, MAC{2, 2, 2, 2, 2, 2}
	for _, tt := range []struct {
		mode                    MACFilterMode
		blockListed, blockOther bool
	}{{MACFilterOff, false, false}, {"", false, false}, {MACFilterAllow, false, true}, {MACFilterDeny, true, false}} {
		f := MACFilter{Mode: tt.mode, Devices: []MACDevice{{"x", listed}}}
		if f.Blocks(listed) != tt.blockListed || f.Blocks(other) != tt.blockOther {
			t.Errorf("mode %q: blocks listed %v, other %v", tt.mode, f.Blocks(listed), f.Blocks(other))
		}
	}
}
