package dhcpd

import (
	"net"
	"net/netip"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// DestKind says how a reply must be delivered.
type DestKind int

const (
	// DestBroadcast: to 255.255.255.255, client port, link broadcast.
	DestBroadcast DestKind = iota
	// DestUnicast: ordinary IP unicast to a configured client (its ciaddr).
	DestUnicast
	// DestUnicastHW: unicast to yiaddr at hardware address HW. The client
	// does not answer ARP yet, so the sender must supply the link-layer
	// address itself (e.g. a neighbour entry) or fall back to broadcast.
	DestUnicastHW
	// DestRelay: to the relay agent at giaddr, server port.
	DestRelay
)

func (k DestKind) String() string {
	switch k {
	case DestBroadcast:
		return "broadcast"
	case DestUnicast:
		return "unicast"
	case DestUnicastHW:
		return "unicast-hw"
	case DestRelay:
		return "relay"
	}
	return "unknown"
}

// Destination is where a reply goes.
type Destination struct {
	Kind DestKind
	IP   netip.Addr
	Port int
	HW   net.HardwareAddr // DestUnicastHW only
}

// ReplyDestination applies RFC 2131 §4.1 to a request and the reply to it:
//
//   - giaddr set: to the relay agent at giaddr, port 67;
//   - a NAK: broadcast;
//   - ciaddr set: unicast to ciaddr;
//   - broadcast bit set: broadcast;
//   - otherwise: unicast to yiaddr at chaddr (broadcast if yiaddr is 0).
func ReplyDestination(req, reply *dhcpv4.DHCPv4) Destination {
	bcast := Destination{Kind: DestBroadcast, IP: netip.AddrFrom4([4]byte{255, 255, 255, 255}), Port: dhcpv4.ClientPort}
	if req == nil || reply == nil {
		return bcast
	}
	if gi, _ := ipv4Field("giaddr", req.GatewayIPAddr); gi.IsValid() {
		return Destination{Kind: DestRelay, IP: gi, Port: dhcpv4.ServerPort}
	}
	if reply.MessageType() == dhcpv4.MessageTypeNak {
		return bcast
	}
	if ci, _ := ipv4Field("ciaddr", req.ClientIPAddr); ci.IsValid() {
		return Destination{Kind: DestUnicast, IP: ci, Port: dhcpv4.ClientPort}
	}
	if req.IsBroadcast() {
		return bcast
	}
	yi, _ := ipv4Field("yiaddr", reply.YourIPAddr)
	if !yi.IsValid() || len(req.ClientHWAddr) == 0 {
		return bcast
	}
	return Destination{Kind: DestUnicastHW, IP: yi, Port: dhcpv4.ClientPort, HW: slices.Clone(req.ClientHWAddr)}
}
