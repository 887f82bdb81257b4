package ppp

import (
	"net/netip"
	"time"
)

// IPCP option types (RFC 1332, RFC 1877).
const (
	optIPAddress = 3
	optDNS1      = 129
	optDNS2      = 131
)

// ipcp is IPCP's side: our address and DNS servers come from the peer's
// Naks.
type ipcp struct {
	s          *Session
	addr       netip.Addr
	dns1, dns2 netip.Addr
	askDNS1    bool
	askDNS2    bool
	peer       netip.Addr
	problem    string // an address the peer will not give, in words
}

func addrOpt(t uint8, a netip.Addr) option {
	if !a.Is4() {
		a = netip.IPv4Unspecified() // asking the peer to name one
	}
	b := a.As4()
	return option{t, b[:]}
}

func (p *ipcp) request() []option {
	o := []option{addrOpt(optIPAddress, p.addr)}
	if p.askDNS1 {
		o = append(o, addrOpt(optDNS1, p.dns1))
	}
	if p.askDNS2 {
		o = append(o, addrOpt(optDNS2, p.dns2))
	}
	return o
}

func (p *ipcp) judge(opts []option) (nak, rej []option) {
	for _, o := range opts {
		if o.Type == optIPAddress && len(o.Data) == 4 {
			continue // the peer's own address: anything goes
		}
		rej = append(rej, o) // IP-Compression-Protocol (VJ) and the rest
	}
	return nil, rej
}

func (p *ipcp) acked(opts []option) {}

func (p *ipcp) naked(opts []option) {
	for _, o := range opts {
		if len(o.Data) != 4 {
			continue
		}
		a := netip.AddrFrom4([4]byte(o.Data))
		switch o.Type {
		case optIPAddress:
			p.addr = a
		case optDNS1:
			p.dns1 = a
		case optDNS2:
			p.dns2 = a
		}
	}
}

func (p *ipcp) rejected(opts []option) {
	for _, o := range opts {
		switch o.Type {
		case optIPAddress:
			p.problem = "the concentrator refused to assign an IPv4 address (IPCP rejected IP-Address)"
		case optDNS1:
			p.askDNS1 = false
		case optDNS2:
			p.askDNS2 = false
		}
	}
}

// peerOptions records the peer's address from its acked request.
func (p *ipcp) peerOptions(opts []option) {
	for _, o := range opts {
		if o.Type == optIPAddress && len(o.Data) == 4 {
			p.peer = netip.AddrFrom4([4]byte(o.Data))
		}
	}
}

func (p *ipcp) up(now time.Time)       { p.s.ipcpUp(now) }
func (p *ipcp) down(now time.Time)     { p.s.ipcpDown(now) }
func (p *ipcp) finished(now time.Time) {}
