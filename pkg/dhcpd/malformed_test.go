package dhcpd

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// rawDiscover is a valid DISCOVER in wire form, for byte-level surgery.
func rawDiscover() []byte {
	return newClient("02:00:00:00:00:0a").discover().ToBytes()
}

func TestMalformedDropped(t *testing.T) {
	c := newClient("02:00:00:00:00:0a")
	mod := func(f func(m *dhcpv4.DHCPv4)) []byte {
		m := c.discover()
		f(m)
		return m.ToBytes()
	}
	raw := func(f func(b []byte) []byte) []byte { return f(rawDiscover()) }
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"empty", nil},
		{"junk", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"truncated header", rawDiscover()[:100]},
		{"no magic cookie", raw(func(b []byte) []byte { b[236] = 0; return b })},
		{"no end option", raw(func(b []byte) []byte { return bytes.TrimRight(b, "\x00")[:len(bytes.TrimRight(b, "\x00"))-1] })},
		{"option runs past the end", append(rawDiscover()[:240], 53, 200, 1)},
		{"wrong op (BOOTREPLY)", mod(func(m *dhcpv4.DHCPv4) { m.OpCode = dhcpv4.OpcodeBootReply })},
		{"hardware type not Ethernet", mod(func(m *dhcpv4.DHCPv4) { m.HWType = iana.HWTypeIEEE802 })},
		{"hlen 0", mod(func(m *dhcpv4.DHCPv4) { m.ClientHWAddr = nil })},
		{"hlen 16", mod(func(m *dhcpv4.DHCPv4) { m.ClientHWAddr = make(net.HardwareAddr, 16) })},
		{"hlen 255", raw(func(b []byte) []byte { b[2] = 255; return b })},
		{"multicast chaddr", mod(func(m *dhcpv4.DHCPv4) { m.ClientHWAddr = mustMAC("01:00:5e:00:00:01") })},
		{"zero chaddr", mod(func(m *dhcpv4.DHCPv4) { m.ClientHWAddr = make(net.HardwareAddr, 6) })},
		{"missing message type", mod(func(m *dhcpv4.DHCPv4) { m.Options.Del(dhcpv4.OptionDHCPMessageType) })},
		{"message type of 2 bytes", mod(func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionDHCPMessageType, []byte{1, 1}))
		})},
		{"unknown message type", mod(func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptMessageType(42)) })},
		{"OFFER from a client", mod(func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer)) })},
		{"relayed", mod(func(m *dhcpv4.DHCPv4) { m.GatewayIPAddr = net.IPv4(10, 0, 0, 1) })},
		{"requested address of 3 bytes", mod(func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionRequestedIPAddress, []byte{192, 168, 1}))
		})},
		{"server identifier of 5 bytes", mod(func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionServerIdentifier, []byte{192, 168, 1, 1, 1}))
		})},
		{"client identifier of 1 byte", mod(func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptClientIdentifier([]byte{1})) })},
		{"client identifier of 800 bytes (concatenated options)", mod(func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptClientIdentifier(bytes.Repeat([]byte{7}, 800)))
		})},
		{"message over 1500 bytes", mod(func(m *dhcpv4.DHCPv4) {
			m.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(224), bytes.Repeat([]byte{1}, 1400)))
		})},
		{"REQUEST naming no address", c.msg(dhcpv4.MessageTypeRequest).ToBytes()},
		{"REQUEST with server id and nothing else", c.msg(dhcpv4.MessageTypeRequest, withServerID(serverIP)).ToBytes()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), "")
			reply, err := h.s.HandlePacket(tc.pkt)
			if reply != nil {
				t.Fatalf("got a reply: %s", reply.Summary())
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
			if got := h.s.Counters(); got.Dropped != 1 || got.Offers != 0 {
				t.Errorf("counters %+v, want one drop and no offer", got)
			}
			if n := len(h.s.Leases()); n != 0 {
				t.Errorf("a dropped message left %d leases", n)
			}
		})
	}
	// The same checks hold for messages handed over already parsed.
	h := newHarness(t, testConfig(), "")
	for _, m := range []*dhcpv4.DHCPv4{nil, {}, {OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, ClientHWAddr: c.mac}} {
		if r, err := h.s.Handle(m); r != nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("Handle(%v) = %v, %v", m, r, err)
		}
	}
	m := c.discover()
	m.ClientIPAddr = net.IP{1, 2, 3} // neither 4 nor 16 bytes
	if r, err := h.s.Handle(m); r != nil || !errors.Is(err, ErrMalformed) {
		t.Errorf("Handle with a 3-byte ciaddr = %v, %v", r, err)
	}
}

func TestReplyDestination(t *testing.T) {
	mac := mustMAC("02:00:00:00:00:0a")
	bcast := Destination{Kind: DestBroadcast, IP: ip("255.255.255.255"), Port: 68}
	req := func(ciaddr, giaddr string, broadcast bool) *dhcpv4.DHCPv4 {
		c := &client{mac: mac}
		m := c.msg(dhcpv4.MessageTypeRequest, dhcpv4.WithBroadcast(broadcast))
		if ciaddr != "" {
			m.ClientIPAddr = net.ParseIP(ciaddr)
		}
		if giaddr != "" {
			m.GatewayIPAddr = net.ParseIP(giaddr)
		}
		return m
	}
	reply := func(t dhcpv4.MessageType, yiaddr string) *dhcpv4.DHCPv4 {
		m := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootReply, YourIPAddr: net.ParseIP(yiaddr), Options: dhcpv4.Options{}}
		m.UpdateOption(dhcpv4.OptMessageType(t))
		return m
	}
	tests := []struct {
		name       string
		req, reply *dhcpv4.DHCPv4
		want       Destination
	}{
		{"relay", req("", "10.0.0.1", false), reply(offer, "192.168.1.100"),
			Destination{Kind: DestRelay, IP: ip("10.0.0.1"), Port: 67}},
		{"NAK is broadcast even to a configured client", req("192.168.1.100", "", false), reply(nak, "0.0.0.0"), bcast},
		{"renewing: unicast to ciaddr", req("192.168.1.100", "", false), reply(ack, "192.168.1.100"),
			Destination{Kind: DestUnicast, IP: ip("192.168.1.100"), Port: 68}},
		{"ciaddr wins over the broadcast bit (rebinding)", req("192.168.1.100", "", true), reply(ack, "192.168.1.100"),
			Destination{Kind: DestUnicast, IP: ip("192.168.1.100"), Port: 68}},
		{"broadcast bit", req("", "", true), reply(offer, "192.168.1.100"), bcast},
		{"no broadcast bit: unicast to yiaddr at chaddr", req("", "", false), reply(offer, "192.168.1.100"),
			Destination{Kind: DestUnicastHW, IP: ip("192.168.1.100"), Port: 68, HW: mac}},
		{"INFORM without ciaddr", req("", "", false), reply(ack, "0.0.0.0"), bcast},
		{"nil", nil, nil, bcast},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ReplyDestination(tc.req, tc.reply)
			if got.Kind != tc.want.Kind || got.IP != tc.want.IP || got.Port != tc.want.Port || !bytes.Equal(got.HW, tc.want.HW) {
				t.Errorf("got %v %v:%d %v, want %v %v:%d %v", got.Kind, got.IP, got.Port, got.HW, tc.want.Kind, tc.want.IP, tc.want.Port, tc.want.HW)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil {
		t.Error("zero Config accepted")
	}
	good := testConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(c *Config)
	}{
		{"IPv6 subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("fd00::/64") }},
		{"/31 subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("192.168.1.0/31") }},
		{"server outside subnet", func(c *Config) { c.ServerIP = ip("10.0.0.1") }},
		{"server is the broadcast address", func(c *Config) { c.ServerIP = ip("192.168.1.255") }},
		{"range start outside subnet", func(c *Config) { c.RangeStart = ip("192.168.2.100") }},
		{"range end is the broadcast address", func(c *Config) { c.RangeEnd = ip("192.168.1.255") }},
		{"range reversed", func(c *Config) { c.RangeStart, c.RangeEnd = c.RangeEnd, c.RangeStart }},
		{"range contains the server", func(c *Config) { c.RangeStart = ip("192.168.1.1") }},
		{"range too large", func(c *Config) {
			c.Subnet = netip.MustParsePrefix("10.0.0.0/8")
			c.ServerIP, c.RangeStart, c.RangeEnd = ip("10.0.0.1"), ip("10.0.0.2"), ip("10.2.0.0")
			c.Static = nil
		}},
		{"lease too short", func(c *Config) { c.LeaseTime = time.Second }},
		{"router IPv6", func(c *Config) { c.Router = ip("fe80::1") }},
		{"dns IPv6", func(c *Config) { c.DNS = []netip.Addr{ip("::1")} }},
		{"static MAC short", func(c *Config) { c.Static[0].MAC = c.Static[0].MAC[:5] }},
		{"static MAC multicast", func(c *Config) { c.Static[0].MAC = mustMAC("01:00:00:00:00:01") }},
		{"static IP outside subnet", func(c *Config) { c.Static[0].IP = ip("10.0.0.5") }},
		{"static IP is the server", func(c *Config) { c.Static[0].IP = serverIP }},
		{"static MAC twice", func(c *Config) {
			c.Static = append(c.Static, StaticLease{Name: "dup", MAC: staticMAC, IP: ip("192.168.1.51")})
		}},
		{"static IP twice", func(c *Config) {
			c.Static = append(c.Static, StaticLease{Name: "dup", MAC: mustMAC("02:00:00:00:00:77"), IP: ip("192.168.1.50")})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if _, nerr := New(c, Options{}); nerr == nil {
				t.Error("New accepted it")
			}
			t.Log(err)
		})
	}
	// IPv4-mapped addresses and a prefix with host bits are normalised.
	c := testConfig()
	c.ServerIP = netip.AddrFrom16(serverIP.As16())
	c.Subnet = netip.MustParsePrefix("192.168.1.77/24")
	s, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Config(); got.ServerIP != serverIP || got.Subnet.String() != "192.168.1.0/24" {
		t.Errorf("normalised config %v %v", got.ServerIP, got.Subnet)
	}
}

// checkInvariants checks the lease table's internal consistency.
func checkInvariants(t testing.TB, s *Server) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, b := range s.byIP {
		if b.ip != a {
			t.Fatalf("byIP[%v] holds a binding for %v", a, b.ip)
		}
		switch b.state {
		case StateDeclined:
			if b.key != "" {
				t.Fatalf("declined %v has a client", a)
			}
		case StateOffered, StateBound:
			if s.byClient[b.key] != b {
				t.Fatalf("binding %v is not its client's", a)
			}
			if !s.validFor(a, b.mac) {
				t.Fatalf("binding %v is not valid for %v", a, b.mac)
			}
		default:
			t.Fatalf("binding %v in state %q", a, b.state)
		}
	}
	for k, b := range s.byClient {
		if b.key != k || s.byIP[b.ip] != b {
			t.Fatalf("byClient[%q] → %v is not in byIP", k, b.ip)
		}
	}
}
