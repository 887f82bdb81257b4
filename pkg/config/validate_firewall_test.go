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

func TestRuleICMPType(t *testing.T) {
	for _, tt := range []struct {
		name, lines string
		print       string // the printed rule line for icmp-type ("" when the set fails)
		setErr      string // a substring of the set's error
		err, warn   string // a substring of the one error or warning of Validate
	}{
		{"name", "set firewall rule r icmp-type echo-request", "icmp-type echo-request", "", "", ""},
		{"with icmp", "set firewall rule r protocol icmp\nset firewall rule r icmp-type time-exceeded", "icmp-type time-exceeded", "", "", ""},
		{"upper case", "set firewall rule r icmp-type Echo-Reply", "icmp-type echo-reply", "", "", ""},
		{"american", "set firewall rule r icmp-type neighbor-solicitation", "icmp-type neighbour-solicitation", "", "", "matches nothing: the router always lets IPv6 neighbour discovery"},
		{"packet too big", "set firewall rule r icmp-type packet-too-big", "icmp-type packet-too-big", "", "", "matches only IPv4 messages of this type"},
		{"v4 number", "set firewall rule r icmp-type v4:013", "icmp-type v4:13", "", "", ""},
		{"v6 number", "set firewall rule r icmp-type v6:128", "icmp-type v6:128", "", "", ""},
		{"number out of range", "set firewall rule r icmp-type v4:256", "", "the type number is 0-255", "", ""},
		{"bare number", "set firewall rule r icmp-type 8", "", `"8" is not an ICMP type; use echo-request`, "", ""},
		{"unknown", "set firewall rule r icmp-type ping", "", "or a number as v4:N (ICMP) or v6:N (ICMPv6)", "", ""},
		{"with tcp", "set firewall rule r protocol tcp\nset firewall rule r icmp-type echo-request", "icmp-type echo-request", "",
			"icmp-type echo-request needs protocol icmp (or none: icmp-type implies it), not tcp", ""},
		{"with tcp-udp", "set firewall rule r protocol tcp-udp\nset firewall rule r icmp-type echo-request", "icmp-type echo-request", "", "not tcp-udp", ""},
	} {
		c := Default()
		var setErr error
		for _, l := range strings.Split(tt.lines, "\n") {
			if err := c.Set(strings.Fields(strings.TrimPrefix(l, "set "))); err != nil {
				setErr = err
			}
		}
		if tt.setErr != "" {
			if setErr == nil || !strings.Contains(setErr.Error(), tt.setErr) {
				t.Errorf("%s: set error %v, want %q", tt.name, setErr, tt.setErr)
			}
			continue
		}
		if setErr != nil {
			t.Fatalf("%s: %v", tt.name, setErr)
		}
		if err := c.Set([]string{"firewall", "rule", "r", "action", "drop"}); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(c.Commands(), "\n")
		if !strings.Contains(text, " "+tt.print+" ") {
			t.Errorf("%s: printed\n%s\nwant %q in it", tt.name, text, tt.print)
		}
		back := mustParse(t, text)
		if back.Firewall.Rules[0] != c.Firewall.Rules[0] {
			t.Errorf("%s: round trip %+v, want %+v", tt.name, back.Firewall.Rules[0], c.Firewall.Rules[0])
		}
		errs, all := c.Validate()
		var warns []Issue
		for _, w := range all {
			if !strings.HasPrefix(w.Path, "service ssh") {
				warns = append(warns, w)
			}
		}
		for _, x := range []struct {
			what string
			got  []Issue
			want string
		}{{"errors", errs, tt.err}, {"warnings", warns, tt.warn}} {
			if x.want == "" && len(x.got) > 0 || x.want != "" && (len(x.got) != 1 || !strings.Contains(x.got[0].String(), x.want)) {
				t.Errorf("%s: %s %q, want %q", tt.name, x.what, x.got, x.want)
			}
		}
	}
	for _, tt := range []struct {
		t             ICMPType
		v4, code4, v6 int
	}{
		{"echo-request", 8, -1, 128}, {"echo-reply", 0, -1, 129}, {"packet-too-big", 3, 4, 2},
		{"timestamp-request", 13, -1, -1}, {"neighbour-advertisement", -1, -1, 136}, {"v4:13", 13, -1, -1}, {"v6:1", -1, -1, 1},
	} {
		if v4, c4, v6, ok := tt.t.Types(); !ok || v4 != tt.v4 || c4 != tt.code4 || v6 != tt.v6 {
			t.Errorf("%s: %d/%d %d %v, want %d/%d %d", tt.t, v4, c4, v6, ok, tt.v4, tt.code4, tt.v6)
		}
	}
}
