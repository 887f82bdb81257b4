package passthrough

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// Session is one line of `show passthrough`.
type Session struct {
	Protocol   string // pptp (control), gre, esp, ike, nat-t, l2tp
	Host       netip.Addr
	Server     netip.Addr
	External   string // external port, or the call's alias
	IDs        string // call IDs or SPIs
	Age, Idle  time.Duration
	PacketsOut uint64
	PacketsIn  uint64
	BytesOut   uint64
	BytesIn    uint64
}

func secs(now, t uint32) time.Duration { return time.Duration(now-t) * time.Second }

// Sessions lists the passthrough state: PPTP calls, ESP SAs and shared IKE
// SAs held here, and the NAT sessions of the passthrough protocols' ports
// (PPTP control, IKE, NAT-T, L2TP), sorted by protocol, host and server.
func (p *Passthrough) Sessions() []Session {
	now := p.eng.Now()
	var out []Session
	for _, c := range p.pptp.ctrls {
		for _, call := range c.calls {
			ids := fmt.Sprintf("call %d→%d", call.orig, call.alias)
			if call.pacKnown {
				ids += fmt.Sprintf(", server call %d", call.pac)
			}
			out = append(out, Session{Protocol: "gre", Host: packet.AddrFrom4(call.host), Server: packet.AddrFrom4(call.server),
				External: fmt.Sprintf("call %d", call.alias), IDs: ids, Age: secs(now, call.created), Idle: secs(now, call.lastSeen),
				PacketsOut: call.pktsOut, PacketsIn: call.pktsIn, BytesOut: call.bytesOut, BytesIn: call.bytesIn})
		}
	}
	esp := func(sa *espSA) {
		ids := fmt.Sprintf("spi out %#08x in ", sa.spiOut)
		if sa.spiIn == 0 {
			ids += "(learning)"
		} else {
			ids += fmt.Sprintf("%#08x", sa.spiIn)
		}
		out = append(out, Session{Protocol: "esp", Host: packet.AddrFrom4(sa.host), Server: packet.AddrFrom4(sa.server),
			External: "-", IDs: ids, Age: secs(now, sa.created), Idle: secs(now, sa.lastSeen),
			PacketsOut: sa.pktsOut, PacketsIn: sa.pktsIn, BytesOut: sa.bytesOut, BytesIn: sa.bytesIn})
	}
	for _, sa := range p.esp.out {
		esp(sa)
	}
	for _, sa := range p.esp.in {
		if sa.spiOut == 0 {
			esp(sa)
		}
	}
	for _, sa := range p.ike.sas {
		out = append(out, Session{Protocol: "ike", Host: packet.AddrFrom4(sa.host), Server: packet.AddrFrom4(sa.server),
			External: "port 500 (shared)", IDs: fmt.Sprintf("spi-i %016x", sa.spi), Age: secs(now, sa.created), Idle: secs(now, sa.lastSeen),
			PacketsOut: sa.pktsOut, PacketsIn: sa.pktsIn, BytesOut: sa.bytesOut, BytesIn: sa.bytesIn})
	}
	p.eng.Sessions(func(s nat.SessionInfo) bool {
		name := ""
		switch {
		case s.Protocol == packet.ProtoTCP && s.Remote.Port() == PortPPTP:
			name = "pptp"
		case s.Protocol == packet.ProtoUDP && s.Remote.Port() == PortIKE:
			name = "ike"
		case s.Protocol == packet.ProtoUDP && s.Remote.Port() == PortNATT:
			name = "nat-t"
		case s.Protocol == packet.ProtoUDP && s.Remote.Port() == PortL2TP:
			name = "l2tp"
		default:
			return true
		}
		out = append(out, Session{Protocol: name, Host: s.Internal.Addr(), Server: s.Remote.Addr(),
			External: fmt.Sprintf("port %d", s.External.Port()), IDs: fmt.Sprintf("port %d→%d", s.Internal.Port(), s.External.Port()),
			Age: s.Age, Idle: s.Idle, PacketsOut: s.PacketsOut, PacketsIn: s.PacketsIn, BytesOut: s.BytesOut, BytesIn: s.BytesIn})
		return true
	})
	slices.SortFunc(out, func(a, b Session) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), a.Host.Compare(b.Host), a.Server.Compare(b.Server), cmp.Compare(a.IDs, b.IDs))
	})
	return out
}
