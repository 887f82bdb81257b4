package shell

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

func TestDiagnoseVPN(t *testing.T) {
	public := []netip.Prefix{netip.MustParsePrefix("203.0.113.2/24")}
	host := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	cfg := func(edit func(c *config.Config)) *config.Config {
		c := config.Default()
		if edit != nil {
			edit(c)
		}
		return c
	}
	answered := PassthroughSession{Protocol: "gre", Host: host("192.168.1.10"), Server: host("198.51.100.1"), Age: time.Minute, PacketsOut: 90, PacketsIn: 80}
	tests := []struct {
		name string
		v    vpnView
		want []string // a substring of each finding's headline, in order
	}{
		{"all well", vpnView{cfg: cfg(nil), wan: public, pt: Passthrough{Sessions: []PassthroughSession{answered}}}, nil},
		{"no WAN address", vpnView{cfg: cfg(nil)}, []string{"no IPv4 address on the WAN"}},
		{"double NAT", vpnView{cfg: cfg(nil), wan: []netip.Prefix{netip.MustParsePrefix("192.168.0.23/24")}}, []string{"double NAT"}},
		{"carrier-grade NAT", vpnView{cfg: cfg(nil), wan: []netip.Prefix{netip.MustParsePrefix("100.72.1.9/10")}}, []string{"carrier-grade NAT"}},
		{"IPv6 only beside a public IPv4", vpnView{cfg: cfg(nil), wan: append(public, netip.MustParsePrefix("2600:5::2/64"))}, nil},
		{"a switch off while clients try", vpnView{cfg: cfg(nil), wan: public, pt: Passthrough{Protocols: []PassthroughProtocol{
			{Name: "pptp", Enabled: false, Blocked: 12}, {Name: "l2tp", Enabled: false}, {Name: "ipsec", Enabled: true, Blocked: 3}}}},
			[]string{"pptp passthrough is off, and LAN clients are trying PPTP"}},
		{"single-client ESP with two clients", vpnView{cfg: cfg(func(c *config.Config) { c.Passthrough.IPsec.ESPMode = config.ESPSingleClient }), wan: public,
			pt: Passthrough{Sessions: []PassthroughSession{{Protocol: "ike", Host: host("192.168.1.10")}, {Protocol: "esp", Host: host("192.168.1.11")}}}},
			[]string{"single-client mode, and 2 LAN clients"}},
		{"single-client ESP with one client", vpnView{cfg: cfg(func(c *config.Config) { c.Passthrough.IPsec.ESPMode = config.ESPSingleClient }), wan: public,
			pt: Passthrough{Sessions: []PassthroughSession{{Protocol: "ike", Host: host("192.168.1.10")}, {Protocol: "esp", Host: host("192.168.1.10")}}}}, nil},
		{"forwards over VPN ports", vpnView{cfg: cfg(func(c *config.Config) {
			c.NAT.PortForwards = []config.PortForward{
				{Name: "game", Protocol: config.ProtoUDP, Port: config.PortRange{First: 400, Last: 600}, To: host("192.168.1.40")},
				{Name: "pptp-server", Protocol: config.ProtoTCP, Port: config.PortRange{First: 1723, Last: 1723}, To: host("192.168.1.41")},
				{Name: "web", Protocol: config.ProtoTCPUDP, Port: config.PortRange{First: 443, Last: 443}, To: host("192.168.1.42")},
				{Name: "tcp-4500", Protocol: config.ProtoTCP, Port: config.PortRange{First: 4500, Last: 4500}, To: host("192.168.1.43")},
			}
			c.NAT.DMZ = host("192.168.1.50")
		}), wan: public}, []string{`"game" takes IKE (UDP 500)`, `"pptp-server" takes PPTP (TCP 1723)`, "DMZ host 192.168.1.50"}},
		{"tunnels nobody answers", vpnView{cfg: cfg(nil), wan: public, pt: Passthrough{Sessions: []PassthroughSession{
			answered,
			{Protocol: "gre", Host: host("192.168.1.20"), Server: host("198.51.100.7"), Age: 45 * time.Second, PacketsOut: 12},
			{Protocol: "esp", Host: host("192.168.1.21"), Server: host("192.0.2.9"), Age: 30 * time.Second, PacketsOut: 40},
			{Protocol: "ike", Host: host("192.168.1.22"), Server: host("192.0.2.10"), Age: 3 * time.Second, PacketsOut: 6}, // too young
			{Protocol: "nat-t", Host: host("192.168.1.23"), Server: host("192.0.2.11"), Age: time.Minute, PacketsOut: 2},   // too few
		}}}, []string{"no GRE (IP protocol 47) has come back from 198.51.100.7 to 192.168.1.20", "no ESP (IP protocol 50) has come back from 192.0.2.9 to 192.168.1.21"}},
		{"session table nearly full", vpnView{cfg: cfg(nil), wan: public, sessions: []Counter{{Name: "current", Value: 950}, {Name: "limit", Value: 1000}}},
			[]string{"nearly full"}},
		{"session table with room", vpnView{cfg: cfg(nil), wan: public, sessions: []Counter{{Name: "current", Value: 850}, {Name: "limit", Value: 1000}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := diagnoseVPN(tc.v)
			if len(got) != len(tc.want) {
				t.Fatalf("%d findings, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, f := range got {
				if !strings.Contains(f.Problem, tc.want[i]) {
					t.Errorf("finding %d: %q, want %q", i, f.Problem, tc.want[i])
				}
				if f.Evidence == "" || f.Action == "" {
					t.Errorf("finding %d without evidence or action: %+v", i, f)
				}
			}
		})
	}
}

// TestDiagnoseMTU: each kind of tunnel MTU trouble gives a finding naming
// the client and server, with when, and the MTU the client should use.
func TestDiagnoseMTU(t *testing.T) {
	public := []netip.Prefix{netip.MustParsePrefix("203.0.113.2/24")}
	at := time.Date(2026, 12, 4, 10, 11, 12, 0, time.Local)
	for _, c := range []struct {
		m    TunnelMTU
		want []string
	}{
		{TunnelMTU{TooBig: true, Host: netip.MustParseAddr("192.168.1.20"), Server: netip.MustParseAddr("198.51.100.7"), Proto: "udp", Port: 4500, Size: 1448, MTU: 1400, Count: 3, Last: at},
			[]string{"ESP in UDP 4500 (NAT-T) packets from 192.168.1.20 to 198.51.100.7 are too big for the WAN link (MTU 1400)",
				"3 packets of up to 1448 bytes", "2026-12-04 10:11:12", "set the VPN client's MTU to 1310"}},
		{TunnelMTU{Server: netip.MustParseAddr("198.51.100.9"), Proto: "esp", Size: 1380, Count: 7, Last: at},
			[]string{"ESP packets from 198.51.100.9 to this router arrive in fragments", "the first fragment 1380 bytes", "set the VPN client's MTU to 1300"}},
		{TunnelMTU{TooBig: true, Host: netip.MustParseAddr("192.168.1.21"), Server: netip.MustParseAddr("198.51.100.8"), Proto: "udp", Port: 500, Size: 1700, MTU: 1492, Count: 1, Last: at},
			[]string{"IKE (UDP 500) packets", "turn on IKE fragmentation"}},
		{TunnelMTU{TooBig: true, Host: netip.MustParseAddr("192.168.1.22"), Server: netip.MustParseAddr("198.51.100.6"), Proto: "udp", Port: 51820, Size: 1500, MTU: 1492, Count: 1, Last: at},
			[]string{"WireGuard", "MTU to 1410"}},
	} {
		fs := diagnoseVPN(vpnView{cfg: config.Default(), wan: public, pt: Passthrough{MTU: []TunnelMTU{c.m}}})
		if len(fs) != 1 {
			t.Fatalf("%+v: findings %+v", c.m, fs)
		}
		all := fs[0].Problem + " | " + fs[0].Evidence + " | " + fs[0].Action
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("finding %q lacks %q", all, w)
			}
		}
	}
}

// TestDiagnoseTrace: a router in the ISPs' shared space beyond the
// gateway is carrier-grade NAT whatever the WAN address; a private one
// there is evidence only when the WAN address is private too; a trace
// nobody answered says nothing.
func TestDiagnoseTrace(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 11, 12, 0, time.Local)
	trace := func(hops ...string) *WANTrace {
		tr := &WANTrace{Target: netip.MustParseAddr("9.9.9.9"), At: at}
		for i, h := range hops {
			th := TraceHop{Hop: i + 1}
			if h != "*" {
				th.Addr = netip.MustParseAddr(h)
			}
			tr.Hops = append(tr.Hops, th)
		}
		return tr
	}
	public := []netip.Prefix{netip.MustParsePrefix("198.51.100.2/24")}
	private := []netip.Prefix{netip.MustParsePrefix("192.168.0.23/24")}
	shared := []netip.Prefix{netip.MustParsePrefix("100.72.1.9/10")}
	for _, c := range []struct {
		name  string
		wan   []netip.Prefix
		trace *WANTrace
		want  []string // per finding: its headline, then words its evidence holds
	}{
		{"public, clean path", public, trace("198.51.100.1", "203.0.113.5", "203.0.113.9"), nil},
		{"public, CGNAT at hop 2", public, trace("198.51.100.1", "100.64.9.2", "*"),
			[]string{"carrier-grade NAT beyond the gateway", "hop 2 (hop 1 is the gateway) answered from 100.64.9.2", "2026-12-04 10:11:12", "hop 3 no answer"}},
		{"public, CGNAT at hop 3", public, trace("198.51.100.1", "10.0.0.1", "100.127.0.1"),
			[]string{"carrier-grade NAT beyond the gateway", "hop 3 (hop 1 is the gateway) answered from 100.127.0.1"}},
		{"public, private ISP routers", public, trace("198.51.100.1", "10.0.0.1", "172.16.5.5"), nil},
		{"public, the gateway in the shared space", public, trace("100.64.0.1", "203.0.113.5", "*"), nil},
		{"public, nobody answers", public, trace("*", "*", "*"), nil},
		{"public, no trace", public, nil, nil},
		{"private, private beyond", private, trace("192.168.0.1", "10.10.0.1", "*"),
			[]string{"double NAT", "the WAN address 192.168.0.23 is private", "a traceroute from the router towards 9.9.9.9 at 2026-12-04 10:11:12: hop 1 192.168.0.1, hop 2 10.10.0.1, hop 3 no answer"}},
		{"private, CGNAT beyond", private, trace("192.168.0.1", "100.64.9.2", "*"),
			[]string{"double NAT", "hop 2 100.64.9.2"}, // and then:
		},
		{"private, nobody answers", private, trace("*", "*", "*"), []string{"double NAT"}},
		{"shared WAN, shared beyond: said once", shared, trace("100.64.0.1", "100.64.9.2", "*"),
			[]string{"carrier-grade NAT: the ISP translates", "the WAN address 100.72.1.9", "hop 2 100.64.9.2"}},
		{"no WAN address", nil, trace("100.64.0.1", "100.64.9.2", "*"), []string{"no IPv4 address on the WAN"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := diagnoseVPN(vpnView{cfg: config.Default(), wan: c.wan, trace: c.trace})
			wantN := 0
			if c.want != nil {
				wantN = 1
			}
			if c.name == "private, CGNAT beyond" {
				wantN = 2
			}
			if len(fs) != wantN {
				t.Fatalf("%d findings, want %d: %+v", len(fs), wantN, fs)
			}
			if wantN == 0 {
				return
			}
			if !strings.Contains(fs[0].Problem, c.want[0]) {
				t.Errorf("headline %q, want %q", fs[0].Problem, c.want[0])
			}
			for _, w := range c.want[1:] {
				if !strings.Contains(fs[0].Evidence, w) {
					t.Errorf("evidence %q lacks %q", fs[0].Evidence, w)
				}
			}
			for _, f := range fs {
				if strings.Contains(f.Problem, "carrier-grade") && f.Action != cgnatAction {
					t.Errorf("%q: action %q, want the carrier-grade NAT one", f.Problem, f.Action)
				}
			}
			if wantN == 2 && !strings.Contains(fs[1].Problem, "carrier-grade NAT beyond the gateway") {
				t.Errorf("second finding %q", fs[1].Problem)
			}
		})
	}
}
