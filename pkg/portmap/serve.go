package portmap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"time"
)

// Port is the port NAT-PMP and PCP servers listen on (RFC 6886 §3,
// RFC 6887 §19.1); clients listen for announcements on Port-1.
const Port = 5351

// Serve reads requests from conn, which the caller has bound (on the
// router: UDP port 5351 on self0's LAN address), and answers each from
// Handle, one at a time, until ctx is done (it then returns nil) or
// reading fails. clock gives the time of each request (nil: time.Now).
// Serve does not close conn; after a cancellation conn is left with a
// read deadline in the past. It does not expire mappings on its own: the
// caller calls Expire (at NextExpiry), although Handle expires what it
// meets.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn, clock func() time.Time) error {
	if clock == nil {
		clock = time.Now
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, PCPMaxSize+1) // one more, to see oversized requests
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("portmap: read from %v: %w", conn.LocalAddr(), err)
		}
		ua, isUDP := from.(*net.UDPAddr)
		if !isUDP {
			continue
		}
		s.serveOne(conn, buf[:n], ua.AddrPort(), clock())
	}
}

func (s *Server) serveOne(conn net.PacketConn, b []byte, from netip.AddrPort, now time.Time) {
	defer func() {
		// Handle is fuzzed not to panic; this is the last line of defence
		// so one bad datagram cannot stop port mapping on the LAN.
		if p := recover(); p != nil {
			s.logf("portmap: BUG: panic handling %d bytes from %v: %v\n%s", len(b), from, p, debug.Stack())
		}
	}()
	resp := s.Handle(b, from, now)
	if resp == nil {
		return
	}
	if _, err := conn.WriteTo(resp, net.UDPAddrFromAddrPort(from)); err != nil {
		s.logf("portmap: send %d bytes to %v: %v", len(resp), from, err)
	}
}
