package nat

import (
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// Tunnel MTU events, for the VPN troubleshooter ("show vpn diagnose"): a
// LAN host's tunnel packet too big for the WAN (the router answered
// "fragmentation needed"), or tunnel packets arriving in fragments (a
// smaller MTU somewhere on the path). Recorded on those rare paths only,
// never per forwarded packet, into a small ring.

// MTUEventKind says what was seen.
type MTUEventKind uint8

// The kinds of MTU event.
const (
	// TooBig: an outbound tunnel packet larger than the WAN MTU, with DF:
	// the router sent Fragmentation Needed.
	TooBig MTUEventKind = iota + 1
	// Fragmented: a tunnel packet crossed the router in fragments (Size
	// is the first fragment's length, the MTU of the hop that cut it).
	Fragmented
)

// MTUEvent is one kind of MTU trouble of one tunnel (host, server,
// protocol), with how often it was seen.
type MTUEvent struct {
	Kind     MTUEventKind
	Host     uint32 // LAN host (0 for Inbound)
	Server   uint32
	Proto    uint8
	Port     uint16 // UDP destination port on the server side (0 for ESP, GRE)
	Inbound  bool   // the packets came from the server
	Size     int    // the packet's (or first fragment's) length
	MTU      int    // the WAN MTU (TooBig)
	Count    uint64
	Last     time.Duration // on the engine's clock
	LastSeen uint32        // seconds, internal
}

const maxMTUEvents = 16

// tunnelPort reports the UDP ports of VPN tunnels: IKE and NAT-T, L2TP,
// OpenVPN, WireGuard.
func tunnelPort(p uint16) bool {
	switch p {
	case 500, 4500, 1701, 1194, 51820:
		return true
	}
	return false
}

// isTunnel reports whether an IPv4 packet (or its first fragment) is a
// VPN tunnel's, and the tunnel's UDP port.
func isTunnel(p packet.IPv4, inbound bool) (uint16, bool) {
	switch p.Protocol() {
	case packet.ProtoESP, packet.ProtoGRE:
		return 0, true
	case packet.ProtoUDP:
		if p.FragOffset() != 0 || len(p) < p.HeaderLen()+packet.UDPHeaderLen {
			return 0, false
		}
		ports := packet.Ports(p[p.HeaderLen():])
		port := ports.Dst()
		if inbound {
			port = ports.Src()
		}
		return port, tunnelPort(port)
	}
	return 0, false
}

// noteMTU records an event about p (as received); host is the LAN side.
func (e *Engine) noteMTU(kind MTUEventKind, p packet.IPv4, inbound bool, mtu int) {
	port, ok := isTunnel(p, inbound)
	if !ok {
		return
	}
	host, server := p.Src(), p.Dst()
	if inbound {
		// Addressed to the router: the LAN host is known only once
		// translated, and a fragment may never be.
		host, server = 0, p.Src()
	}
	ev := MTUEvent{Kind: kind, Host: host, Server: server, Proto: p.Protocol(), Port: port, Inbound: inbound, Size: len(p), MTU: mtu}
	oldest := 0
	for i := range e.mtu {
		x := &e.mtu[i]
		if x.Count > 0 && x.Kind == kind && x.Host == host && x.Server == server && x.Proto == ev.Proto && x.Port == port && x.Inbound == inbound {
			x.Count++
			x.Size, x.MTU, x.Last, x.LastSeen = max(x.Size, ev.Size), mtu, e.nowD, e.now
			return
		}
		if x.Count == 0 || x.LastSeen < e.mtu[oldest].LastSeen {
			oldest = i
		}
	}
	ev.Count, ev.Last, ev.LastSeen = 1, e.nowD, e.now
	e.mtu[oldest] = ev
}

// MTUEvents returns the tunnel MTU events seen, each with its count.
func (e *Engine) MTUEvents() []MTUEvent {
	var out []MTUEvent
	for _, x := range e.mtu {
		if x.Count > 0 {
			out = append(out, x)
		}
	}
	return out
}
