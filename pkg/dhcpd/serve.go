package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Listen opens the server's socket the way the router needs it: UDP port 67
// on all addresses, bound to device ifname (SO_BINDTODEVICE) with
// SO_BROADCAST, via server4.NewIPv4UDPConn. On the router ifname is the TAP
// interface "self0". It needs CAP_NET_RAW/CAP_NET_ADMIN for the device
// binding and CAP_NET_BIND_SERVICE for the port.
func Listen(ifname string) (net.PacketConn, error) {
	c, err := server4.NewIPv4UDPConn(ifname, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		return nil, fmt.Errorf("dhcpd: listen on %s port %d: %w", ifname, dhcpv4.ServerPort, err)
	}
	return c, nil
}

// ServeOptions adapt Serve to its socket.
type ServeOptions struct {
	// ClientPort is where replies go; 0 means 68. Tests on loopback use
	// their own port.
	ClientPort int
	// Broadcast is the address used for broadcast replies; the zero value
	// means 255.255.255.255 (the socket needs SO_BROADCAST, as Listen
	// sets). Tests on loopback use 127.0.0.1.
	Broadcast netip.Addr
	// Neighbor, if set, is called before a reply is unicast to a client
	// that has no address yet (DestUnicastHW), to install a neighbour
	// entry ip → hw so the kernel does not ARP for it (routerd does this
	// over netlink on self0). Without it, or if it fails, such replies are
	// broadcast, which RFC 2131 clients accept.
	Neighbor func(ip netip.Addr, hw net.HardwareAddr) error
}

// Serve reads DHCP messages from conn, which the caller has bound (see
// Listen), and answers them, one at a time, until ctx is done (it then
// returns nil) or reading fails. It does not close conn; after a
// cancellation conn is left with a read deadline in the past.
//
// We drive the socket ourselves rather than through server4.Server.Serve:
// that loop starts a goroutine per datagram (unbounded under a flood),
// drops unparsable messages without telling us (we count them) and
// addresses replies from the datagram's source, whereas RFC 2131 §4.1
// addresses them from the message (ReplyDestination).
func (s *Server) Serve(ctx context.Context, conn net.PacketConn, o ServeOptions) error {
	if o.ClientPort == 0 {
		o.ClientPort = dhcpv4.ClientPort
	}
	if !o.Broadcast.IsValid() {
		o.Broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, MaxMessageSize+1) // one more, to see oversized datagrams
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dhcpd: read from %v: %w", conn.LocalAddr(), err)
		}
		s.serveOne(conn, buf[:n], &o)
	}
}

func (s *Server) serveOne(conn net.PacketConn, b []byte, o *ServeOptions) {
	defer func() {
		// Handle is fuzzed not to panic; this is the last line of defence
		// so one bad datagram cannot stop DHCP on the LAN.
		if p := recover(); p != nil {
			s.mu.Lock()
			s.counters.Dropped++
			s.mu.Unlock()
			s.logf("dhcpd: BUG: panic handling a %d-byte message: %v\n%s", len(b), p, debug.Stack())
		}
	}()
	req, err := s.parse(b)
	if err != nil {
		s.logDrop(err)
		return
	}
	reply, err := s.Handle(req)
	if err != nil {
		s.logDrop(err)
	}
	if reply == nil {
		return
	}
	d := ReplyDestination(req, reply)
	ip, port := d.IP, o.ClientPort
	switch d.Kind {
	case DestBroadcast:
		ip = o.Broadcast
	case DestUnicastHW:
		if o.Neighbor == nil || o.Neighbor(d.IP, d.HW) != nil {
			ip = o.Broadcast
		}
	case DestRelay:
		port = d.Port // not reached: Handle drops relayed messages
	}
	to := &net.UDPAddr{IP: toNetIP(ip), Port: port}
	if _, err := conn.WriteTo(reply.ToBytes(), to); err != nil {
		s.mu.Lock()
		s.counters.SendErrors++
		s.mu.Unlock()
		s.logDrop(fmt.Errorf("dhcpd: send %v to %v: %w", reply.MessageType(), to, err))
	}
}

// logDrop logs err, at most once per dropInterval per kind, so a flood of
// junk cannot flood the log.
func (s *Server) logDrop(err error) {
	kind := "other"
	switch {
	case errors.Is(err, ErrMalformed):
		kind = "malformed"
	case errors.Is(err, ErrPoolExhausted):
		kind = "exhausted"
	}
	s.mu.Lock()
	n, ok := s.drops.allow(kind, time.Now())
	s.mu.Unlock()
	if ok {
		if n > 0 {
			s.logf("%v (and %d similar suppressed)", err, n)
		} else {
			s.logf("%v", err)
		}
	}
}

const dropInterval = 10 * time.Second

type rateLimiter struct {
	last       map[string]time.Time
	suppressed map[string]int
}

// allow reports whether a message of this kind may be logged now, and how
// many were suppressed since the last one. The caller holds Server.mu.
func (r *rateLimiter) allow(kind string, now time.Time) (int, bool) {
	if r.last == nil {
		r.last, r.suppressed = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := r.last[kind]; ok && now.Sub(t) < dropInterval {
		r.suppressed[kind]++
		return 0, false
	}
	n := r.suppressed[kind]
	r.last[kind], r.suppressed[kind] = now, 0
	return n, true
}
