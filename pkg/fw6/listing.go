package fw6

import (
	"net/netip"
	"time"
)

// Session is one tracked flow as `show sessions` lists it.
type Session struct {
	Protocol   uint8
	LAN        netip.AddrPort // LAN host (or the router's own address); ICMPv6 echo: identifier as port
	Remote     netip.AddrPort
	State      string
	Age        time.Duration
	Idle       time.Duration
	Expires    time.Duration // until the idle timeout, at the current idle time
	PacketsOut uint64
	PacketsIn  uint64
	BytesOut   uint64
	BytesIn    uint64
	Replied    bool // a packet from the WAN matched it
	Inbound    bool // opened from the WAN
	Rule       bool // opened through an allow rule
	Self       bool // opened by the router itself
}

func (e *Engine) info(s *session) Session {
	idle := e.now - s.lastSeen
	var exp time.Duration
	if t := e.tmo[s.state]; t > idle {
		exp = time.Duration(t-idle) * time.Second
	}
	return Session{
		Protocol:   s.proto,
		LAN:        netip.AddrPortFrom(s.lan.netip(), s.lport),
		Remote:     netip.AddrPortFrom(s.rem.netip(), s.rport),
		State:      stateName(s.state),
		Age:        time.Duration(e.now-s.created) * time.Second,
		Idle:       time.Duration(idle) * time.Second,
		Expires:    exp,
		PacketsOut: uint64(s.pktsOut),
		PacketsIn:  uint64(s.pktsIn),
		BytesOut:   s.bytesOut,
		BytesIn:    s.bytesIn,
		Replied:    s.flags&flagReplied != 0,
		Inbound:    s.flags&flagInbound != 0,
		Rule:       s.flags&flagRule != 0,
		Self:       s.flags&flagSelf != 0,
	}
}

// Sessions calls fn for each live session until fn returns false.
// Expired sessions the sweep has not reached yet are skipped.
func (e *Engine) Sessions(fn func(Session) bool) {
	for i := uint32(0); i < e.t.hwm; i++ {
		s := e.t.s(i)
		if s.proto == 0 || e.expired(s) {
			continue
		}
		if !fn(e.info(s)) {
			return
		}
	}
}

// Flush removes the sessions for which drop returns true (all if drop is
// nil) and returns how many it removed.
func (e *Engine) Flush(drop func(Session) bool) int {
	n := 0
	for i := uint32(0); i < e.t.hwm; i++ {
		s := e.t.s(i)
		if s.proto == 0 {
			continue
		}
		if drop == nil || drop(e.info(s)) {
			e.remove(i)
			n++
		}
	}
	return n
}
