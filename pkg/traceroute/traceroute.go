// Package traceroute finds the first few routers on the way from the
// router itself towards a public address: the troubleshooter's look at
// the hops just beyond the WAN gateway (issue #18).
//
// A probe is a UDP datagram with a small TTL sent from an ordinary kernel
// socket with IP_RECVERR: the ICMP Time Exceeded or Destination
// Unreachable it provokes comes back on the socket's error queue with the
// address of the router that sent it. No raw socket, no CAP_NET_RAW, no
// sysctl (an ICMP "ping" socket would need net.ipv4.ping_group_range). On
// the router the socket is routerd's own stack (self0): the probes are
// NAPT-ed like a LAN host's and the ICMP errors translated back, so the
// data plane is not involved beyond forwarding a handful of packets.
//
// A trace is bounded: at most MaxHops TTLs, every TTL of a round sent at
// once, at most Rounds rounds (unanswered TTLs only) of ProbeTimeout each.
// Tracer runs one trace at a time and keeps its result for MaxAge.
package traceroute

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// DefaultTarget is where probes go unless told otherwise: Quad9's anycast
// resolver, an address that stays public and routed everywhere. Only
// the first few hops matter, so any public address would do; the probes
// go to UDP ports 33434 and up, which the resolver does not serve.
var DefaultTarget = netip.MustParseAddr("9.9.9.9")

// Bounds and defaults.
const (
	DefaultHops         = 3
	MaxHops             = 8
	DefaultProbeTimeout = time.Second
	MaxProbeTimeout     = 3 * time.Second
	DefaultRounds       = 2
	MaxRounds           = 3
	DefaultMaxAge       = 30 * time.Second
	// BasePort is the first destination port (traceroute's): the probe
	// of round r and TTL t goes to BasePort + r*MaxHops + t - 1, so a
	// late answer is still told apart.
	BasePort = 33434
)

// Hop is what one TTL found.
type Hop struct {
	TTL  int
	Addr netip.Addr // the router (or the target) that answered; invalid: no answer
	RTT  time.Duration
	// Reached: the target itself answered (port unreachable), the trace
	// ends here. Unreachable: a router said the target cannot be
	// reached (another Destination Unreachable), the trace ends here too.
	Reached, Unreachable bool
}

// Result is one trace: a hop per TTL from 1, up to the one that reached
// the target or reported it unreachable.
type Result struct {
	Target netip.Addr
	At     time.Time // when the first probes were sent
	Hops   []Hop
}

// Answered reports whether any hop answered.
func (r Result) Answered() bool {
	for _, h := range r.Hops {
		if h.Addr.IsValid() {
			return true
		}
	}
	return false
}

// ICMPError is one ICMP error about a probe, as the socket reports it.
type ICMPError struct {
	Offender   netip.Addr     // who sent the ICMP error
	Dst        netip.AddrPort // the probe's destination, from the quoted packet
	Type, Code uint8
}

// ICMP types and codes the trace tells apart.
const (
	icmpUnreachable  = 3
	icmpTimeExceeded = 11
	codePort         = 3
)

// Conn is one probing socket, the seam between a trace and the network
// (DialUDP; Fake in tests). One goroutine uses it at a time.
type Conn interface {
	// Send sends payload to dst in one datagram with the given TTL.
	Send(dst netip.AddrPort, ttl int, payload []byte) error
	// Recv returns the next ICMP error about a probe sent on this
	// Conn, waiting until deadline at most; at the deadline the error is
	// os.ErrDeadlineExceeded.
	Recv(deadline time.Time) (ICMPError, error)
	Close() error
}

// Params are one trace's bounds; zero fields take the defaults and
// larger ones are cut to the maximum.
type Params struct {
	Target       netip.Addr // IPv4; invalid: DefaultTarget
	Hops         int
	ProbeTimeout time.Duration
	Rounds       int
}

func (p Params) norm() Params {
	if !p.Target.IsValid() {
		p.Target = DefaultTarget
	}
	p.Hops = clamp(p.Hops, DefaultHops, MaxHops)
	p.Rounds = clamp(p.Rounds, DefaultRounds, MaxRounds)
	if p.ProbeTimeout <= 0 {
		p.ProbeTimeout = DefaultProbeTimeout
	}
	p.ProbeTimeout = min(p.ProbeTimeout, MaxProbeTimeout)
	return p
}

func clamp(v, def, hi int) int {
	if v <= 0 {
		return def
	}
	return min(v, hi)
}

// Limit is the longest a trace with p can take.
func (p Params) Limit() time.Duration {
	p = p.norm()
	return time.Duration(p.Rounds) * p.ProbeTimeout
}

// recvSlice bounds one wait in Recv, so a cancelled context is seen soon.
const recvSlice = 100 * time.Millisecond

// payload is what each probe carries.
var payload = []byte("passgate traceroute")

// Run traces with c: each round sends the TTLs not answered yet (all at
// once) and waits ProbeTimeout for their answers. It returns what it
// found when ctx ends too, with ctx's error. now is the clock (nil:
// time.Now).
func Run(ctx context.Context, c Conn, p Params, now func() time.Time) (Result, error) {
	p = p.norm()
	if !p.Target.Is4() {
		return Result{}, fmt.Errorf("traceroute: target %v is not an IPv4 address", p.Target)
	}
	if now == nil {
		now = time.Now
	}
	res := Result{Target: p.Target, At: now(), Hops: make([]Hop, p.Hops)}
	for i := range res.Hops {
		res.Hops[i].TTL = i + 1
	}
	last := p.Hops                 // TTLs beyond the one that reached the target are of no use
	sent := map[uint16]time.Time{} // by destination port
	done := func() bool {
		for _, h := range res.Hops[:last] {
			if !h.Addr.IsValid() {
				return false
			}
		}
		return true
	}
	for round := 0; round < p.Rounds && !done() && ctx.Err() == nil; round++ {
		for ttl := 1; ttl <= last; ttl++ {
			if res.Hops[ttl-1].Addr.IsValid() {
				continue
			}
			port := uint16(BasePort + round*MaxHops + ttl - 1)
			if err := c.Send(netip.AddrPortFrom(p.Target, port), ttl, payload); err != nil {
				res.Hops = res.Hops[:last]
				return res, err
			}
			sent[port] = now()
		}
		end := now().Add(p.ProbeTimeout)
		for !done() && ctx.Err() == nil {
			t := now()
			if !t.Before(end) {
				break
			}
			wait := t.Add(recvSlice)
			if wait.After(end) {
				wait = end
			}
			e, err := c.Recv(wait)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				res.Hops = res.Hops[:last]
				return res, err
			}
			at, ok := sent[e.Dst.Port()]
			if !ok || e.Dst.Addr() != p.Target || !e.Offender.Is4() {
				continue // not a probe of this trace
			}
			ttl := int(e.Dst.Port()-BasePort)%MaxHops + 1
			if ttl > last || res.Hops[ttl-1].Addr.IsValid() {
				continue
			}
			h := &res.Hops[ttl-1]
			switch {
			case e.Type == icmpTimeExceeded:
			case e.Type == icmpUnreachable && e.Code == codePort && e.Offender == p.Target:
				h.Reached = true
			case e.Type == icmpUnreachable:
				h.Unreachable = true
			default:
				continue
			}
			h.Addr, h.RTT = e.Offender, now().Sub(at)
			if h.Reached || h.Unreachable {
				last = ttl
			}
		}
	}
	res.Hops = res.Hops[:last]
	return res, ctx.Err()
}
