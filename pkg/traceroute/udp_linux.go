package traceroute

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// udpConn is a UDP socket with IP_RECVERR: ICMP errors about its
// datagrams are queued on its error queue (MSG_ERRQUEUE) with the
// address of the router that sent them (SO_EE_OFFENDER). It is
// non-blocking and waits in poll(2) with a timeout, so it never hangs.
type udpConn struct{ fd int }

// DialUDP opens a probing socket in the caller's network namespace. It
// needs no privilege.
func DialUDP() (Conn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("traceroute: UDP socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("traceroute: IP_RECVERR: %w", err)
	}
	return &udpConn{fd: fd}, nil
}

func (c *udpConn) Send(dst netip.AddrPort, ttl int, payload []byte) error {
	if !dst.Addr().Is4() {
		return fmt.Errorf("traceroute: %v is not an IPv4 address", dst.Addr())
	}
	if err := unix.SetsockoptInt(c.fd, unix.IPPROTO_IP, unix.IP_TTL, ttl); err != nil {
		return fmt.Errorf("traceroute: TTL %d: %w", ttl, err)
	}
	sa := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	var err error
	for range 2 {
		// An ICMP error already queued is also the socket's pending
		// error, which a send would return instead of sending: take it
		// first (the error queue keeps the details).
		unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err = unix.Sendto(c.fd, payload, 0, sa); err == nil {
			return nil
		}
		if !errors.Is(err, unix.EHOSTUNREACH) && !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.ENETUNREACH) {
			break
		}
	}
	return fmt.Errorf("traceroute: send to %v with TTL %d: %w", dst, ttl, err)
}

func (c *udpConn) Recv(deadline time.Time) (ICMPError, error) {
	var buf [64]byte
	var oob [256]byte
	for {
		_, oobn, _, from, err := unix.Recvmsg(c.fd, buf[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err == nil {
			if e, ok := parseErrQueue(oob[:oobn]); ok {
				if sa, ok := from.(*unix.SockaddrInet4); ok {
					e.Dst = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
					return e, nil
				}
			}
			continue // a local error (too big, ...) or not about IPv4: next
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return ICMPError{}, fmt.Errorf("traceroute: reading the error queue: %w", err)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return ICMPError{}, os.ErrDeadlineExceeded
		}
		// Events 0: only POLLERR (the error queue) and POLLHUP wake it;
		// a datagram someone sends to the socket does not.
		fds := []unix.PollFd{{Fd: int32(c.fd)}}
		n, err := unix.Poll(fds, int((wait+time.Millisecond-1)/time.Millisecond))
		if err != nil && err != unix.EINTR {
			return ICMPError{}, fmt.Errorf("traceroute: poll: %w", err)
		}
		if n > 0 && fds[0].Revents&unix.POLLERR != 0 {
			// A pending error without a queued one would wake poll
			// again at once: clear it.
			unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		}
	}
}

func (c *udpConn) Close() error { return unix.Close(c.fd) }
