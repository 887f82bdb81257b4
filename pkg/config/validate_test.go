package config

import (
	"reflect"
	"strings"
	"testing"
)

// validBase is a configuration that validates without errors or warnings.
func validBase(t *testing.T) *Config {
	t.Helper()
	c := Default()
	if err := c.Set([]string{"service", "ssh", "authorized-key", "admin", keyLaptop}); err != nil {
		t.Fatal(err)
	}
	return c
}

func issueStrings(is []Issue) []string {
	var out []string
	for _, i := range is {
		out = append(out, i.String())
	}
	return out
}

func TestValidateBaseIsClean(t *testing.T) {
	errs, warns := validBase(t).Validate()
	if len(errs) != 0 || len(warns) != 0 {
		t.Fatalf("errors %v, warnings %v", errs, warns)
	}
	errs, warns = Default().Validate()
	if len(errs) != 0 || len(warns) != 1 || !strings.HasPrefix(warns[0].String(), "service ssh: has no authorized-key") {
		t.Fatalf("Default(): errors %v, warnings %v; want only the login warning", errs, warns)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		lines  string // applied to validBase
		delete string // deleted from validBase first
		errs   []string
		warns  []string
	}{
		{name: "lan not configured", delete: "interfaces lan",
			errs: []string{
				"interfaces lan device: not set; name the LAN port, e.g. set interfaces lan device eth0",
				"interfaces lan address: not set; give the router's LAN address, e.g. set interfaces lan address 192.168.1.1/24",
				"dhcp-server lan range: needs interfaces lan address to be set first",
			}},
		{name: "dns host outside the domain", lines: "set dns host nas.example.com address 192.168.1.5",
			errs: []string{"dns host nas.example.com: is not under the local domain lan; use a single name (it becomes nas.lan)"}},
		{name: "dns host under the domain", lines: "set dns domain home.arpa\nset dns host nas.home.arpa address 192.168.1.5"},
		{name: "dns upstream is the router", lines: "set dns upstream 192.168.1.1",
			errs: []string{"dns upstream: 192.168.1.1 is the router itself; name the servers the router should ask, e.g. 9.9.9.9"}},
		{name: "dns forwarder off with hosts", lines: "set dns forwarder disable\nset dns upstream 9.9.9.9",
			warns: []string{"dns forwarder: the forwarder is disabled, so dns upstream and dns host entries have no effect"}},
		{name: "wan device missing", delete: "interfaces wan device",
			errs: []string{"interfaces wan device: not set; name the WAN port, e.g. set interfaces wan device eth1"}},
		{name: "same device", lines: "set interfaces wan device eth0",
			errs: []string{"interfaces wan device: eth0 is also the LAN device; LAN and WAN need different ports"}},
		{name: "dhcp range outside subnet", lines: "set dhcp-server lan range 192.168.1.100 192.168.2.10",
			errs: []string{"dhcp-server lan range: 192.168.2.10 is outside the LAN subnet 192.168.1.0/24; use addresses from 192.168.1.1 to 192.168.1.254"}},
		{name: "dhcp range on broadcast", lines: "set dhcp-server lan range 192.168.1.100 192.168.1.255",
			errs: []string{"dhcp-server lan range: 192.168.1.255 is the broadcast address of the LAN subnet 192.168.1.0/24; use addresses from 192.168.1.1 to 192.168.1.254"}},
		{name: "dhcp range reversed", lines: "set dhcp-server lan range 192.168.1.199 192.168.1.100",
			errs: []string{"dhcp-server lan range: is reversed: 192.168.1.199 comes after 192.168.1.100; give the lower address first (range 192.168.1.100 192.168.1.199)"}},
		{name: "dhcp range holds router", lines: "set dhcp-server lan range 192.168.1.1 192.168.1.50",
			errs: []string{"dhcp-server lan range: includes the router's own address 192.168.1.1; the range must leave it out, e.g. start after it"}},
		{name: "dhcp settings without range", delete: "dhcp-server lan range",
			warns: []string{"dhcp-server lan range: not set, so the DHCP server is off and the other dhcp-server lan settings are unused; e.g. set dhcp-server lan range 192.168.1.100 192.168.1.199"}},
		{name: "static outside subnet", lines: "set dhcp-server lan static a mac 02:00:00:00:00:01 ip 10.0.0.5",
			errs: []string{"dhcp-server lan static a: ip 10.0.0.5 is outside the LAN subnet 192.168.1.0/24; use an address from 192.168.1.1 to 192.168.1.254"}},
		{name: "static is router", lines: "set dhcp-server lan static a mac 02:00:00:00:00:01 ip 192.168.1.1",
			errs: []string{"dhcp-server lan static a: ip 192.168.1.1 is the router's own address; use another address from 192.168.1.1 to 192.168.1.254"}},
		{name: "static duplicate mac and ip", lines: "set dhcp-server lan static a mac 02:00:00:00:00:01 ip 192.168.1.5\nset dhcp-server lan static b mac 02:00:00:00:00:01 ip 192.168.1.5",
			errs: []string{
				"dhcp-server lan static b: mac 02:00:00:00:00:01 is already used by static a; each host needs exactly one entry",
				"dhcp-server lan static b: ip 192.168.1.5 is already given to static a; each host needs its own address",
			}},
		{name: "static incomplete", lines: "set dhcp-server lan static a ip 192.168.1.5\nset dhcp-server lan static b mac 02:00:00:00:00:02",
			errs: []string{
				"dhcp-server lan static a: has no mac; add it: set dhcp-server lan static a mac aa:bb:cc:dd:ee:ff",
				"dhcp-server lan static b: has no ip; add it: set dhcp-server lan static b ip A.B.C.D",
			}},
		{name: "forward target outside subnet", lines: "set nat port-forward web protocol tcp port 80 to 10.9.9.9",
			errs: []string{"nat port-forward web: to 10.9.9.9 is outside the LAN subnet 192.168.1.0/24; forward to a LAN host from 192.168.1.1 to 192.168.1.254"}},
		{name: "forward to router", lines: "set nat port-forward web protocol tcp port 80 to 192.168.1.1",
			errs: []string{"nat port-forward web: to 192.168.1.1 is the router's own address; forward to a LAN host from 192.168.1.1 to 192.168.1.254"}},
		{name: "forward incomplete", lines: "set nat port-forward web port 80",
			errs: []string{
				"nat port-forward web: has no protocol; add protocol tcp, udp or tcp-udp",
				"nat port-forward web: has no to; add the LAN host, e.g. to 192.168.1.10",
			}},
		{name: "forward missing port", lines: "set nat port-forward web protocol udp to 192.168.1.10",
			errs: []string{"nat port-forward web: has no port; add the external port, e.g. port 8080 or port 8000-8010"}},
		{name: "forward range lengths differ", lines: "set nat port-forward g protocol udp port 8000-8010 to 192.168.1.10 port 9000-9005",
			errs: []string{"nat port-forward g: external port 8000-8010 has 11 ports but internal port 9000-9005 has 6; both ranges must have the same length"}},
		{name: "forward overlap same protocol", lines: "set nat port-forward a protocol tcp port 8000-8010 to 192.168.1.10\nset nat port-forward b protocol tcp-udp port 8010 to 192.168.1.11",
			errs: []string{"nat port-forward b: tcp-udp port 8010 overlaps port-forward a (tcp port 8000-8010); an external port can go to one host only, so choose ports that do not overlap"}},
		{name: "forward same port other protocol is fine", lines: "set nat port-forward a protocol tcp port 53 to 192.168.1.10\nset nat port-forward b protocol udp port 53 to 192.168.1.11"},
		{name: "forward hides ssh on wan", lines: "set service ssh listen wan\nset nat port-forward a protocol tcp port 20-30 to 192.168.1.10",
			errs: []string{"nat port-forward a: external tcp port 22 is used by service ssh (listen wan); choose another port, or set service ssh listen lan"}},
		{name: "wan static without address and gateway", lines: "set interfaces wan mode static\nset interfaces wan dns 9.9.9.9",
			errs: []string{
				"interfaces wan address: mode static needs an address; e.g. set interfaces wan address 203.0.113.2/24",
				"interfaces wan gateway: mode static needs a gateway; e.g. set interfaces wan gateway 203.0.113.1",
			}},
		{name: "wan gateway outside subnet", lines: "set interfaces wan mode static\nset interfaces wan address 203.0.113.2/24\nset interfaces wan gateway 198.51.100.1\nset interfaces wan dns 9.9.9.9",
			errs: []string{"interfaces wan gateway: 198.51.100.1 is outside the WAN subnet 203.0.113.0/24; use an address from 203.0.113.1 to 203.0.113.254"}},
		{name: "wan gateway is self", lines: "set interfaces wan mode static\nset interfaces wan address 203.0.113.2/24\nset interfaces wan gateway 203.0.113.2\nset interfaces wan dns 9.9.9.9",
			errs: []string{"interfaces wan gateway: 203.0.113.2 is the router's own WAN address; give the ISP's gateway, an address from 203.0.113.1 to 203.0.113.254"}},
		{name: "wan static without dns", lines: "set interfaces wan mode static\nset interfaces wan address 203.0.113.2/24\nset interfaces wan gateway 203.0.113.1",
			warns: []string{"interfaces wan dns: mode static has no dns server, so the router cannot resolve names; add e.g. set interfaces wan dns 9.9.9.9"}},
		{name: "lan and wan overlap", lines: "set interfaces wan mode static\nset interfaces wan address 192.168.0.2/16\nset interfaces wan gateway 192.168.0.1\nset interfaces wan dns 9.9.9.9",
			errs: []string{"interfaces wan address: subnet 192.168.0.0/16 overlaps the LAN subnet 192.168.1.0/24; LAN and WAN subnets must be disjoint, so change one of them"}},
		{name: "static settings in dhcp mode", lines: "set interfaces wan address 203.0.113.2/24\nset interfaces wan gateway 203.0.113.1\nset interfaces wan dns 9.9.9.9",
			warns: []string{
				"interfaces wan address: is ignored in mode dhcp (the ISP's DHCP server provides it); delete it or set interfaces wan mode static",
				"interfaces wan gateway: is ignored in mode dhcp (the ISP's DHCP server provides it); delete it or set interfaces wan mode static",
				"interfaces wan dns: is ignored in mode dhcp (the ISP's DHCP server provides it); delete it or set interfaces wan mode static",
			}},
		{name: "dmz outside subnet", lines: "set nat dmz 10.0.0.20",
			errs: []string{"nat dmz: 10.0.0.20 is outside the LAN subnet 192.168.1.0/24; give a LAN host from 192.168.1.1 to 192.168.1.254"}},
		{name: "dmz is network address", lines: "set nat dmz 192.168.1.0",
			errs: []string{"nat dmz: 192.168.1.0 is the network address of the LAN subnet 192.168.1.0/24; give a LAN host from 192.168.1.1 to 192.168.1.254"}},
		{name: "dmz is router", lines: "set nat dmz 192.168.1.1",
			errs: []string{"nat dmz: 192.168.1.1 is the router's own address; give a LAN host from 192.168.1.1 to 192.168.1.254"}},
		{name: "timeouts below the RFC floors", lines: "set nat timeout udp 119\nset nat timeout tcp-established 7439\nset nat timeout tcp-transitory 239\nset nat timeout icmp 59",
			warns: []string{
				"nat timeout udp: 119 seconds is below the 120 seconds that RFC 4787 REQ-5 (UDP mappings) requires; use 120 or more",
				"nat timeout tcp-established: 7439 seconds is below the 7440 seconds that RFC 5382 REQ-5 (established TCP, 2 h 4 min) requires; use 7440 or more",
				"nat timeout tcp-transitory: 239 seconds is below the 240 seconds that RFC 5382 REQ-5 (transitory TCP, 4 min) requires; use 240 or more",
				"nat timeout icmp: 59 seconds is below the 60 seconds that RFC 5508 REQ-2 (ICMP query sessions) requires; use 60 or more",
			}},
		{name: "timeouts at the RFC floors", lines: "set nat timeout udp 120\nset nat timeout tcp-established 7440\nset nat timeout tcp-transitory 240\nset nat timeout icmp 60\nset nat timeout gre 1\nset nat timeout esp 1"},
		{name: "mss above wan mtu", lines: "set interfaces wan mtu 1400\nset nat mss-clamp 1400",
			warns: []string{"nat mss-clamp: 1400 is more than the WAN MTU 1400 allows (1360); use 1360 or less, or auto"}},
		{name: "ipsec options while disabled", lines: "set passthrough ipsec disable\nset passthrough ipsec ike-share-port enable",
			warns: []string{"passthrough ipsec: is disabled, so esp-mode and ike-share-port have no effect; set passthrough ipsec enable to use them"}},
		{name: "no way to log in", delete: "service ssh authorized-key",
			warns: []string{`service ssh: has no authorized-key and system admin has no password-hash, so nobody can log in over SSH (the serial console still works); add e.g. set service ssh authorized-key laptop "ssh-ed25519 AAAA... you@laptop"`}},
		{name: "password instead of key", delete: "service ssh authorized-key", lines: `set system admin password-hash "` + hash6 + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase(t)
			if tt.delete != "" {
				if err := c.Delete(strings.Fields(tt.delete)); err != nil {
					t.Fatal(err)
				}
			}
			for _, l := range strings.Split(tt.lines, "\n") {
				if l == "" {
					continue
				}
				toks, _ := Tokenize(l)
				var w []string
				for _, tok := range toks[1:] {
					w = append(w, tok.Text)
				}
				if err := c.Set(w); err != nil {
					t.Fatalf("%s: %v", l, err)
				}
			}
			errs, warns := c.Validate()
			if got := issueStrings(errs); !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("errors:\ngot  %q\nwant %q", got, tt.errs)
			}
			if got := issueStrings(warns); !reflect.DeepEqual(got, tt.warns) {
				t.Errorf("warnings:\ngot  %q\nwant %q", got, tt.warns)
			}
		})
	}
}

// A hash that cannot verify (a Config built in Go; the parser refuses
// them) does not hide the "nobody can log in" warning.
func TestUnverifiableHashStillWarns(t *testing.T) {
	for _, h := range []string{"", "$1$y4t6wp8Z$FDTWkZkwqnlrv3xTORg2Y/", "$y$j9T$broken", "hunter2", hash6} {
		c := validBase(t)
		if err := c.Delete([]string{"service", "ssh", "authorized-key"}); err != nil {
			t.Fatal(err)
		}
		c.System.Admin.PasswordHash = h
		_, warns := c.Validate()
		warned := strings.Contains(strings.Join(issueStrings(warns), "\n"), "nobody can log in over SSH")
		if want := h != hash6; warned != want {
			t.Errorf("hash %q: warned %v, want %v", h, warned, want)
		}
	}
}
