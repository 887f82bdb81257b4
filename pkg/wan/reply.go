package wan

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/passgate/passgate/pkg/peertext"
)

// Lease time bounds. A lease shorter than MinLeaseTime would have the client
// renew every few seconds; such replies are ignored (BadLeaseTime). A longer
// one than MaxLeaseTime, including the infinite lease (0xffffffff), is taken
// as MaxLeaseTime: the client then renews earlier than the server needs,
// which is harmless, and its timers stay bounded.
const (
	MinLeaseTime = 10 * time.Second
	MaxLeaseTime = 7 * 24 * time.Hour
)

// dropReason is why a received message was ignored.
type dropReason int

const (
	dropNone dropReason = iota
	dropMalformed
	dropNotReply
	dropWrongHWAddr
	dropWrongXID
	dropUnexpected
	dropBadServerID
	dropBadAddress
	dropBadLeaseTime
	dropBadSubnetMask
)

func (r dropReason) String() string {
	return [...]string{"none", "malformed", "not a reply", "wrong hardware address",
		"wrong transaction ID", "unexpected message type for the state",
		"bad or missing server identifier", "bad offered address",
		"bad or missing lease time", "bad subnet mask"}[r]
}

// reply is a server message that passed the checks that do not depend on
// the client's state.
type reply struct {
	typ    dhcpv4.MessageType // Offer, Ack or Nak
	xid    dhcpv4.TransactionID
	server netip.Addr
	lease  Lease  // Offer and Ack: Addr, Gateway, DNS, MTU, LeaseTime, T1, T2, Server
	text   string // Nak: option 56, for the log
}

// parseReply decodes b and checks it is a DHCPOFFER, DHCPACK or DHCPNAK for
// hardware address hw with a usable server identifier and, for OFFER and
// ACK, a usable address, lease time and subnet mask.
func parseReply(b []byte, hw []byte) (*reply, dropReason) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		return nil, dropMalformed
	}
	if m.OpCode != dhcpv4.OpcodeBootReply {
		return nil, dropNotReply
	}
	if m.HWType != iana.HWTypeEthernet || !bytes.Equal(m.ClientHWAddr, hw) {
		return nil, dropWrongHWAddr
	}
	r := &reply{xid: m.TransactionID}
	t := m.Options.Get(dhcpv4.OptionDHCPMessageType)
	if len(t) != 1 {
		return nil, dropUnexpected
	}
	r.typ = dhcpv4.MessageType(t[0])
	switch r.typ {
	case dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak:
	default:
		return nil, dropUnexpected
	}
	sid, ok := optAddr(m.Options.Get(dhcpv4.OptionServerIdentifier))
	if !ok || !usableUnicast(sid) {
		return nil, dropBadServerID
	}
	r.server = sid
	if r.typ == dhcpv4.MessageTypeNak {
		r.text = peertext.Clean(m.Options.Get(dhcpv4.OptionMessage), 128)
		return r, dropNone
	}

	yi, ok := netip.AddrFromSlice(m.YourIPAddr)
	if !ok || !usableUnicast(yi.Unmap()) {
		return nil, dropBadAddress
	}
	yi = yi.Unmap()

	lt := m.Options.Get(dhcpv4.OptionIPAddressLeaseTime)
	if len(lt) != 4 {
		return nil, dropBadLeaseTime
	}
	lease := secs(binary.BigEndian.Uint32(lt))
	if lease < MinLeaseTime {
		return nil, dropBadLeaseTime
	}
	lease = min(lease, MaxLeaseTime)

	var bitsLen int
	if mask := m.Options.Get(dhcpv4.OptionSubnetMask); mask != nil {
		n, ok := maskBits(mask)
		if !ok {
			return nil, dropBadSubnetMask
		}
		bitsLen = n
	} else {
		bitsLen = classfulBits(yi)
	}
	pfx := netip.PrefixFrom(yi, bitsLen)
	if checkPrefix(pfx) != nil {
		return nil, dropBadAddress
	}

	t1 := secs32(m.Options.Get(dhcpv4.OptionRenewTimeValue))
	t2 := secs32(m.Options.Get(dhcpv4.OptionRebindingTimeValue))
	if t2 <= 0 || t2 >= lease {
		t2 = lease * 7 / 8
	}
	if t1 <= 0 || t1 >= t2 {
		t1 = min(lease/2, t2)
	}

	r.lease = Lease{
		Addr:      pfx,
		LeaseTime: lease,
		T1:        t1,
		T2:        t2,
		Server:    sid,
	}
	if gws := addrList(m.Options.Get(dhcpv4.OptionRouter)); len(gws) > 0 {
		for _, g := range gws {
			if usableUnicast(g) && g != yi {
				r.lease.Gateway = g
				break
			}
		}
	}
	for _, d := range addrList(m.Options.Get(dhcpv4.OptionDomainNameServer)) {
		if usableUnicast(d) && len(r.lease.DNS) < MaxDNS {
			r.lease.DNS = append(r.lease.DNS, d)
		}
	}
	if v := m.Options.Get(dhcpv4.OptionInterfaceMTU); len(v) == 2 {
		if mtu := int(binary.BigEndian.Uint16(v)); mtu >= MinMTU && mtu <= MaxMTU {
			r.lease.MTU = mtu
		}
	}
	return r, dropNone
}

func secs(v uint32) time.Duration { return time.Duration(v) * time.Second }

// secs32 decodes a 4-byte seconds option; 0 if absent or malformed.
func secs32(b []byte) time.Duration {
	if len(b) != 4 {
		return 0
	}
	return min(secs(binary.BigEndian.Uint32(b)), MaxLeaseTime)
}

func optAddr(b []byte) (netip.Addr, bool) {
	if len(b) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b)), true
}

// addrList decodes an option holding IPv4 addresses; nil if its length is
// not a positive multiple of 4.
func addrList(b []byte) []netip.Addr {
	if len(b) == 0 || len(b)%4 != 0 {
		return nil
	}
	out := make([]netip.Addr, 0, len(b)/4)
	for ; len(b) >= 4; b = b[4:] {
		out = append(out, netip.AddrFrom4([4]byte(b[:4])))
	}
	return out
}

// maskBits returns the prefix length of a contiguous, non-zero netmask.
func maskBits(b []byte) (int, bool) {
	if len(b) != 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(b)
	n := bits.LeadingZeros32(^v)
	if n == 0 || v != ^uint32(0)<<(32-n) {
		return 0, false
	}
	return n, true
}

// classfulBits is the RFC 791 class default mask for a, used when a server
// sends no subnet mask.
func classfulBits(a netip.Addr) int {
	switch b := a.As4(); {
	case b[0] < 128:
		return 8
	case b[0] < 192:
		return 16
	default:
		return 24
	}
}
