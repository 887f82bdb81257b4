package wan

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// ------------------------------------------------------------ reply builders

// replyTo builds a server reply to req of type t from server, offering yi,
// with a 1 h lease in a /24, router and DNS; mods adjust it.
func replyTo(req *dhcpv4.DHCPv4, t dhcpv4.MessageType, server, yi netip.Addr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(t),
		dhcpv4.WithServerIP(server.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server.AsSlice())),
	}
	if t != dhcpv4.MessageTypeNak {
		base = append(base,
			dhcpv4.WithYourIP(yi.AsSlice()),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Hour)),
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
			dhcpv4.WithOption(dhcpv4.OptRouter(server.AsSlice())),
			dhcpv4.WithOption(dhcpv4.OptDNS(ispDNS[0].AsSlice(), ispDNS[1].AsSlice())),
		)
	}
	r, err := dhcpv4.NewReplyFromRequest(req, append(base, mods...)...)
	if err != nil {
		panic(err)
	}
	return r
}

func offerFor(req *dhcpv4.DHCPv4, server, yi netip.Addr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	return replyTo(req, dhcpv4.MessageTypeOffer, server, yi, mods...)
}

func ackFor(req *dhcpv4.DHCPv4, server, yi netip.Addr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	return replyTo(req, dhcpv4.MessageTypeAck, server, yi, mods...)
}

func nakFor(req *dhcpv4.DHCPv4, server netip.Addr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	return replyTo(req, dhcpv4.MessageTypeNak, server, netip.Addr{}, mods...)
}

func optMTU(mtu int) dhcpv4.Option {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(mtu))
	return dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, b[:])
}

// ------------------------------------------------------------ server4 ISP

// server4ISP is insomniacslk's server4.Server, running its own Serve loop
// over an in-memory net.PacketConn, with a handler playing a small ISP
// server that gives out whatever address the test sets, even on renewal.
type server4ISP struct {
	t    *testing.T
	ip   netip.Addr
	hw   net.HardwareAddr
	conn *memConn

	mu      sync.Mutex
	give    netip.Addr
	mtu     int
	replies [][]byte
	wg      sync.WaitGroup
}

func newServer4(t *testing.T, ip netip.Addr) *server4ISP {
	s := &server4ISP{t: t, ip: ip, hw: net.HardwareAddr{0x02, 0x54, 0, 0, 0, ip.As4()[3]}}
	s.conn = &memConn{
		in:     make(chan memPacket),
		closed: make(chan struct{}),
		local:  &net.UDPAddr{IP: ip.AsSlice(), Port: 67},
		write:  s.write,
	}
	srv, err := server4.NewServer("", nil, s.handler, server4.WithConn(s.conn))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

func (s *server4ISP) set(a netip.Addr, mtu int) {
	s.mu.Lock()
	s.give, s.mtu = a, mtu
	s.mu.Unlock()
}

func (s *server4ISP) addr() netip.Addr      { return s.ip }
func (s *server4ISP) mac() net.HardwareAddr { return s.hw }

// handle feeds req to server4's Serve loop and waits until the handler it
// starts (in a goroutine of its own) has finished.
func (s *server4ISP) handle(t *testing.T, req *dhcpv4.DHCPv4) [][]byte {
	src := net.IPv4zero.To4()
	if !req.ClientIPAddr.IsUnspecified() {
		src = req.ClientIPAddr
	}
	s.wg.Add(1)
	select {
	case s.conn.in <- memPacket{b: req.ToBytes(), from: &net.UDPAddr{IP: src, Port: 68}}:
	case <-time.After(5 * time.Second):
		t.Error("server4 does not read")
		return nil
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("server4 handler did not finish")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.replies
	s.replies = nil
	return out
}

func (s *server4ISP) handler(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	defer s.wg.Done()
	s.mu.Lock()
	give, mtu := s.give, s.mtu
	s.mu.Unlock()
	var r *dhcpv4.DHCPv4
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		r = offerFor(m, s.ip, give, dhcpv4.WithOption(optMTU(mtu)))
	case dhcpv4.MessageTypeRequest:
		r = ackFor(m, s.ip, give, dhcpv4.WithOption(optMTU(mtu)))
	default:
		return
	}
	if _, err := conn.WriteTo(r.ToBytes(), peer); err != nil {
		s.t.Errorf("server4 write: %v", err)
	}
}

// write turns what the handler writes to peer into a frame: broadcast, or
// unicast to the client's hardware address.
func (s *server4ISP) write(b []byte, to net.Addr) {
	u := to.(*net.UDPAddr)
	dst, _ := netip.AddrFromSlice(u.IP.To4())
	dstMAC := broadcastMAC
	if dst != bcastIP {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			s.t.Errorf("server4 wrote garbage: %v", err)
			return
		}
		dstMAC = m.ClientHWAddr
	}
	s.mu.Lock()
	s.replies = append(s.replies, replyFrame(s.hw, dstMAC, s.ip, dst, u.Port, b))
	s.mu.Unlock()
}

type memPacket struct {
	b    []byte
	from net.Addr
}

// memConn is a net.PacketConn whose reads come from a channel and whose
// writes go to a function.
type memConn struct {
	in     chan memPacket
	closed chan struct{}
	once   sync.Once
	local  net.Addr
	write  func(b []byte, to net.Addr)
}

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p.b), p.from, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *memConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if _, ok := addr.(*net.UDPAddr); !ok {
		return 0, errors.New("not a UDP address")
	}
	c.write(b, addr)
	return len(b), nil
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return c.local }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
