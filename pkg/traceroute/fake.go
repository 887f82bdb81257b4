package traceroute

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Fake is an in-memory network for traces, the fake beside DialUDP: the
// routers at TTL 1, 2, ... and the target behind them. Use its Dial as
// Options.Dial.
type Fake struct {
	// Hops are the routers at TTL 1, 2, ...; an invalid address is one
	// that does not answer. A probe whose TTL goes beyond them reaches
	// the target, which answers port unreachable unless TargetSilent.
	Hops         []netip.Addr
	TargetSilent bool
	// Unreachable: the router at this TTL (from 1; 0: none) answers
	// net unreachable instead of Time Exceeded.
	Unreachable int
	// Stray: each probe also brings an ICMP error that is not about it
	// (another destination), which a trace must ignore.
	Stray bool
	// Delay is how long an answer takes.
	Delay time.Duration
	// DialErr, if set, is what Dial returns.
	DialErr error

	mu      sync.Mutex
	probes  int
	open    int
	maxOpen int
}

// Dial opens a Conn on the fake network.
func (f *Fake) Dial() (Conn, error) {
	if f.DialErr != nil {
		return nil, f.DialErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open++
	f.maxOpen = max(f.maxOpen, f.open)
	return &fakeConn{f: f, q: make(chan ICMPError, 64)}, nil
}

// Probes returns how many probes were sent on all Conns.
func (f *Fake) Probes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes
}

// MaxOpen returns how many Conns were open at once at most.
func (f *Fake) MaxOpen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxOpen
}

type fakeConn struct {
	f      *Fake
	mu     sync.Mutex
	q      chan ICMPError
	closed bool
}

func (c *fakeConn) Send(dst netip.AddrPort, ttl int, _ []byte) error {
	f := c.f
	f.mu.Lock()
	f.probes++
	f.mu.Unlock()
	var e ICMPError
	switch {
	case ttl <= len(f.Hops) && !f.Hops[ttl-1].IsValid():
		return nil
	case ttl == f.Unreachable:
		e = ICMPError{Offender: f.Hops[ttl-1], Type: icmpUnreachable, Code: 0}
	case ttl <= len(f.Hops):
		e = ICMPError{Offender: f.Hops[ttl-1], Type: icmpTimeExceeded}
	case f.TargetSilent:
		return nil
	default:
		e = ICMPError{Offender: dst.Addr(), Type: icmpUnreachable, Code: codePort}
	}
	e.Dst = dst
	time.AfterFunc(f.Delay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		if f.Stray {
			c.push(ICMPError{Offender: e.Offender, Dst: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.99"), dst.Port()), Type: icmpTimeExceeded})
			c.push(ICMPError{Offender: e.Offender, Dst: netip.AddrPortFrom(dst.Addr(), 53), Type: icmpTimeExceeded})
		}
		c.push(e)
	})
	return nil
}

func (c *fakeConn) push(e ICMPError) {
	select {
	case c.q <- e:
	default: // a full queue loses errors, as the kernel's does
	}
}

func (c *fakeConn) Recv(deadline time.Time) (ICMPError, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case e := <-c.q:
		return e, nil
	case <-t.C:
		return ICMPError{}, os.ErrDeadlineExceeded
	}
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("traceroute: fake conn closed twice")
	}
	c.closed = true
	c.f.mu.Lock()
	c.f.open--
	c.f.mu.Unlock()
	return nil
}
