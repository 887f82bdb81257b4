package main

import (
	"crypto/ed25519"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/passthrough"
	"github.com/passgate/passgate/pkg/updatefile"
)

const fullConfig = `
set interfaces lan device eth0
set interfaces lan address 10.1.0.1/16
set interfaces lan mtu 1500
set interfaces wan device eth1
set interfaces wan mtu 1492
set dhcp-server lan range 10.1.0.100 10.1.0.199
set dhcp-server lan lease-time 1h
set dhcp-server lan static printer mac 00:11:22:33:44:55 ip 10.1.0.51
set nat filtering address-port-dependent
set nat timeout udp 600
set nat timeout tcp-established 8000
set nat timeout tcp-transitory 300
set nat timeout icmp 90
set nat timeout gre 1200
set nat timeout esp 900
set nat hairpin disable
set nat mss-clamp 1400
set nat port-forward voip protocol tcp-udp port 5060 to 10.1.0.12 port 5061
set nat port-forward games protocol udp port 27015-27020 to 10.1.0.11
set nat dmz 10.1.0.20
set nat max-sessions 50000
set nat max-sessions-per-host 900
set passthrough pptp disable
set passthrough ipsec esp-mode single-client
set passthrough ipsec ike-share-port enable
`

func TestSettingsFromConfig(t *testing.T) {
	c, err := config.Parse(fullConfig)
	if err != nil {
		t.Fatal(err)
	}
	n := natConfig(c, 1<<30, 5)
	want := nat.Config{
		LAN: netip.MustParsePrefix("10.1.0.1/16"), Filtering: nat.AddressPortDependent,
		Timeouts: nat.Timeouts{UDP: 600 * time.Second, TCPEstablished: 8000 * time.Second, TCPTransitory: 300 * time.Second, ICMP: 90 * time.Second},
		Hairpin:  false, MSSClamp: 1400, WANMTU: 1492, LANMTU: 1500,
		PortForwards: []nat.PortForward{
			{Name: "games", Proto: 17, ExtStart: 27015, ExtEnd: 27020, Host: netip.MustParseAddr("10.1.0.11"), IntStart: 27015},
			{Name: "voip", Proto: 6, ExtStart: 5060, ExtEnd: 5060, Host: netip.MustParseAddr("10.1.0.12"), IntStart: 5061},
			{Name: "voip", Proto: 17, ExtStart: 5060, ExtEnd: 5060, Host: netip.MustParseAddr("10.1.0.12"), IntStart: 5061},
		},
		DMZ: netip.MustParseAddr("10.1.0.20"), MaxSessions: 50000, MaxSessionsPerHost: 900, Seed: 5,
	}
	if !slices.Equal(n.PortForwards, want.PortForwards) {
		t.Fatalf("forwards %+v", n.PortForwards)
	}
	n.PortForwards, want.PortForwards = nil, nil
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("nat config\n got %+v\nwant %+v", n, want)
	}
	if _, err := nat.New(natConfig(c, 1<<30, 5)); err != nil {
		t.Fatalf("engine refuses the mapped configuration: %v", err)
	}
	p := passthroughConfig(c)
	if p != (passthrough.Config{PPTP: false, L2TP: true, IPsec: true, ESPMode: passthrough.SingleClient, IKESharePort: true,
		GRETimeout: 1200 * time.Second, ESPTimeout: 900 * time.Second}) {
		t.Fatalf("passthrough %+v", p)
	}
	d, ok := dhcpdConfig(c, []netip.Addr{netip.MustParseAddr("9.9.9.9")})
	if !ok || d.ServerIP != netip.MustParseAddr("10.1.0.1") || d.Subnet != netip.MustParsePrefix("10.1.0.0/16") ||
		d.LeaseTime != time.Hour || len(d.Static) != 1 || d.Static[0].MAC.String() != "00:11:22:33:44:55" ||
		len(d.DNS) != 1 || d.DNS[0] != netip.MustParseAddr("10.1.0.1") {
		t.Fatalf("dhcpd %+v (with the DNS forwarder on, clients are given the router)", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	c.DNS.Forwarder = false
	if d, _ := dhcpdConfig(c, []netip.Addr{netip.MustParseAddr("9.9.9.9")}); len(d.DNS) != 1 || d.DNS[0] != netip.MustParseAddr("9.9.9.9") {
		t.Fatalf("forwarder off: clients get %v, want the WAN's 9.9.9.9", d.DNS)
	}
}

func TestDNSForwarderSettings(t *testing.T) {
	c := config.Default()
	c.DHCPServer.LAN.Static = []config.StaticLease{{Name: "Printer_1", IP: netip.MustParseAddr("192.168.1.20")}}
	c.DNS.Hosts = []config.DNSHost{{Name: "nas", Address: netip.MustParseAddr("192.168.1.5"), IPv6: netip.MustParseAddr("fd00::5")}}
	c.DNS.RebindAllow = []string{"corp.example"}
	wan := []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("192.168.1.1")}
	fc, of := dnsfwdConfig(c, wan, nil, nil)
	if of != "from the WAN" || len(fc.Upstreams) != 1 || fc.Upstreams[0] != netip.MustParseAddrPort("198.51.100.53:53") {
		t.Fatalf("upstreams %v (%s): the WAN's, never the router itself", fc.Upstreams, of)
	}
	if len(fc.Clients) != 2 || fc.Clients[0] != netip.MustParsePrefix("192.168.1.0/24") || !fc.RebindProtection ||
		!slices.Equal(fc.RebindAllow, []string{"corp.example"}) {
		t.Fatalf("clients %v rebind %v %v", fc.Clients, fc.RebindProtection, fc.RebindAllow)
	}
	names := map[string]int{}
	for _, h := range fc.Hosts {
		names[h.Name] = len(h.Addrs)
	}
	if names["passgate"] != 1 || names["printer-1"] != 1 || names["nas"] != 2 {
		t.Fatalf("hosts %+v", fc.Hosts)
	}
	if err := fc.Check(); err != nil {
		t.Fatal(err)
	}
	// IPv6: the LAN's prefixes may ask; the WAN's IPv6 servers follow the
	// IPv4 ones.
	ula := netip.MustParsePrefix("fd5a:1:2::/64")
	fc, _ = dnsfwdConfig(c, wan, []netip.Prefix{ula}, []netip.Addr{netip.MustParseAddr("2600:5::53")})
	if len(fc.Upstreams) != 2 || fc.Upstreams[1] != netip.MustParseAddrPort("[2600:5::53]:53") ||
		!slices.Contains(fc.Clients, ula) || !slices.Contains(fc.Clients, netip.MustParsePrefix("fe80::/10")) {
		t.Fatalf("with IPv6: upstreams %v clients %v", fc.Upstreams, fc.Clients)
	}
	// DNS over TLS alone: the WAN's servers are not asked (nothing in
	// clear text).
	c.DNS.TLSUpstreams = []config.DNSTLSUpstream{{Name: "quad9", Address: netip.MustParseAddr("9.9.9.9"), ServerName: "dns.quad9.net"}}
	fc, of = dnsfwdConfig(c, wan, nil, nil)
	if of != "configured" || len(fc.Upstreams) != 0 || len(fc.TLS) != 1 || fc.TLS[0].Addr != netip.MustParseAddrPort("9.9.9.9:853") || fc.TLS[0].ServerName != "dns.quad9.net" {
		t.Fatalf("tls upstream: plain %v tls %v (%s)", fc.Upstreams, fc.TLS, of)
	}
	c.DNS.TLSUpstreams = nil
	c.DNS.Upstream = []netip.Addr{netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("2620:fe::fe")}
	fc, of = dnsfwdConfig(c, wan, nil, nil)
	if of != "configured" || len(fc.Upstreams) != 2 || fc.Upstreams[1] != netip.MustParseAddrPort("[2620:fe::fe]:53") {
		t.Fatalf("configured upstreams %v (%s)", fc.Upstreams, of)
	}
}

func TestSettingsDefaults(t *testing.T) {
	c := config.Default()
	n := natConfig(c, 1<<30, 1)
	if n.MSSClamp != nat.MSSAuto || n.Filtering != nat.AddressDependent || !n.Hairpin ||
		n.MaxSessions != nat.MaxSessionsForMemory(1<<30) || n.Timeouts.UDP != 300*time.Second {
		t.Fatalf("defaults %+v", n)
	}
	if _, err := nat.New(n); err != nil {
		t.Fatal(err)
	}
	if p := passthroughConfig(c); !p.PPTP || !p.L2TP || !p.IPsec || p.ESPMode != passthrough.SPILearning {
		t.Fatalf("passthrough defaults %+v", p)
	}
	c.NAT.MSSClamp = config.MSSClampDisabled
	if natConfig(c, 1<<30, 1).MSSClamp != 0 {
		t.Fatal("disabled MSS clamp not mapped to 0")
	}
	// The table follows the RAM; RAM of unknown size counts as 1 GiB.
	for mem, want := range map[uint64]int{0: nat.MaxSessionsForMemory(1 << 30), 4 << 30: nat.MaxSessionsForMemory(4 << 30)} {
		if got := natConfig(c, mem, 1).MaxSessions; got != want {
			t.Errorf("memory %d: max sessions %d, want %d", mem, got, want)
		}
	}
}

func TestUpdateKeys(t *testing.T) {
	dir := t.TempDir()
	if got := updateKeys(filepath.Join(dir, "none.pem")); !strings.Contains(got, "built without an update signing key") {
		t.Errorf("no key file: %q", got)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	p := filepath.Join(dir, "keys.pem")
	os.WriteFile(p, updatefile.MarshalPublicKey(key.Public().(ed25519.PublicKey)), 0o644)
	if got, want := updateKeys(p), "signed with key "+updatefile.KeyID(key.Public().(ed25519.PublicKey)); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	os.WriteFile(p, []byte("garbage"), 0o644)
	if got := updateKeys(p); !strings.HasPrefix(got, "none accepted: ") {
		t.Errorf("a damaged key file: %q", got)
	}
}

// The NAT's WAN MTU in PPPoE mode: the PPP MTU from the configuration,
// lowered to the session's when the concentrator's MRU is smaller, never
// raised by it.
func TestWANMTUFollowsTheSession(t *testing.T) {
	c := config.Default()
	c.Interfaces.WAN.Mode = config.WANPPPoE
	c.Interfaces.WAN.PPPoE.Username, c.Interfaces.WAN.PPPoE.Password = "user", "pass"
	eng, err := nat.New(natConfig(c, 1<<30, 1))
	if err != nil {
		t.Fatal(err)
	}
	r := &router{eng: eng}
	for _, tc := range []struct{ link, want int }{{0, 1492}, {1480, 1480}, {1500, 1492}, {1492, 1492}} {
		r.wanLinkMTU = tc.link
		if got := r.natConfigLocked(c).WANMTU; got != tc.want {
			t.Errorf("session MTU %d: NAT WAN MTU %d, want %d", tc.link, got, tc.want)
		}
	}
	r.wanLinkMTU = 1480
	if _, err := nat.New(r.natConfigLocked(c)); err != nil {
		t.Fatal(err)
	}
}
