package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/packet"
)

// TestIPv6Defaults: the defaults the brief fixes, and that none of them
// is printed.
func TestIPv6Defaults(t *testing.T) {
	c := New()
	want := struct {
		lan LANIPv6
		wan WANIPv6
		fw  FirewallIPv6
	}{LANIPv6{}, WANIPv6{Mode: IPv6DHCPv6PD, PrefixLength: 56}, FirewallIPv6{InboundPing: true, InboundIPsec: true}}
	if !reflect.DeepEqual(c.Interfaces.LAN.IPv6, want.lan) || !reflect.DeepEqual(c.Interfaces.WAN.IPv6, want.wan) ||
		!reflect.DeepEqual(c.Firewall.IPv6, want.fw) {
		t.Fatalf("New(): lan %+v wan %+v firewall %+v", c.Interfaces.LAN.IPv6, c.Interfaces.WAN.IPv6, c.Firewall.IPv6)
	}
	for _, l := range []string{
		"set interfaces lan ipv6 enable", "set interfaces wan ipv6 mode dhcpv6-pd", "set interfaces wan ipv6 prefix-length 56",
		"set firewall ipv6 inbound-ping enable", "set firewall ipv6 inbound-ipsec enable", "set interfaces lan ipv6 subnet-id 0x0",
	} {
		if got := mustParse(t, l).Commands(); len(got) != 0 {
			t.Errorf("%s: prints %q; a default is not printed", l, got)
		}
	}
}

// TestIPv6Set: what each statement sets, and its canonical form.
func TestIPv6Set(t *testing.T) {
	tests := []struct {
		line  string
		get   func(c *Config) any
		want  any
		print string // canonical line ("" = same as line)
	}{
		{"set interfaces lan ipv6 disable", func(c *Config) any { return c.Interfaces.LAN.IPv6.Disabled }, true, ""},
		{"set interfaces lan ipv6 ula fd00:1:2::/48", func(c *Config) any { return c.Interfaces.LAN.IPv6.ULA }, netip.MustParsePrefix("fd00:1:2::/48"), ""},
		{"set interfaces lan ipv6 ula FD00:ABCD:2::/48", func(c *Config) any { return c.Interfaces.LAN.IPv6.ULA }, netip.MustParsePrefix("fd00:abcd:2::/48"),
			"set interfaces lan ipv6 ula fd00:abcd:2::/48"},
		{"set interfaces lan ipv6 ula disable", func(c *Config) any { return c.Interfaces.LAN.IPv6.NoULA }, true, ""},
		{"set interfaces lan ipv6 ula d", func(c *Config) any { return c.Interfaces.LAN.IPv6.NoULA }, true, "set interfaces lan ipv6 ula disable"},
		{"set interfaces lan ipv6 subnet-id 0x1A", func(c *Config) any { return c.Interfaces.LAN.IPv6.SubnetID }, 26, "set interfaces lan ipv6 subnet-id 26"},
		{"set interfaces lan ipv6 subnet-id 0xffff", func(c *Config) any { return c.Interfaces.LAN.IPv6.SubnetID }, 65535, "set interfaces lan ipv6 subnet-id 65535"},
		{"set interfaces lan ipv6 subnet-id 007", func(c *Config) any { return c.Interfaces.LAN.IPv6.SubnetID }, 7, "set interfaces lan ipv6 subnet-id 7"},
		{"set interfaces lan ipv6 dns fd12::53", func(c *Config) any { return c.Interfaces.LAN.IPv6.DNS }, []netip.Addr{netip.MustParseAddr("fd12::53")}, ""},
		{"set interfaces lan ipv6 domain lan", func(c *Config) any { return c.Interfaces.LAN.IPv6.Domain }, "lan", ""},
		{"set interfaces wan ipv6 mode off", func(c *Config) any { return c.Interfaces.WAN.IPv6.Mode }, IPv6Off, ""},
		{"set interfaces wan ipv6 mode st", func(c *Config) any { return c.Interfaces.WAN.IPv6.Mode }, IPv6Static, "set interfaces wan ipv6 mode static"},
		{"set interfaces wan ipv6 mode sl", func(c *Config) any { return c.Interfaces.WAN.IPv6.Mode }, IPv6SLAAC, "set interfaces wan ipv6 mode slaac"},
		{"set interfaces wan ipv6 prefix-length 64", func(c *Config) any { return c.Interfaces.WAN.IPv6.PrefixLength }, 64, ""},
		{"set interfaces wan ipv6 address 2600:1:2:3::2/127", func(c *Config) any { return c.Interfaces.WAN.IPv6.Address }, netip.MustParsePrefix("2600:1:2:3::2/127"), ""},
		{"set interfaces wan ipv6 address 2600:1:2:3::/127", func(c *Config) any { return c.Interfaces.WAN.IPv6.Address }, netip.MustParsePrefix("2600:1:2:3::/127"), ""},
		{"set interfaces wan ipv6 gateway 2600:1:2:3::1", func(c *Config) any { return c.Interfaces.WAN.IPv6.Gateway }, netip.MustParseAddr("2600:1:2:3::1"), ""},
		{"set interfaces wan ipv6 prefix 2a00:1::/32", func(c *Config) any { return c.Interfaces.WAN.IPv6.Prefix }, netip.MustParsePrefix("2a00:1::/32"), ""},
		{"set firewall ipv6 allow ssh protocol tcp port 22 to fd12:3456:789a:1::10", func(c *Config) any { return c.Firewall.IPv6.Allow },
			[]IPv6Allow{{Name: "ssh", Protocol: ProtoTCP, Port: PortRange{22, 22}, To: netip.MustParseAddr("fd12:3456:789a:1::10")}}, ""},
		{"set firewall ipv6 allow x11 to 2600:1:2:3::10 port 6000-6010 protocol tcp-udp", func(c *Config) any { return c.Firewall.IPv6.Allow },
			[]IPv6Allow{{Name: "x11", Protocol: ProtoTCPUDP, Port: PortRange{6000, 6010}, To: netip.MustParseAddr("2600:1:2:3::10")}},
			"set firewall ipv6 allow x11 protocol tcp-udp port 6000-6010 to 2600:1:2:3::10"},
		{"set firewall ipv6 inbound-ipsec disable", func(c *Config) any { return c.Firewall.IPv6.InboundIPsec }, false, ""},
		{"set firewall ipv6 transparent enable", func(c *Config) any { return c.Firewall.IPv6.Transparent }, true, ""},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.line)
		if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.line, got, tt.want)
		}
		want := tt.print
		if want == "" {
			want = tt.line
		}
		if got := c.Commands(); len(got) != 1 || got[0] != want {
			t.Errorf("%s: prints %q, want %q", tt.line, got, want)
		}
		roundTrip(t, c)
	}
}

// TestIPv6SetErrors: every refused value says what is wrong and what is
// allowed, and names the offending word.
func TestIPv6SetErrors(t *testing.T) {
	tests := []struct {
		line  string
		index int // the offending word, counting from the word after "set"
		msg   string
	}{
		{"interfaces lan ipv6 ula fc00:1:2::/48", 4, "fc00:1:2::/48 is not inside fd00::/8; a unique local prefix starts with fd followed by 40 random bits (RFC 4193), e.g. fd12:3456:789a::/48"},
		{"interfaces lan ipv6 ula fd12:3456:789a::/56", 4, "fd12:3456:789a::/56 is a /56; give the /48, e.g. fd12:3456:789a::/48"},
		{"interfaces lan ipv6 ula fd12:3456:789a:1::/48", 4, "fd12:3456:789a:1::/48 has bits set after the first 48; the prefix is fd12:3456:789a::/48"},
		{"interfaces lan ipv6 ula fd12:3456:789a::", 4, `"fd12:3456:789a::" has no prefix length; use e.g. fd12:3456:789a::/48`},
		{"interfaces lan ipv6 ula 10.0.0.0/8", 4, `"10.0.0.0/8" is not an IPv6 prefix; use address/length, e.g. fd12:3456:789a::/48`},
		{"interfaces lan ipv6 subnet-id 65536", 4, "65536 is out of range; use 0-65535 (hex 0x0-0xffff)"},
		{"interfaces lan ipv6 subnet-id 0x10000", 4, "0x10000 is out of range; use 0-65535 (hex 0x0-0xffff)"},
		{"interfaces lan ipv6 subnet-id -1", 4, `"-1" is not a subnet id; use a number 0-65535 or hex 0x0-0xffff`},
		{"interfaces lan ipv6 subnet-id 0x", 4, `"0x" is not a subnet id; use a number 0-65535 or hex 0x0-0xffff`},
		{"interfaces lan ipv6 subnet-id 0x+1", 4, `"0x+1" is not a subnet id; use a number 0-65535 or hex 0x0-0xffff`},
		{"interfaces lan ipv6 subnet-id 0xg", 4, `"0xg" is not a subnet id; use a number 0-65535 or hex 0x0-0xffff`},
		{"interfaces lan ipv6 dns ff02::fb", 4, "ff02::fb is a multicast address (ff00::/8); use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe"},
		{"interfaces lan ipv6 dns ::1", 4, "::1 is the loopback address ::1; use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe"},
		{"interfaces lan ipv6 dns ::", 4, ":: is the unspecified address ::; use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe"},
		{"interfaces lan ipv6 dns ::ffff:192.168.1.1", 4, "::ffff:192.168.1.1 is an IPv4-mapped address (::ffff:0:0/96); use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe"},
		{"interfaces lan ipv6 dns 192.168.1.1", 4, `"192.168.1.1" is not an IPv6 address; use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe`},
		{"interfaces lan ipv6 dns fe80::1%eth0", 4, `"fe80::1%eth0" has a zone (%eth0); give the address without it, e.g. fe80::1`},
		{"interfaces lan ipv6 domain -x.example", 4, `"-x.example" is not a domain; use letters, digits and '-' (not first or last), e.g. home.arpa`},
		{"interfaces lan ipv6 domain " + strings.Repeat("a", 64), 4, "the domain is 64 characters long; at most 63 are allowed (253 with dots, 63 between them)"},
		{"interfaces wan ipv6 mode pppoe", 4, `"pppoe" is not valid here; use one of: dhcpv6-pd, slaac, static, off`},
		{"interfaces wan ipv6 prefix-length 70", 4, "70 is out of range; use 48-64"},
		{"interfaces wan ipv6 prefix-length 47", 4, "47 is out of range; use 48-64"},
		{"interfaces wan ipv6 address 2600:1:2:3::2", 4, `"2600:1:2:3::2" has no prefix length; use e.g. 2600:1:2:3::2/64`},
		{"interfaces wan ipv6 address 2001:db8::2/64", 4, "2001:db8::2 is a documentation address (2001:db8::/32, RFC 3849) that never appears on a real network; use a global unicast address, e.g. 2600:1:2:3::2"},
		{"interfaces wan ipv6 address fd00::2/64", 4, "fd00::2 is a unique local address (fc00::/7); use a global unicast address, e.g. 2600:1:2:3::2"},
		{"interfaces wan ipv6 address fe80::2/64", 4, "fe80::2 is a link-local address (fe80::/10); use a global unicast address, e.g. 2600:1:2:3::2"},
		{"interfaces wan ipv6 address 2600:1:2:3::/64", 4, "2600:1:2:3:: is the subnet-router anycast address of 2600:1:2:3::/64; give the router's own address, e.g. 2600:1:2:3::1/64"},
		{"interfaces wan ipv6 address 2600::2/8", 4, "prefix length /8 is not supported; use /16 to /128 (usually /64)"},
		{"interfaces wan ipv6 gateway fd00::1", 4, "fd00::1 is a unique local address (fc00::/7); use the gateway's link-local or global unicast address, e.g. fe80::1"},
		{"interfaces wan ipv6 gateway ff02::2", 4, "ff02::2 is a multicast address (ff00::/8); use the gateway's link-local or global unicast address, e.g. fe80::1"},
		{"interfaces wan ipv6 prefix 2600:1:2:100::/65", 4, "prefix length /65 is not supported; use /32 to /64"},
		{"interfaces wan ipv6 prefix 2600::/31", 4, "prefix length /31 is not supported; use /32 to /64"},
		{"interfaces wan ipv6 prefix 2600:1:2:101::/56", 4, "2600:1:2:101::/56 has bits set after the first 56; the prefix is 2600:1:2:100::/56"},
		{"interfaces wan ipv6 prefix 3fff:1::/48", 4, "3fff:1:: is a documentation address (3fff::/20, RFC 9637) that never appears on a real network; use a global unicast address, e.g. 2600:1:2:3::2"},
		{"interfaces wan ipv6 prefix fec0::/48", 4, "fec0:: is a deprecated site-local address (fec0::/10, RFC 3879); use a global unicast address, e.g. 2600:1:2:3::2"},
		{"interfaces wan ipv6 dns 100::53", 4, "100::53 is in the discard-only prefix 100::/64 (RFC 6666); use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe"},
		{"firewall ipv6 allow ssh to fe80::10", 5, "fe80::10 is a link-local address (fe80::/10); use a global unicast or unique local address of the LAN host, e.g. 2600:1:2:3::10"},
		{"firewall ipv6 allow ssh to 2001:10::1", 5, "2001:10::1 is an ORCHID identifier (2001:10::/28, 2001:20::/28), not a routable address; use a global unicast or unique local address of the LAN host, e.g. 2600:1:2:3::10"},
		{"firewall ipv6 allow ssh to ::10", 5, "::10 is a reserved address (::/64); use a global unicast or unique local address of the LAN host, e.g. 2600:1:2:3::10"},
		{"firewall ipv6 allow ssh to 192.168.1.10", 5, `"192.168.1.10" is not an IPv6 address; use a global unicast or unique local address of the LAN host, e.g. 2600:1:2:3::10`},
		{"firewall ipv6 allow ssh protocol icmp", 5, `"icmp" is not valid here; use one of: tcp, udp, tcp-udp`},
		{"firewall ipv6 allow ssh port 0", 5, `"0" is not a port; use a number 1-65535 or a range like 8000-8010`},
		{"firewall ipv6 allow ssh port 22 port 23", 6, `"port" is already given in this command; each part may appear once`},
		{"firewall ipv6 allow bad/name port 22", 3, `"bad/name" is not a name; use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"firewall ipv6 allow ssh", 4, `incomplete command after "ssh"; give one of: protocol, port, to`},
		{"firewall ipv6 inbound-ping maybe", 3, `"maybe" is not valid here; use one of: enable, disable`},
		{"interfaces wan ipv6 disable", 3, `"disable" is not valid here; use one of: mode, prefix-length, address, gateway, prefix, dns`},
	}
	for _, tt := range tests {
		c := New()
		err := c.Set(strings.Fields(tt.line))
		var e *Error
		if !errors.As(err, &e) || e.Msg != tt.msg || e.Index != tt.index {
			t.Errorf("set %s:\n got  %v\n want index %d: %s", tt.line, err, tt.index, tt.msg)
		}
		if !c.Equal(New()) {
			t.Errorf("set %s: failed but changed the configuration", tt.line)
		}
	}
}

// TestIPv6DNSLimit: at most MaxIPv6DNS servers in each list.
func TestIPv6DNSLimit(t *testing.T) {
	for _, path := range []string{"interfaces lan ipv6 dns", "interfaces wan ipv6 dns"} {
		c := New()
		for i := 1; i <= MaxIPv6DNS; i++ {
			if err := c.Set(strings.Fields(fmt.Sprintf("%s 2620:fe::%x", path, i))); err != nil {
				t.Fatal(err)
			}
		}
		err := c.Set(strings.Fields(path + " 2620:fe::99"))
		if err == nil || !strings.Contains(err.Error(), "at most 8 dns servers are allowed; delete one first") {
			t.Errorf("%s: the ninth server: %v", path, err)
		}
	}
}

// TestIPv6AllowLimit: at most MaxAllowRules rules (fw6.MaxAllowRules,
// which pkg/config may not import); at the limit an existing rule can
// still be changed, a new one is refused by Set and by Parse.
func TestIPv6AllowLimit(t *testing.T) {
	if MaxAllowRules != fw6.MaxAllowRules {
		t.Fatalf("MaxAllowRules %d, fw6.MaxAllowRules %d", MaxAllowRules, fw6.MaxAllowRules)
	}
	var b strings.Builder
	for i := range MaxAllowRules {
		fmt.Fprintf(&b, "set firewall ipv6 allow r%03d protocol tcp port %d to 2600:1:2:3::10\n", i, 1000+i)
	}
	c := validBase(t)
	setLines(t, c, b.String())
	if errs, _ := c.Validate(); len(errs) != 0 {
		t.Fatalf("%d rules: %v", MaxAllowRules, errs)
	}
	if err := c.Set(strings.Fields("firewall ipv6 allow r000 port 999")); err != nil {
		t.Fatalf("changing a rule at the limit: %v", err)
	}
	before := c.Clone()
	err := c.Set(strings.Fields("firewall ipv6 allow zzz protocol udp port 53 to 2600:1:2:3::10"))
	var e *Error
	if !errors.As(err, &e) || e.Index != 3 ||
		e.Msg != "there are already 128 allow entries, the most allowed; delete one first or reuse its name" {
		t.Fatalf("rule 129: %#v", err)
	}
	if !c.Equal(before) {
		t.Fatal("the refused rule changed the configuration")
	}
	b.WriteString("set firewall ipv6 allow zzz protocol udp port 53 to 2600:1:2:3::10\n")
	if _, err := Parse(b.String()); err == nil || !strings.HasPrefix(err.Error(), "line 129, column 25: there are already 128 allow entries") {
		t.Fatalf("Parse of 129 rules: %v", err)
	}
}

// TestIPv6AllowSameName: a rule given again under its name changes the
// clauses given (as port forwards do); overlapping rules are allowed.
func TestIPv6AllowSameName(t *testing.T) {
	c := mustParse(t, `set firewall ipv6 allow web protocol tcp port 80 to 2600:1:2:3::10
set firewall ipv6 allow web port 443 to 2600:1:2:3::11
set firewall ipv6 allow web2 protocol tcp-udp port 1-1000 to 2600:1:2:3::11
`)
	valid := validBase(t)
	setLines(t, valid, strings.Join(c.Commands(), "\n"))
	want := []string{
		"set firewall ipv6 allow web protocol tcp port 443 to 2600:1:2:3::11",
		"set firewall ipv6 allow web2 protocol tcp-udp port 1-1000 to 2600:1:2:3::11",
	}
	if got := c.Commands(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	if errs, warns := valid.Validate(); len(errs) != 0 || len(warns) != 0 {
		t.Fatalf("overlapping rules: errors %v, warnings %v", errs, warns)
	}
	if err := c.Delete(strings.Fields("firewall ipv6 allow web port")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(strings.Fields("firewall ipv6 allow web2")); err != nil {
		t.Fatal(err)
	}
	if got := c.Commands(); !reflect.DeepEqual(got, []string{"set firewall ipv6 allow web protocol tcp to 2600:1:2:3::11"}) {
		t.Fatalf("after the deletes: %q", got)
	}
	if err := c.Delete(strings.Fields("firewall ipv6 allow nope")); err == nil || !strings.Contains(err.Error(), `there is no allow named "nope"; existing: web`) {
		t.Fatalf("delete of a missing rule: %v", err)
	}
}

// TestIPv6ULADisableAndPrefix: "ula disable" and "ula PREFIX" replace each
// other; deleting returns to the generated one.
func TestIPv6ULADisableAndPrefix(t *testing.T) {
	c := mustParse(t, "set interfaces lan ipv6 ula fd12:3456:789a::/48\nset interfaces lan ipv6 ula disable")
	if l := c.Interfaces.LAN.IPv6; !l.NoULA || l.ULA.IsValid() {
		t.Fatalf("after disable: %+v", l)
	}
	c = mustParse(t, "set interfaces lan ipv6 ula disable\nset interfaces lan ipv6 ula fd12:3456:789a::/48")
	if l := c.Interfaces.LAN.IPv6; l.NoULA || l.ULA != netip.MustParsePrefix("fd12:3456:789a::/48") {
		t.Fatalf("after a prefix: %+v", l)
	}
	if err := c.Delete(strings.Fields("interfaces lan ipv6 ula")); err != nil || !c.Equal(New()) {
		t.Fatalf("delete: %v, %q", err, c.Commands())
	}
	// Deleting "interfaces lan ipv6" resets the switch and everything under it.
	c = mustParse(t, "set interfaces lan ipv6 disable\nset interfaces lan ipv6 ula disable\nset interfaces lan ipv6 dns fd00::53\nset interfaces lan ipv6 subnet-id 3")
	if err := c.Delete(strings.Fields("interfaces lan ipv6")); err != nil || !c.Equal(New()) {
		t.Fatalf("delete interfaces lan ipv6: %v, %q", err, c.Commands())
	}
}

// TestIPv6Complete: "?" and Tab offer the new words (the shell's help is
// this list).
func TestIPv6Complete(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"interfaces lan |", []string{"device", "address", "mtu", "ipv6"}},
		{"interfaces lan ipv6 |", []string{"ula", "subnet-id", "dns", "domain", "enable", "disable"}},
		{"interfaces lan ipv6 ula |", []string{"disable", "<fdXX:XXXX:XXXX::/48>"}},
		{"interfaces lan ipv6 subnet-id |", []string{"<0-65535>"}},
		{"interfaces wan ipv6 |", []string{"mode", "prefix-length", "address", "gateway", "prefix", "dns"}},
		{"interfaces wan ipv6 p|", []string{"prefix-length", "prefix"}},
		{"interfaces wan ipv6 mode |", []string{"dhcpv6-pd", "slaac", "static", "off"}},
		{"interfaces wan ipv6 prefix-length |", []string{"<48-64>"}},
		{"interfaces wan ipv6 gateway |", []string{"<X:X::X>"}},
		{"firewall |", []string{"ipv6", "rule", "mac-filter"}},
		{"firewall ipv6 |", []string{"allow", "inbound-ping", "inbound-ipsec", "transparent"}},
		{"firewall ipv6 allow |", []string{"<NAME>"}},
		{"firewall ipv6 allow a |", []string{"protocol", "port", "to"}},
		{"firewall ipv6 allow a to fd00::1 |", []string{"protocol", "port", "<Enter>"}},
		{"firewall ipv6 allow a protocol |", []string{"tcp", "udp", "tcp-udp"}},
	}
	for _, tt := range tests {
		w := strings.Fields(strings.TrimSuffix(tt.in, "|"))
		if strings.HasSuffix(tt.in, " |") {
			w = append(w, "")
		}
		if got := words(Complete(w)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Complete(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRFC4193_GenerateULA: fd00::/8 (prefix fc00::/7 with L = 1), then a
// 40-bit Global ID from the reader, as a /48 (RFC 4193 §3.1, §3.2).
func TestRFC4193_GenerateULA(t *testing.T) {
	p, err := GenerateULA(bytes.NewReader([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xff}))
	if err != nil || p != netip.MustParsePrefix("fd12:3456:789a::/48") {
		t.Fatalf("GenerateULA(12 34 56 78 9a) = %v, %v", p, err)
	}
	a, err := GenerateULA(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateULA(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []netip.Prefix{a, b} {
		if p.Bits() != 48 || p != p.Masked() || !netip.MustParsePrefix("fd00::/8").Contains(p.Addr()) {
			t.Errorf("%v is not a /48 inside fd00::/8", p)
		}
		// What it makes, the configuration takes.
		if _, err := Parse("set interfaces lan ipv6 ula " + p.String()); err != nil {
			t.Errorf("the generated %v does not parse: %v", p, err)
		}
	}
	if a == b {
		t.Errorf("two ULAs from crypto/rand are equal: %v", a)
	}
	boom := errors.New("boom")
	if _, err := GenerateULA(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("reader error: got %v", err)
	}
	if _, err := GenerateULA(bytes.NewReader([]byte{1, 2, 3, 4})); err == nil {
		t.Error("a short read gives a ULA")
	}
}

// TestIPv6ClassesMatchFW6: an allow rule's host and a static prefix are
// accepted exactly when the forwarding engine (pkg/fw6, the independent
// oracle here) accepts them, so a committed configuration never fails to
// apply there.
func TestIPv6ClassesMatchFW6(t *testing.T) {
	addrs := []string{
		"2600:1:2:3::10", "2a00::1", "3ffe::1", "3fff:1000::1", "4000::1", "64:ff9b::1.2.3.4", "100:0:0:1::1",
		"fd12::1", "fc00::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "::", "::1", "::2", "::ffff:1.2.3.4",
		"2001:db8::1", "3fff::1", "3fff:fff::1", "2001:10::1", "2001:1f::1", "2001:20::1", "2001:2f::1", "2001:30::1", "100::1",
	}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		_, cfgErr := Parse("set firewall ipv6 allow h protocol tcp port 22 to " + s)
		fc := fw6.DefaultConfig()
		fc.Allow = []fw6.AllowRule{{Name: "h", Proto: packet.ProtoTCP, PortStart: 22, PortEnd: 22, Host: a}}
		_, fwErr := fw6.New(fc)
		if (cfgErr == nil) != (fwErr == nil) {
			t.Errorf("allow to %s: config says %v, fw6 says %v", s, cfgErr, fwErr)
		}
		// Static prefixes: the global ones only (fw6 also takes ULA).
		pfx := netip.PrefixFrom(a, 48).Masked()
		_, cfgErr = Parse("set interfaces wan ipv6 prefix " + pfx.String())
		e, err := fw6.New(fw6.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		_, fwErr = e.SetAddresses(fw6.Addresses{Delegated: []netip.Prefix{pfx}})
		if c, _ := classify6(pfx.Addr()); c == v6ULA {
			if cfgErr == nil || fwErr != nil {
				t.Errorf("prefix %s: config says %v (want refused: not global), fw6 says %v", pfx, cfgErr, fwErr)
			}
		} else if (cfgErr == nil) != (fwErr == nil) {
			t.Errorf("prefix %s: config says %v, fw6 says %v", pfx, cfgErr, fwErr)
		}
	}
}

// TestArchitectureBlockParses: the "Configuration language" block of
// docs/architecture.md parses as it stands (with a real key and hash in
// place of "AAAA..." and "$6$..."), its IPv6 lines included.
func TestArchitectureBlockParses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Configuration language")
	if !ok {
		t.Fatal("docs/architecture.md has no Configuration language section")
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("no code block in the Configuration language section")
	}
	block = strings.ReplaceAll(block, `"ssh-ed25519 AAAA... admin@laptop"`, `"`+keyLaptop+`"`)
	block = strings.ReplaceAll(block, `"$6$..."`, `"`+hash6+`"`)
	c := mustParse(t, block)
	l, w, f := c.Interfaces.LAN.IPv6, c.Interfaces.WAN.IPv6, c.Firewall.IPv6
	if l.ULA != netip.MustParsePrefix("fd12:3456:789a::/48") || l.Domain != "home.arpa" || len(l.DNS) != 1 ||
		w.Mode != IPv6DHCPv6PD || w.Prefix != netip.MustParsePrefix("2600:1:2:100::/56") || len(f.Allow) != 1 || !f.InboundPing {
		t.Errorf("IPv6 lines: lan %+v wan %+v firewall %+v", l, w, f)
	}
}
