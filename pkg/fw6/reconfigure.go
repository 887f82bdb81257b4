package fw6

import "github.com/passgate/passgate/pkg/packet"

// Reconfigure applies a new configuration at once and returns how many
// sessions it flushed. Sessions the new configuration would not have let
// in go: those a switched-off passthrough protocol carries (so the next
// packet is refused and counted, as on IPv4), those opened through an allow
// rule that no longer admits them, through inbound IPsec or inbound ping
// when switched off, and through transparent mode when it ends. Changing
// the table size flushes every session; a change of filtering behaviour
// rebuilds the filter index. Timeouts, MTUs and the MSS clamp apply to the
// next packet.
func (e *Engine) Reconfigure(c Config) (int, error) {
	if err := c.validate(); err != nil {
		return 0, err
	}
	old := e.cfg
	flushed := 0
	if c.MaxSessions != old.MaxSessions {
		flushed = e.Flush(nil)
		e.t = newTable(c.MaxSessions, c.Seed^0x9e3779b97f4a7c15, c.Filtering == EndpointIndependent)
		e.sweep = 0
		e.in = inboundState{}
	} else if c.Filtering != old.Filtering {
		e.t.refilter(c.Filtering == EndpointIndependent)
	}
	e.apply(c)
	pt := c.Passthrough
	flushed += e.flushSessions(func(s *session) bool {
		tcp, udp := s.proto == packet.ProtoTCP, s.proto == packet.ProtoUDP
		port := s.rport
		if s.flags&flagInbound != 0 {
			port = s.lport
		}
		switch {
		case !pt.PPTP && (s.proto == packet.ProtoGRE || (tcp && port == portPPTP)):
			return true
		case !pt.L2TP && udp && port == portL2TP:
			return true
		case !pt.IPsec && (s.proto == packet.ProtoESP || (udp && (port == portIKE || port == portNATT))):
			return true
		case s.flags&flagRule != 0 && !e.allowed(s.proto, s.lan, s.lport):
			return true
		case s.flags&flagTransparent != 0 && !c.Transparent:
			return true
		case s.flags&(flagInbound|flagRule|flagTransparent) == flagInbound:
			switch {
			case s.proto == packet.ProtoICMPv6:
				return !c.InboundPing
			case s.proto == packet.ProtoESP || (udp && (s.lport == portIKE || s.lport == portNATT)):
				return !c.InboundIPsec
			case s.proto == packet.ProtoHIP:
				return !c.InboundHIP
			}
		}
		return false
	})
	return flushed, nil
}

// flushSessions removes the sessions drop selects.
func (e *Engine) flushSessions(drop func(*session) bool) int {
	n := 0
	for i := uint32(0); i < e.t.hwm; i++ {
		if s := e.t.s(i); s.proto != 0 && drop(s) {
			e.remove(i)
			n++
		}
	}
	return n
}
