package nat

import (
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// SessionInfo is one session as shown by `show nat sessions`.
type SessionInfo struct {
	Protocol   uint8
	Internal   netip.AddrPort // LAN host (ICMP: identifier as port)
	External   netip.AddrPort // external address and port
	Remote     netip.AddrPort
	State      string
	Age        time.Duration
	Idle       time.Duration
	Expires    time.Duration // until the idle timeout, at the current idle time
	PacketsOut uint64
	PacketsIn  uint64
	BytesOut   uint64
	BytesIn    uint64
	Replied    bool // a reply has been seen
	Forwarded  bool // opened from the WAN (port forward or DMZ)
}

func (e *Engine) info(s *session) SessionInfo {
	idle := e.now - s.lastSeen
	var exp time.Duration
	if t := e.tmo[s.state]; t > idle {
		exp = time.Duration(t-idle) * time.Second
	}
	return SessionInfo{
		Protocol:   s.proto,
		Internal:   netip.AddrPortFrom(packet.AddrFrom4(s.intIP), s.intPort),
		External:   netip.AddrPortFrom(packet.AddrFrom4(e.ext), s.extPort),
		Remote:     netip.AddrPortFrom(packet.AddrFrom4(s.remIP), s.remPort),
		State:      stateName(s.state),
		Age:        time.Duration(e.now-s.created) * time.Second,
		Idle:       time.Duration(idle) * time.Second,
		Expires:    exp,
		PacketsOut: uint64(s.pktsOut),
		PacketsIn:  uint64(s.pktsIn),
		BytesOut:   s.bytesOut,
		BytesIn:    s.bytesIn,
		Replied:    s.flags&flagReplied != 0,
		Forwarded:  s.flags&flagInbound != 0,
	}
}

// Sessions calls fn for each live session until fn returns false. Expired
// sessions that the sweep has not reached yet are skipped.
func (e *Engine) Sessions(fn func(SessionInfo) bool) {
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
