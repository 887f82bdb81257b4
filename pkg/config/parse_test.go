package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	keyLaptop = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINO4J61IEWzU3fsaXBK9tx7gNnJL76zT3g3U3ab+V1jH admin@laptop"
	keyPhone  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICGZUGlPPAx+vmRXIUMFK6AIKC1AW70bdsQs8zkWoElb phone"
	hash6     = "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."
	// made by Debian's mkpasswd: its default (yescrypt), -m sha-256, -m bcrypt
	hashY = "$y$j9T$ZJElARxWmxpsYu6WUgcpJ1$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGr/"
	hash5 = "$5$passgate5salt$y0DOOC13c41plXNAmVjCnDsnuqCFCcMe3DWjqfxPWy8"
	hash2 = "$2b$05$sneZO83.00nBlvOlKb2JgecbVfot0JcGi4QeJa4PmGOXCuH7y9fGG"
)

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return c
}

// TestParseValid covers every line type: each line is parsed on its own
// and the field it sets is compared with the expected typed value.
func TestParseValid(t *testing.T) {
	tests := []struct {
		line string
		get  func(c *Config) any
		want any
	}{
		{"set system hostname gw.home", func(c *Config) any { return c.System.Hostname }, "gw.home"},
		{`set system admin password-hash "` + hash6 + `"`, func(c *Config) any { return c.System.Admin.PasswordHash }, hash6},
		{`set system admin password-hash "` + hash2 + `"`, func(c *Config) any { return c.System.Admin.PasswordHash }, hash2},
		{`set system admin password-hash "` + hashY + `"`, func(c *Config) any { return c.System.Admin.PasswordHash }, hashY},
		{`set system admin password-hash "` + hash5 + `"`, func(c *Config) any { return c.System.Admin.PasswordHash }, hash5},
		{"set interfaces lan device eth0.10", func(c *Config) any { return c.Interfaces.LAN.Device }, "eth0.10"},
		{"set interfaces lan address 10.0.0.1/8", func(c *Config) any { return c.Interfaces.LAN.Address }, prefix("10.0.0.1/8")},
		{"set interfaces lan mtu 9000", func(c *Config) any { return c.Interfaces.LAN.MTU }, 9000},
		{"set interfaces wan device end0", func(c *Config) any { return c.Interfaces.WAN.Device }, "end0"},
		{"set interfaces wan mode static", func(c *Config) any { return c.Interfaces.WAN.Mode }, WANStatic},
		{"set interfaces wan mode dhcp", func(c *Config) any { return c.Interfaces.WAN.Mode }, WANDHCP},
		{"set interfaces wan address 203.0.113.2/30", func(c *Config) any { return c.Interfaces.WAN.Address }, prefix("203.0.113.2/30")},
		{"set interfaces wan gateway 203.0.113.1", func(c *Config) any { return c.Interfaces.WAN.Gateway }, addr("203.0.113.1")},
		{"set interfaces wan mtu 1492", func(c *Config) any { return c.Interfaces.WAN.MTU }, 1492},
		{"set interfaces wan dns 9.9.9.9\nset interfaces wan dns 1.1.1.1\nset interfaces wan dns 9.9.9.9",
			func(c *Config) any { return c.Interfaces.WAN.DNS }, []netip.Addr{addr("9.9.9.9"), addr("1.1.1.1")}},
		{"set dhcp-server lan range 192.168.1.100 192.168.1.199", func(c *Config) any {
			return [2]netip.Addr{c.DHCPServer.LAN.RangeStart, c.DHCPServer.LAN.RangeEnd}
		}, [2]netip.Addr{addr("192.168.1.100"), addr("192.168.1.199")}},
		{"set dhcp-server lan lease-time 12h", func(c *Config) any { return c.DHCPServer.LAN.LeaseTime }, 12 * time.Hour},
		{"set dhcp-server lan lease-time 30m", func(c *Config) any { return c.DHCPServer.LAN.LeaseTime }, 30 * time.Minute},
		{"set dhcp-server lan lease-time 3600", func(c *Config) any { return c.DHCPServer.LAN.LeaseTime }, time.Hour},
		{"set dhcp-server lan lease-time 1d2h3m4s", func(c *Config) any { return c.DHCPServer.LAN.LeaseTime }, 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"set dhcp-server lan dns 192.168.1.1", func(c *Config) any { return c.DHCPServer.LAN.DNS }, []netip.Addr{addr("192.168.1.1")}},
		{"set dhcp-server lan static laptop mac aa:bb:cc:dd:ee:ff ip 192.168.1.50", func(c *Config) any { return c.DHCPServer.LAN.Static },
			[]StaticLease{{"laptop", MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, addr("192.168.1.50")}}},
		{"set dhcp-server lan static b ip 192.168.1.51\nset dhcp-server lan static a mac 00-11-22-33-44-5A", func(c *Config) any { return c.DHCPServer.LAN.Static },
			[]StaticLease{{Name: "a", MAC: MAC{0, 0x11, 0x22, 0x33, 0x44, 0x5a}}, {Name: "b", IP: addr("192.168.1.51")}}},
		{"set nat filtering endpoint-independent", func(c *Config) any { return c.NAT.Filtering }, FilterEndpointIndependent},
		{"set nat filtering address-port-dependent", func(c *Config) any { return c.NAT.Filtering }, FilterAddressPortDependent},
		{"set nat timeout udp 120", func(c *Config) any { return c.NAT.Timeouts.UDP }, 120 * time.Second},
		{"set nat timeout tcp-established 2h4m", func(c *Config) any { return c.NAT.Timeouts.TCPEstablished }, 7440 * time.Second},
		{"set nat timeout tcp-transitory 300", func(c *Config) any { return c.NAT.Timeouts.TCPTransitory }, 300 * time.Second},
		{"set nat timeout icmp 90", func(c *Config) any { return c.NAT.Timeouts.ICMP }, 90 * time.Second},
		{"set nat timeout gre 1200", func(c *Config) any { return c.NAT.Timeouts.GRE }, 1200 * time.Second},
		{"set nat timeout esp 30", func(c *Config) any { return c.NAT.Timeouts.ESP }, 30 * time.Second},
		{"set nat hairpin disable", func(c *Config) any { return c.NAT.Hairpin }, false},
		{"set nat mss-clamp 1452", func(c *Config) any { return c.NAT.MSSClamp }, 1452},
		{"set nat mss-clamp disable", func(c *Config) any { return c.NAT.MSSClamp }, MSSClampDisabled},
		{"set nat mss-clamp 1400\nset nat mss-clamp auto", func(c *Config) any { return c.NAT.MSSClamp }, MSSClampAuto},
		{"set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80", func(c *Config) any { return c.NAT.PortForwards },
			[]PortForward{{"web", ProtoTCP, PortRange{8080, 8080}, addr("192.168.1.10"), PortRange{80, 80}}}},
		{"set nat port-forward g protocol tcp-udp port 8000-8010 to 192.168.1.11", func(c *Config) any { return c.NAT.PortForwards },
			[]PortForward{{"g", ProtoTCPUDP, PortRange{8000, 8010}, addr("192.168.1.11"), PortRange{}}}},
		// After "to A.B.C.D" a "port" is the internal port; elsewhere the external one.
		{"set nat port-forward v to 192.168.1.12 port 5061 protocol udp port 5060", func(c *Config) any { return c.NAT.PortForwards },
			[]PortForward{{"v", ProtoUDP, PortRange{5060, 5060}, addr("192.168.1.12"), PortRange{5061, 5061}}}},
		{"set nat dmz 192.168.1.20", func(c *Config) any { return c.NAT.DMZ }, addr("192.168.1.20")},
		{"set nat max-sessions 0", func(c *Config) any { return c.NAT.MaxSessions }, 0},
		{"set nat max-sessions 100000", func(c *Config) any { return c.NAT.MaxSessions }, 100000},
		{"set nat max-sessions-per-host 512", func(c *Config) any { return c.NAT.MaxSessionsPerHost }, 512},
		{"set passthrough pptp disable", func(c *Config) any { return c.Passthrough.PPTP }, false},
		{"set passthrough l2tp disable", func(c *Config) any { return c.Passthrough.L2TP }, false},
		{"set passthrough ipsec disable", func(c *Config) any { return c.Passthrough.IPsec.Enabled }, false},
		{"set passthrough ipsec esp-mode single-client", func(c *Config) any { return c.Passthrough.IPsec.ESPMode }, ESPSingleClient},
		{"set passthrough ipsec ike-share-port enable", func(c *Config) any { return c.Passthrough.IPsec.IKESharePort }, true},
		{"set service ssh listen wan", func(c *Config) any { return c.Service.SSH.Listen }, ListenWAN},
		{"set service ssh listen all", func(c *Config) any { return c.Service.SSH.Listen }, ListenAll},
		{"set service ssh port 2222", func(c *Config) any { return c.Service.SSH.Port }, 2222},
		{`set service ssh authorized-key admin "` + keyLaptop + `"`, func(c *Config) any { return c.Service.SSH.AuthorizedKeys },
			[]AuthorizedKey{{"admin", keyLaptop}}},
		// Whitespace inside the key is normalised.
		{"set service ssh authorized-key p \"  " + strings.ReplaceAll(keyPhone, " ", "\t ") + " \"", func(c *Config) any { return c.Service.SSH.AuthorizedKeys },
			[]AuthorizedKey{{"p", keyPhone}}},
		// Comments, blank lines, CRLF, a BOM, tabs and abbreviations.
		{"\ufeff# comment\r\n\r\n\tset nat hairpin disable # trailing\r\n", func(c *Config) any { return c.NAT.Hairpin }, false},
		{"set nat hair dis#comment right after a value", func(c *Config) any { return c.NAT.Hairpin }, false},
		{`set service ssh authorized-key p "` + keyPhone + ` #2"   # a # inside quotes is not a comment`, func(c *Config) any { return c.Service.SSH.AuthorizedKeys },
			[]AuthorizedKey{{"p", keyPhone + " #2"}}},
		{"set n t u 200", func(c *Config) any { return c.NAT.Timeouts.UDP }, 200 * time.Second},
		// A later line overrides an earlier one.
		{"set interfaces lan mtu 1400\nset interfaces lan mtu 1300", func(c *Config) any { return c.Interfaces.LAN.MTU }, 1300},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.line)
		if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q): got %#v, want %#v", tt.line, got, tt.want)
		}
	}
}

// TestParseInvalid checks the exact error message, line and column.
func TestParseInvalid(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"set nat hairpin enable\n\n# x\n\n\n\nset dhcp-server lan lease-time 30x",
			`line 7, column 32: "30x" is not a duration; use e.g. 12h, 30m or seconds`},
		{"sett nat hairpin enable", `line 1, column 1: "sett" is not allowed here; every line must be a set command, e.g. "set system hostname passgate"`},
		{"delete nat dmz", `line 1, column 1: "delete" is not allowed here; every line must be a set command, e.g. "set system hostname passgate"`},
		{"set foo", `line 1, column 5: "foo" is not valid here; use one of: system, interfaces, dhcp-server, nat, firewall, qos, passthrough, dns, service`},
		{"set", `line 1, column 5: incomplete command; give one of: system, interfaces, dhcp-server, nat, firewall, qos, passthrough, dns, service`},
		{"set nat", `line 1, column 9: incomplete command after "nat"; give one of: filtering, timeout, hairpin, mss-clamp, port-forward, dmz, max-sessions, max-sessions-per-host`},
		{"set nat max", `line 1, column 9: "max" is ambiguous; it could be max-sessions or max-sessions-per-host`},
		{"set system hostname", `line 1, column 21: incomplete command after "hostname"; give <HOSTNAME> (hostname)`},
		{"set system hostname -bad", `line 1, column 21: "-bad" is not a hostname; use letters, digits and '-' (not first or last), e.g. passgate`},
		{"set system hostname a b", `line 1, column 23: unexpected "b"; the command is complete after "a"`},
		{"set system hostname " + strings.Repeat("a", 64), `line 1, column 21: the hostname is 64 characters long; at most 63 are allowed (253 with dots, 63 between them)`},
		{"set system hostname gw." + strings.Repeat("b", 64) + ".lan", `line 1, column 21: the part "` + strings.Repeat("b", 64) + `" of the hostname is 64 characters long; at most 63 are allowed between dots`},
		{"set system hostname " + strings.Repeat("a.", 126) + "ab", `line 1, column 21: the hostname is 254 characters long; at most 253 are allowed (63 between dots)`},
		{"set system hostname " + strings.Repeat("é", 64), `line 1, column 21: "` + strings.Repeat("é", 64) + `" is not a hostname; use letters, digits and '-' (not first or last), e.g. passgate`},
		{"set system hostname x\n# " + strings.Repeat("x", 5000), `line 2, column 4097: the line is longer than 4096 bytes, the most one line may hold`},
		{`set system admin password-hash hunter2`, `line 1, column 32: "hunter2" is not a password hash (a plain password is never stored); give yescrypt "$y$..." (mkpasswd's default), SHA-512 crypt "$6$..." (mkpasswd -m sha-512, or openssl passwd -6), SHA-256 crypt "$5$..." or bcrypt "$2b$..."; make one with: mkpasswd -m sha-512 (Debian package whois) or openssl passwd -6`},
		// Weak hashes are refused (mkpasswd -m md5crypt), and so are those
		// SSH cannot verify (mkpasswd -m gost-yescrypt).
		{`set system admin password-hash "$1$y4t6wp8Z$FDTWkZkwqnlrv3xTORg2Y/"`, `line 1, column 32: "$1$y4t6wp8Z$FDTWkZkwqnlrv3xTORg2Y/" is an MD5-crypt hash, which is weak and refused; give yescrypt "$y$..." (mkpasswd's default), SHA-512 crypt "$6$..." (mkpasswd -m sha-512, or openssl passwd -6), SHA-256 crypt "$5$..." or bcrypt "$2b$..."; make one with: mkpasswd -m sha-512 (Debian package whois) or openssl passwd -6`},
		{`set system admin password-hash "$gy$j9T$nygfeatAnXqeb8yxGGJFn0$MPXYUlQje1uWaZpoEoOauYbiPLzw3iNLKK6d5QSSKG4"`, `line 1, column 32: "$gy$j9T$nygfeatAnXqeb8yxGGJFn0$MPXYUlQje1uWaZpoEoOauYbiPLzw3iNLKK6d5QSSKG4" is a "$gy$" hash, which the router cannot verify; give yescrypt "$y$..." (mkpasswd's default), SHA-512 crypt "$6$..." (mkpasswd -m sha-512, or openssl passwd -6), SHA-256 crypt "$5$..." or bcrypt "$2b$..."; make one with: mkpasswd -m sha-512 (Debian package whois) or openssl passwd -6`},
		{`set system admin password-hash "$6$abc`, `line 1, column 32: unterminated quoted string; close it with "`},
		{"set interfaces lan device eth0/1", `line 1, column 27: "eth0/1" is not an interface name; use up to 15 letters, digits, '.', '_' or '-', e.g. eth0`},
		{"set interfaces lan address 192.168.1.1", `line 1, column 28: "192.168.1.1" has no subnet length; use e.g. 192.168.1.1/24`},
		{"set interfaces lan address 192.168.1.255/24", `line 1, column 28: 192.168.1.255 is the broadcast address of 192.168.1.0/24; give the router's own address, e.g. 192.168.1.1/24`},
		{"set interfaces lan address 192.168.1.0/24", `line 1, column 28: 192.168.1.0 is the network address of 192.168.1.0/24; give the router's own address, e.g. 192.168.1.1/24`},
		{"set interfaces lan address 10.0.0.1/31", `line 1, column 28: subnet length /31 is not supported; use /8 to /30`},
		{"set interfaces lan address fe80::1/64", `line 1, column 28: "fe80::1/64" is not an IPv4 address with subnet length; use e.g. 192.168.1.1/24`},
		{"set interfaces lan mtu 100", `line 1, column 24: 100 is out of range; use 576-9216`},
		{"set interfaces lan mtu big", `line 1, column 24: "big" is not a number; use 576-9216`},
		{"set interfaces wan mode pptp", `line 1, column 25: "pptp" is not valid here; use one of: dhcp, static, pppoe`},
		{"set interfaces wan vlan 4095", `line 1, column 25: 4095 is out of range; use 1-4094`},
		{`set interfaces wan pppoe password "********"`, `line 1, column 35: "********" is how show configuration masks the secret, not the secret; give the real one`},
		{"set interfaces wan pppoe username \"a\x01b\"", `line 1, column 37: control character U+0001 is not allowed`},
		{"set interfaces wan gateway 203.0.113.300", `line 1, column 28: "203.0.113.300" is not an IPv4 address; use four numbers 0-255 like 192.168.1.10`},
		{"set interfaces wan gateway 224.0.0.1", `line 1, column 28: 224.0.0.1 is a multicast address; use a unicast host address`},
		{"set interfaces wan dns 0.0.0.0", `line 1, column 24: 0.0.0.0 is not a host address; use a unicast host address`},
		{"set interfaces wan dns 1.1.1.1\nset interfaces wan dns 1.0.0.1\nset interfaces wan dns 9.9.9.9\nset interfaces wan dns 8.8.8.8\nset interfaces wan dns 8.8.4.4",
			`line 5, column 24: at most 4 dns servers are allowed; delete one first`},
		{"set dhcp-server lan range 192.168.1.100", `line 1, column 41: incomplete command after "192.168.1.100"; give <A.B.C.D> (last address of the pool)`},
		{"set dhcp-server lan lease-time 30s", `line 1, column 32: 30s is out of range; use 1m to 365d`},
		{"set dhcp-server lan lease-time 1m1h", `line 1, column 32: "1m1h" is not a duration; use e.g. 12h, 30m or seconds`},
		{"set dhcp-server lan static my laptop mac aa:bb:cc:dd:ee:ff", `line 1, column 31: "laptop" is not valid here; use one of: mac, ip`},
		{"set dhcp-server lan static lap+top mac aa:bb:cc:dd:ee:ff", `line 1, column 28: "lap+top" is not a name; use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"set dhcp-server lan static laptop", `line 1, column 35: incomplete command after "laptop"; give one of: mac, ip`},
		{"set dhcp-server lan static laptop mac aa:bb:cc:dd:ee", `line 1, column 39: "aa:bb:cc:dd:ee" is not a MAC address; use six hex pairs like aa:bb:cc:dd:ee:ff`},
		{"set dhcp-server lan static laptop mac 01:00:5e:00:00:01", `line 1, column 39: 01:00:5e:00:00:01 is a multicast MAC address (odd first byte); a host's MAC has an even first byte`},
		{"set dhcp-server lan static laptop mac aa:bb:cc:dd:ee:ff mac aa:bb:cc:dd:ee:fe", `line 1, column 57: "mac" is already given in this command; each part may appear once`},
		{"set nat filtering full-cone", `line 1, column 19: "full-cone" is not valid here; use one of: endpoint-independent, address-dependent, address-port-dependent`},
		{"set nat timeout udp 0", `line 1, column 21: 0 is out of range; use 1 to 604800 seconds`},
		{"set nat timeout udp 30x", `line 1, column 21: "30x" is not a duration; use e.g. 12h, 30m or seconds`},
		{"set nat timeout tcp 100", `line 1, column 17: "tcp" is ambiguous; it could be tcp-established or tcp-transitory`},
		{"set nat hairpin on", `line 1, column 17: "on" is not valid here; use one of: enable, disable`},
		{"set nat mss-clamp 100", `line 1, column 19: 100 is out of range; use auto, disable or a number 536-9000`},
		{"set nat mss-clamp off", `line 1, column 19: "off" is not valid; use auto, disable or a number 536-9000`},
		{"set nat port-forward web protocol sctp", `line 1, column 35: "sctp" is not valid here; use one of: tcp, udp, tcp-udp`},
		{"set nat port-forward web p 80", `line 1, column 26: "p" is ambiguous; it could be protocol or port`},
		{"set nat port-forward web port 0", `line 1, column 31: "0" is not a port; use a number 1-65535 or a range like 8000-8010`},
		{"set nat port-forward web port 8010-8000", `line 1, column 31: port range 8010-8000 is reversed; give the lower port first (8000-8010)`},
		{"set nat port-forward web port 80 to 192.168.1.10 port 80 port 81", `line 1, column 58: "port" is already given in this command; each part may appear once`},
		{"set nat port-forward web port 80 foo", `line 1, column 34: "foo" is not valid here; use one of: protocol, to, or end the command`},
		{"set nat max-sessions -1", `line 1, column 22: "-1" is not a number; use 0-16777216`},
		{"set passthrough ipsec e", `line 1, column 23: "e" is ambiguous; it could be esp-mode or enable`},
		{"set passthrough ipsec esp-mode guess", `line 1, column 32: "guess" is not valid here; use one of: spi-learning, single-client`},
		{"set service ssh port 65536", `line 1, column 22: 65536 is out of range; use 1-65535`},
		{`set service ssh authorized-key admin "ssh-ed25519 AAAA... admin@laptop"`, `line 1, column 38: the key data of "ssh-ed25519" is not valid base64; paste one line of ~/.ssh/id_ed25519.pub, e.g. "ssh-ed25519 AAAAC3Nza... you@laptop"`},
		{`set service ssh authorized-key admin "ssh-dss AAAAB3NzaC1kc3M="`, `line 1, column 38: key type "ssh-dss" is not supported (options before the key type are not allowed either); use one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com`},
		{`set service ssh authorized-key admin "ssh-rsa ` + strings.Fields(keyLaptop)[1] + `"`, `line 1, column 38: the key data does not hold a ssh-rsa key; paste one line of ~/.ssh/id_ed25519.pub, e.g. "ssh-ed25519 AAAAC3Nza... you@laptop"`},
		{`set service ssh authorized-key admin`, `line 1, column 38: incomplete command after "admin"; give <"KEY"> (OpenSSH public key in quotes: "ssh-ed25519 AAAA... comment")`},
		{"set interfaces wan mtu 9217", `line 1, column 24: 9217 is out of range; use 576-9216`},
		{"set dhcp-server lan dns 127.0.0.1", `line 1, column 25: 127.0.0.1 is a loopback address; use a unicast host address`},
		{"set dhcp-server lan static a ip 255.255.255.255", `line 1, column 33: 255.255.255.255 is the broadcast address; use a unicast host address`},
		{"set dhcp-server lan static a mac 00:00:00:00:00:00", `line 1, column 34: 00:00:00:00:00:00 is not a host's MAC address; use the address printed on the device`},
		{"set nat port-forward web to 192.168.1", `line 1, column 29: "192.168.1" is not an IPv4 address; use four numbers 0-255 like 192.168.1.10`},
		{"set nat port-forward web to 192.168.1.10 port", `line 1, column 47: incomplete command after "port"; give <PORT[-PORT]> (internal port, e.g. 80 or 8000-8010)`},
		{"set nat dmz 240.0.0.1", `line 1, column 13: 240.0.0.1 is a reserved address (240.0.0.0/4); use a unicast host address`},
		{"set nat max-sessions-per-host 1048577", `line 1, column 31: 1048577 is out of range; use 0-1048576`},
		{"set nat timeout esp 8d", `line 1, column 21: 8d is out of range; use 1 to 604800 seconds`},
		{"set nat timeout gre 99999999999999", `line 1, column 21: 99999999999999 is out of range; use 1 to 604800 seconds`},
		{"set passthrough pptp yes", `line 1, column 22: "yes" is not valid here; use one of: enable, disable`},
		{"set passthrough l2tp", `line 1, column 22: incomplete command after "l2tp"; give one of: enable, disable`},
		{"set passthrough ipsec ike-share-port", `line 1, column 38: incomplete command after "ike-share-port"; give one of: enable, disable`},
		{"set service ssh listen both", `line 1, column 24: "both" is not valid here; use one of: lan, wan, all`},
		// Lexical errors.
		{"set system hostname pass\"gate\"", `line 1, column 25: unexpected " inside a word; quotes must surround a whole value`},
		{`set system admin password-hash "a"b`, `line 1, column 35: a closing quote must be followed by a space or the end of the line`},
		{`set system admin password-hash "a\nb"`, `line 1, column 34: a backslash inside quotes must be followed by " or \ (write \\ for a backslash)`},
		{"set system hostname a\x00", `line 1, column 22: control character U+0000 is not allowed`},
		{"set nat dmz 192.168.1.20 # \xff", `line 1, column 28: invalid UTF-8 byte; the file must be UTF-8 text`},
		{"set système hostname x", `line 1, column 5: "système" is not valid here; use one of: system, interfaces, dhcp-server, nat, firewall, qos, passthrough, dns, service`},
		{"set system hostname é", `line 1, column 21: "é" is not a hostname; use letters, digits and '-' (not first or last), e.g. passgate`},
		{`set nat "" x`, `line 1, column 9: "" is not valid here; use one of: filtering, timeout, hairpin, mss-clamp, port-forward, dmz, max-sessions, max-sessions-per-host`},
	}
	for _, tt := range tests {
		c, err := Parse(tt.text)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.text, tt.want)
			continue
		}
		if c != nil {
			t.Errorf("Parse(%q) returned a config with the error", tt.text)
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got  %s\n want %s", tt.text, err, tt.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.Line == 0 || e.Column == 0 {
			t.Errorf("Parse(%q): error %#v lacks line/column", tt.text, err)
		}
	}
}

// TestParseNoPartialConfig: an error on a late line fails the whole parse.
func TestParseNoPartialConfig(t *testing.T) {
	c, err := Parse("set nat hairpin disable\nset nat dmz 999.1.1.1\n")
	if err == nil || c != nil {
		t.Fatalf("got %v, %v; want nil config and an error", c, err)
	}
}

// TestArchitectureExample parses the configuration block of
// docs/architecture.md (with a real key in place of "AAAA...").
func TestArchitectureExample(t *testing.T) {
	text := `
set system hostname passgate
set interfaces lan device eth0
set interfaces lan address 192.168.1.1/24
set interfaces wan device eth1
set interfaces wan mode dhcp                 # or: mode static
set interfaces wan address 203.0.113.2/24    # static only
set interfaces wan gateway 203.0.113.1       # static only
set interfaces wan mtu 1500
set dhcp-server lan range 192.168.1.100 192.168.1.199
set dhcp-server lan lease-time 12h
set dhcp-server lan dns 192.168.1.1
set dhcp-server lan static laptop mac aa:bb:cc:dd:ee:ff ip 192.168.1.50
set nat filtering address-dependent          # endpoint-independent | address-dependent | address-port-dependent
set nat timeout udp 300
set nat timeout tcp-established 7440
set nat timeout tcp-transitory 240
set nat timeout icmp 60
set nat hairpin enable
set nat mss-clamp auto                       # or a number
set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80
set nat dmz 192.168.1.20
set passthrough pptp enable
set passthrough l2tp enable
set passthrough ipsec enable
set passthrough ipsec esp-mode spi-learning  # or: single-client
set service ssh listen lan
set service ssh authorized-key admin "` + keyLaptop + `"
`
	c := mustParse(t, text)
	want := Default()
	want.Interfaces.WAN.Address = prefix("203.0.113.2/24")
	want.Interfaces.WAN.Gateway = addr("203.0.113.1")
	want.DHCPServer.LAN.Static = []StaticLease{{"laptop", MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, addr("192.168.1.50")}}
	want.NAT.PortForwards = []PortForward{{"web", ProtoTCP, PortRange{8080, 8080}, addr("192.168.1.10"), PortRange{80, 80}}}
	want.NAT.DMZ = addr("192.168.1.20")
	want.Service.SSH.AuthorizedKeys = []AuthorizedKey{{"admin", keyLaptop}}
	if !c.Equal(want) {
		t.Fatalf("got\n%s\nwant\n%s", c, want)
	}
}

func TestTokenize(t *testing.T) {
	toks, err := Tokenize(`  set "a \"b\" \\ c"	x#y`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Text: "set", Col: 3, End: 6},
		{Text: `a "b" \ c`, Col: 7, End: 21, Quoted: true},
		{Text: "x", Col: 22, End: 23},
	}
	if !reflect.DeepEqual(toks, want) {
		t.Fatalf("got %+v\nwant %+v", toks, want)
	}
	if got := JoinWords([]string{"set", `a "b"`, "", "x#"}); got != `set "a \"b\"" "" "x#"` {
		t.Errorf("JoinWords: got %s", got)
	}
}
