package fw6

import (
	"encoding/binary"
	"net/netip"
)

// addr is an IPv6 address as two 64-bit words, the form the hot path
// compares and hashes.
type addr struct{ hi, lo uint64 }

func load(b []byte) addr {
	return addr{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

func fromNetip(a netip.Addr) addr {
	b := a.As16()
	return load(b[:])
}

func (a addr) put(b []byte) {
	binary.BigEndian.PutUint64(b, a.hi)
	binary.BigEndian.PutUint64(b[8:], a.lo)
}

func (a addr) netip() netip.Addr {
	var b [16]byte
	a.put(b[:])
	return netip.AddrFrom16(b)
}

func (a addr) bytes() [16]byte {
	var b [16]byte
	a.put(b[:])
	return b
}

// class is what an address is for forwarding purposes.
type class uint8

const (
	clGlobal      class = iota // forwardable unicast
	clUnspecified              // ::
	clLoopback                 // ::1
	clMulticast                // ff00::/8
	clLinkLocal                // fe80::/10: never forwarded (RFC 4291 §2.5.6)
	clULA                      // fc00::/7: not across the site border (RFC 4193 §4.3)
	// clForbidden: addresses that must not appear on the public Internet
	// (RFC 6092 REC-3, RFC 6890): documentation (2001:db8::/32, RFC 3849;
	// 3fff::/20, RFC 9637), ORCHID and ORCHIDv2 (2001:10::/28,
	// 2001:20::/28), deprecated site-local (fec0::/10, RFC 3879), the
	// discard-only prefix (100::/64, RFC 6666), and ::/64 beyond :: and ::1
	// (IPv4-compatible and IPv4-mapped addresses).
	clForbidden
)

var classNames = [...]string{"global", "unspecified", "loopback", "multicast", "link-local", "unique-local", "reserved"}

func (c class) String() string { return classNames[c] }

func classify(a addr) class {
	top := a.hi >> 56
	switch {
	case top>>5 == 1: // 2000::/3, global unicast
		if a.hi>>32 == 0x20010db8 || a.hi>>44 == 0x3fff0 || a.hi>>36 == 0x2001001 || a.hi>>36 == 0x2001002 {
			return clForbidden
		}
		return clGlobal
	case top == 0xff:
		return clMulticast
	case a.hi>>54 == 0x3fa:
		return clLinkLocal
	case a.hi>>54 == 0x3fb:
		return clForbidden // site-local
	case top&0xfe == 0xfc:
		return clULA
	case a.hi == 0:
		switch a.lo {
		case 0:
			return clUnspecified
		case 1:
			return clLoopback
		}
		return clForbidden
	case a.hi == 0x0100000000000000:
		return clForbidden // discard-only
	}
	// The rest of the unicast space (64:ff9b::/96 NAT64 among it) is
	// forwarded: new allocations must not need a firmware update.
	return clGlobal
}

// mcastScope is the scope field of a multicast address (RFC 4291 §2.7).
func mcastScope(a addr) uint8 { return uint8(a.hi>>48) & 0x0f }

// Multicast scopes.
const (
	scopeInterface = 1
	scopeLink      = 2
)

// prefix is a netip.Prefix as masks over the two words.
type prefix struct {
	net      addr
	mhi, mlo uint64
	ula      bool
}

func makePrefix(p netip.Prefix) prefix {
	p = p.Masked()
	bits := p.Bits()
	var mhi, mlo uint64
	switch {
	case bits >= 128:
		mhi, mlo = ^uint64(0), ^uint64(0)
	case bits > 64:
		mhi, mlo = ^uint64(0), ^uint64(0)<<(128-bits)
	case bits == 64:
		mhi = ^uint64(0)
	case bits > 0:
		mhi = ^uint64(0) << (64 - bits)
	}
	a := fromNetip(p.Addr())
	return prefix{net: a, mhi: mhi, mlo: mlo, ula: classify(a) == clULA}
}

func (p *prefix) contains(a addr) bool { return a.hi&p.mhi == p.net.hi && a.lo&p.mlo == p.net.lo }

// prefixSet is a short list of prefixes, checked in order.
type prefixSet []prefix

func (s prefixSet) contains(a addr) bool {
	for i := range s {
		if s[i].contains(a) {
			return true
		}
	}
	return false
}

// addrSet is a short list of addresses.
type addrSet []addr

func (s addrSet) contains(a addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}
