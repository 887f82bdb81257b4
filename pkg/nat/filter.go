package nat

import "github.com/passgate/passgate/pkg/packet"

// Filter decides each new session before the engine creates it: the
// firewall's rules (pkg/firewall). It is asked once per connection — a LAN
// host's first packet to a remote endpoint, or a remote's first packet
// through a port forward or to the DMZ — and never about a packet of a
// session that exists, so established connections cost nothing. It runs
// with the engine's caller's lock held and must not block. Decisions
// already taken are revisited by the caller with Flush (after a commit,
// or when a rule's time window opens).
type Filter interface {
	Decide(f NewFlow) FilterVerdict
}

// FilterVerdict is a Filter's decision.
type FilterVerdict uint8

// Filter verdicts. A rejected outbound connection gets a TCP reset (TCP)
// or an ICMP "communication administratively prohibited" back to the LAN
// host; a rejected inbound one is dropped.
const (
	FilterAccept FilterVerdict = iota
	FilterDrop
	FilterReject
)

// NewFlow is a connection about to get a session.
type NewFlow struct {
	Proto   uint8
	Inbound bool // opened from the WAN (a port forward or the DMZ)
	// Host and HostPort are the LAN host's address and port (for ICMP,
	// the echo identifier); Remote and RemotePort the far end's.
	Host, Remote         uint32
	HostPort, RemotePort uint16
	// MAC is the LAN host's MAC address, when the packet opening the
	// session came from it (SetFrameMAC).
	MAC    [6]byte
	HasMAC bool
}

// frameMAC is the source MAC of the frame being translated, if the
// caller gave it.
type frameMAC struct {
	mac [6]byte
	ok  bool
}

// SetFilter installs f (nil: none) for the sessions created from now on.
func (e *Engine) SetFilter(f Filter) { e.filter = f }

// SetFrameMAC tells the engine the source MAC of the frame the next
// outbound Translate is given (ok false: not a LAN device's frame, such
// as the router's own), for the Filter's NewFlow.MAC.
func (e *Engine) SetFrameMAC(mac [6]byte, ok bool) { e.frameMAC = frameMAC{mac, ok} }

// AdminProhibited writes into buf (576 bytes suffice) the ICMP
// "communication administratively prohibited" (type 3, code 13) that the
// router at from sends about orig, and returns it; nil when none may be
// sent (orig is an ICMP error, a later fragment, or from a martian
// source). The data plane uses it for rejected packets to the router.
func AdminProhibited(buf []byte, orig packet.IPv4, from uint32) []byte {
	if len(orig) < packet.IPv4HeaderLen || len(buf) < 576 {
		return nil
	}
	src := orig.Src()
	if orig.FragOffset() != 0 || isMartian(src) {
		return nil
	}
	hl := orig.HeaderLen()
	if orig.Protocol() == packet.ProtoICMP && len(orig) > hl && !packet.IsQuery(packet.ICMP(orig[hl:]).Type()) {
		return nil
	}
	return buildICMPError(buf, orig, packet.ICMPUnreachable, packet.ICMPCodeAdminProhibited, 0, from, 0)
}
