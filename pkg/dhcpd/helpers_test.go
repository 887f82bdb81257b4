package dhcpd

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// fakeClock is the injected clock; tests move it by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	serverIP  = netip.MustParseAddr("192.168.1.1")
	otherSrv  = netip.MustParseAddr("192.168.1.2")
	staticMAC = mustMAC("02:00:00:00:00:5e")
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// testConfig: 192.168.1.0/24, pool .100-.109, 12 h leases, one static
// lease .50 outside the pool.
func testConfig() Config {
	return Config{
		ServerIP:   serverIP,
		Subnet:     netip.MustParsePrefix("192.168.1.0/24"),
		RangeStart: ip("192.168.1.100"),
		RangeEnd:   ip("192.168.1.109"),
		LeaseTime:  12 * time.Hour,
		Router:     serverIP,
		DNS:        []netip.Addr{serverIP, ip("9.9.9.9")},
		Domain:     "lan",
		Static:     []StaticLease{{Name: "printer", MAC: staticMAC, IP: ip("192.168.1.50")}},
	}
}

type harness struct {
	t     *testing.T
	s     *Server
	clock *fakeClock
	logs  []string
}

func newHarness(t *testing.T, cfg Config, leaseFile string) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock()}
	h.s = h.newServer(cfg, leaseFile)
	return h
}

func (h *harness) newServer(cfg Config, leaseFile string) *Server {
	h.t.Helper()
	s, err := New(cfg, Options{
		LeaseFile: leaseFile,
		Now:       h.clock.Now,
		Logf:      func(f string, a ...any) { h.logs = append(h.logs, fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	return s
}

// client is a simulated DHCP client.
type client struct {
	mac      net.HardwareAddr
	clientID []byte
	hostname string
	xid      byte
	offer    *dhcpv4.DHCPv4 // last OFFER
	ack      *dhcpv4.DHCPv4 // last ACK
}

func newClient(mac string) *client { return &client{mac: mustMAC(mac)} }

func (c *client) msg(t dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	c.xid++
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		TransactionID: dhcpv4.TransactionID{c.mac[5], c.xid, 0, 1},
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		ClientHWAddr:  c.mac,
		Options:       dhcpv4.Options{},
	}
	m.UpdateOption(dhcpv4.OptMessageType(t))
	if c.clientID != nil {
		m.UpdateOption(dhcpv4.OptClientIdentifier(c.clientID))
	}
	if c.hostname != "" {
		m.UpdateOption(dhcpv4.OptHostName(c.hostname))
	}
	for _, f := range mods {
		f(m)
	}
	return m
}

func withRequested(a netip.Addr) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(toNetIP(a)))
}

func withServerID(a netip.Addr) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(toNetIP(a)))
}

func withCiaddr(a netip.Addr) dhcpv4.Modifier { return dhcpv4.WithClientIP(toNetIP(a)) }

func yiaddr(m *dhcpv4.DHCPv4) netip.Addr {
	if m == nil {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(m.YourIPAddr.To4())
	return a
}

// Message builders, each a state of RFC 2131 §4.3.2.

func (c *client) discover(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeDiscover, mods...)
}

// sid is the server identifier of m, or serverIP if m has none.
func sid(m *dhcpv4.DHCPv4) netip.Addr {
	if m != nil {
		if a, ok := netip.AddrFromSlice(m.ServerIdentifier().To4()); ok {
			return a
		}
	}
	return serverIP
}

// selecting requests the last offer from the server that made it.
func (c *client) selecting() *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeRequest, withRequested(yiaddr(c.offer)), withServerID(sid(c.offer)))
}

func (c *client) selectingOther() *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeRequest, withRequested(yiaddr(c.offer)), withServerID(otherSrv))
}

func (c *client) initReboot(a netip.Addr) *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeRequest, withRequested(a), dhcpv4.WithBroadcast(true))
}

func (c *client) renew() *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeRequest, withCiaddr(yiaddr(c.ack)))
}

func (c *client) rebind() *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeRequest, withCiaddr(yiaddr(c.ack)), dhcpv4.WithBroadcast(true))
}

func (c *client) decline() *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeDecline, withRequested(yiaddr(c.ack)), withServerID(sid(c.ack)))
}

func (c *client) release() *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeRelease, withCiaddr(yiaddr(c.ack)), withServerID(sid(c.ack)))
}

func (c *client) inform(a netip.Addr) *dhcpv4.DHCPv4 {
	return c.msg(dhcpv4.MessageTypeInform, withCiaddr(a))
}

// send passes m through the wire format and Handle, checks the reply is a
// well-formed reply to m, and records OFFERs and ACKs on the client.
func (h *harness) send(c *client, m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	h.t.Helper()
	return h.sendTo(h.s, c, m)
}

func (h *harness) sendTo(s *Server, c *client, m *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	h.t.Helper()
	reply, _ := s.HandlePacket(m.ToBytes())
	if reply == nil {
		return nil
	}
	wire, err := dhcpv4.FromBytes(reply.ToBytes())
	if err != nil {
		h.t.Fatalf("reply does not re-parse: %v", err)
	}
	if wire.OpCode != dhcpv4.OpcodeBootReply || wire.TransactionID != m.TransactionID ||
		wire.ClientHWAddr.String() != m.ClientHWAddr.String() {
		h.t.Fatalf("reply header does not match request: %s", wire.Summary())
	}
	if sid := wire.ServerIdentifier(); !sid.Equal(toNetIP(serverIP)) {
		h.t.Fatalf("reply server identifier %v, want %v", sid, serverIP)
	}
	switch wire.MessageType() {
	case dhcpv4.MessageTypeOffer:
		c.offer = wire
	case dhcpv4.MessageTypeAck:
		if m.MessageType() != dhcpv4.MessageTypeInform {
			c.ack = wire
		}
	}
	return wire
}

// dora runs DISCOVER, OFFER, REQUEST, ACK and returns the bound address.
func (h *harness) dora(c *client) netip.Addr {
	h.t.Helper()
	off := h.send(c, c.discover())
	if off.MessageType() != dhcpv4.MessageTypeOffer {
		h.t.Fatalf("DISCOVER from %v: got %v, want OFFER", c.mac, typeOf(off))
	}
	ack := h.send(c, c.selecting())
	if typeOf(ack) != dhcpv4.MessageTypeAck || yiaddr(ack) != yiaddr(off) {
		h.t.Fatalf("REQUEST from %v: got %v %v, want ACK %v", c.mac, typeOf(ack), yiaddr(ack), yiaddr(off))
	}
	return yiaddr(ack)
}

func typeOf(m *dhcpv4.DHCPv4) dhcpv4.MessageType {
	if m == nil {
		return dhcpv4.MessageTypeNone
	}
	return m.MessageType()
}

func (h *harness) lease(a netip.Addr) (Lease, bool) {
	for _, l := range h.s.Leases() {
		if l.IP == a {
			return l, true
		}
	}
	return Lease{}, false
}
