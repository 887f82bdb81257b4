package fw6

import "net/netip"

// Filter decides each new session before the engine creates it: the
// firewall's rules (pkg/firewall), as pkg/nat's Filter does for IPv4. It
// is asked once per connection of a LAN host (outbound, or inbound
// through an allow rule or transparent mode), never about the router's
// own, nor about a packet of a session that exists. It runs with the
// caller's lock held and must not block.
type Filter interface {
	Decide6(f NewFlow) FilterVerdict
}

// FilterVerdict is a Filter's decision.
type FilterVerdict uint8

// Filter verdicts: a rejected outbound connection gets a TCP reset (TCP)
// or ICMPv6 "administratively prohibited"; a rejected inbound one is
// dropped.
const (
	FilterAccept FilterVerdict = iota
	FilterDrop
	FilterReject
)

// NewFlow is a connection about to get a session.
type NewFlow struct {
	Proto                uint8
	Inbound              bool // opened from the WAN
	Host, Remote         netip.Addr
	HostPort, RemotePort uint16 // ICMPv6 echo: the identifier as HostPort
	MAC                  [6]byte
	HasMAC               bool // MAC is the LAN host's, from the frame (SetFrameMAC)
}

type frameMAC struct {
	mac [6]byte
	ok  bool
}

// SetFilter installs f (nil: none) for the sessions created from now on.
func (e *Engine) SetFilter(f Filter) { e.filter = f }

// SetFrameMAC tells the engine the source MAC of the frame the next
// FromLAN packet came in (ok false: none, or not a LAN device's).
func (e *Engine) SetFrameMAC(mac [6]byte, ok bool) { e.frameMAC = frameMAC{mac, ok} }

// filterRefuses asks the filter about a new session of k; the reason
// when it refuses.
func (e *Engine) filterRefuses(k *key, fl uint8) (Reason, bool) {
	if e.filter == nil || fl&flagSelf != 0 {
		return ReasonNone, false
	}
	inbound := fl&flagInbound != 0
	nf := NewFlow{Proto: k.proto, Inbound: inbound, Host: k.lan.netip(), Remote: k.rem.netip(), HostPort: k.lport, RemotePort: k.rport}
	if !inbound && e.frameMAC.ok {
		nf.MAC, nf.HasMAC = e.frameMAC.mac, true
	}
	switch e.filter.Decide6(nf) {
	case FilterDrop:
		return ReasonFirewall, true
	case FilterReject:
		if inbound {
			return ReasonFirewall, true
		}
		return ReasonFirewallReject, true
	}
	return ReasonNone, false
}
