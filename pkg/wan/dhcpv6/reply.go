package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/passgate/passgate/pkg/peertext"
)

// SOL_MAX_RT bounds (RFC 8415 §21.24): a server may raise or lower the
// Solicit retransmission ceiling only within these, so it can never make
// the client Solicit more often than once a minute at the ceiling.
const (
	minSolMaxRT = 60 * time.Second
	maxSolMaxRT = 86400 * time.Second
)

// maxOptions bounds the top-level options of a message looked at.
const maxOptions = 128

// dropReason is why a received message was ignored.
type dropReason int

const (
	dropNone          dropReason = iota
	dropMalformed                // not a parseable DHCPv6 message, or too large
	dropReconfigure              // Reconfigure: never accepted (RFC 8415 §18.2.11)
	dropUnexpected               // not Advertise/Reply, or not one the state waits for
	dropWrongXID                 // not an answer to the current exchange
	dropWrongClientID            // Client Identifier missing or not ours
	dropBadServerID              // Server Identifier missing, unusable, or not the server asked
	dropStatus                   // a status (UnspecFail, UseMulticast, ...) that changes nothing yet
	dropNoPrefix                 // no usable prefix for us in it
)

func (r dropReason) String() string {
	return [...]string{"none", "malformed", "Reconfigure (not accepted)", "unexpected message type for the state",
		"wrong transaction ID", "missing or foreign client identifier", "bad, missing or other server identifier",
		"status code", "no usable prefix"}[r]
}

// reply is a server message that passed the checks that do not depend on
// the client's state.
type reply struct {
	typ        d6.MessageType // Advertise or Reply
	xid        d6.TransactionID
	from       netip.Addr
	serverID   []byte
	pref       uint8
	rapid      bool
	status     iana.StatusCode // top level; StatusSuccess if absent
	statusText string
	solMaxRT   time.Duration // 0 if absent or out of bounds
	unicast    netip.Addr    // OPTION_UNICAST, if valid
	pd, na     *iaResult     // our IAs; nil if absent or discarded
	discarded  int           // IAs discarded for T1 > T2 (RFC 8415 §21.4, §21.21)
	badItems   int           // prefixes or addresses refused
	dns        []netip.Addr
	domains    []string
	reconfKey  []byte // an RKAP reconfigure key (one Authentication option only)
	replay     uint64 // its replay counter
}

// iaResult is one of our IAs in a server message.
type iaResult struct {
	status iana.StatusCode
	t1, t2 time.Duration // as sent, capped at MaxLifetime
	items  []iaItem
}

// iaItem is a prefix (IA_PD) or an address as a /128 (IA_NA).
type iaItem struct {
	prefix           netip.Prefix
	preferred, valid time.Duration
}

func (ia *iaResult) find(p netip.Prefix) (iaItem, bool) {
	if ia == nil {
		return iaItem{}, false
	}
	for _, it := range ia.items {
		if it.prefix == p {
			return it, true
		}
	}
	return iaItem{}, false
}

// parseReply decodes b, a message from the IPv6 address from, and checks
// that it is an Advertise or Reply for the client with DUID clientID, with
// a usable server identifier. It keeps the IA_PD (and IA_NA) with IAID
// iaid, refusing prefixes and addresses that fail the checks of
// usablePrefix and RFC 8415 §21.21–21.22, and IAs with T1 > T2 > 0.
func parseReply(b []byte, from netip.Addr, clientID []byte, iaid [4]byte) (*reply, dropReason) {
	if len(b) < 4 || len(b) > MaxMessageLen {
		return nil, dropMalformed
	}
	switch d6.MessageType(b[0]) {
	case d6.MessageTypeAdvertise, d6.MessageTypeReply:
	case d6.MessageTypeReconfigure:
		return nil, dropReconfigure
	default:
		return nil, dropUnexpected
	}
	ids, ok := sanitize(b)
	if !ok {
		return nil, dropMalformed
	}
	msg, err := d6.MessageFromBytes(b)
	if err != nil {
		return nil, dropMalformed
	}
	if ids.client == nil || !bytes.Equal(ids.client, clientID) {
		return nil, dropWrongClientID
	}
	if len(ids.server) < 3 || len(ids.server) > 130 {
		return nil, dropBadServerID
	}
	r := &reply{
		typ:      msg.MessageType,
		xid:      msg.TransactionID,
		from:     from,
		serverID: bytes.Clone(ids.server),
		pref:     msg.Options.Preference(),
		rapid:    msg.GetOneOption(d6.OptionRapidCommit) != nil,
		status:   iana.StatusSuccess,
	}
	if ids.nAuth == 1 && r.typ == d6.MessageTypeReply {
		if key, replay, ok := parseKey(ids.auth); ok {
			r.reconfKey, r.replay = key, replay
		}
	}
	if st := msg.Options.Status(); st != nil {
		r.status = st.StatusCode
		r.statusText = peertext.Clean([]byte(st.StatusMessage), 128)
	}
	if o := msg.GetOneOption(d6.OptionSolMaxRT); o != nil {
		if v := o.ToBytes(); len(v) == 4 {
			if d := time.Duration(binary.BigEndian.Uint32(v)) * time.Second; d >= minSolMaxRT && d <= maxSolMaxRT {
				r.solMaxRT = d
			}
		}
	}
	if o := msg.GetOneOption(d6.OptionUnicast); o != nil {
		if a, ok := netip.AddrFromSlice(o.ToBytes()); ok && globalOrULA(a) {
			r.unicast = a
		}
	}
	for _, ia := range msg.Options.IAPD() {
		if ia.IaId != iaid {
			continue
		}
		if ia.T1 > ia.T2 && ia.T2 > 0 {
			r.discarded++
			break
		}
		r.pd = &iaResult{status: iaStatus(ia.Options.Status()), t1: capped(ia.T1), t2: capped(ia.T2)}
		for _, p := range ia.Options.Prefixes() {
			if len(r.pd.items) == maxIAItems {
				break
			}
			it, ok := prefixItem(p)
			if !ok {
				r.badItems++
				continue
			}
			if _, dup := r.pd.find(it.prefix); !dup {
				r.pd.items = append(r.pd.items, it)
			}
		}
		break
	}
	for _, ia := range msg.Options.IANA() {
		if ia.IaId != iaid {
			continue
		}
		if ia.T1 > ia.T2 && ia.T2 > 0 {
			r.discarded++
			break
		}
		r.na = &iaResult{status: iaStatus(ia.Options.Status()), t1: capped(ia.T1), t2: capped(ia.T2)}
		for _, a := range ia.Options.Addresses() {
			if len(r.na.items) == maxIAItems {
				break
			}
			addr, ok := netip.AddrFromSlice(a.IPv6Addr)
			if !ok || len(a.IPv6Addr) != net.IPv6len || !globalOrULA(addr) || a.PreferredLifetime > a.ValidLifetime {
				r.badItems++
				continue
			}
			r.na.items = append(r.na.items, iaItem{netip.PrefixFrom(addr, 128), capped(a.PreferredLifetime), capped(a.ValidLifetime)})
		}
		break
	}
	for _, ip := range msg.Options.DNS() {
		a, ok := netip.AddrFromSlice(ip)
		if !ok || !globalOrULA(a) || len(r.dns) == MaxDNS {
			continue
		}
		if !contains(r.dns, a) {
			r.dns = append(r.dns, a)
		}
	}
	if l := msg.Options.DomainSearchList(); l != nil {
		for _, name := range l.Labels {
			name = strings.TrimSuffix(name, ".")
			if len(r.domains) < MaxDomains && validDomain(name) {
				r.domains = append(r.domains, strings.ToLower(name))
			}
		}
	}
	return r, dropNone
}

// prefixItem checks one IA Prefix option (RFC 8415 §21.22).
func prefixItem(p *d6.OptIAPrefix) (iaItem, bool) {
	if p.Prefix == nil || len(p.Prefix.IP) != net.IPv6len {
		return iaItem{}, false
	}
	ones, bits := p.Prefix.Mask.Size()
	if bits != 128 {
		return iaItem{}, false
	}
	a, _ := netip.AddrFromSlice(p.Prefix.IP)
	pfx := netip.PrefixFrom(a, ones)
	if usablePrefix(pfx) != nil || p.PreferredLifetime > p.ValidLifetime {
		return iaItem{}, false
	}
	return iaItem{pfx, capped(p.PreferredLifetime), capped(p.ValidLifetime)}, true
}

func iaStatus(st *d6.OptStatusCode) iana.StatusCode {
	if st == nil {
		return iana.StatusSuccess
	}
	return st.StatusCode
}

func capped(d time.Duration) time.Duration { return min(max(d, 0), MaxLifetime) }

func contains(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// rawIDs are the client and server identifiers of a message, as sent.
type rawIDs struct {
	client, server []byte
	auth           []byte // the first Authentication option's data
	nAuth          int
}

// sanitize walks the top-level options of the message b (at most
// maxOptions), returns the raw client and server identifiers, and defuses
// a domain list that is compressed or malformed (RFC 8415 §10 forbids
// compression) by renumbering it to option 0, which the codec keeps as
// opaque bytes: the codec's label parser follows compression pointers at a
// cost quadratic in the option's size. It reports false for a message
// whose options do not fit it.
func sanitize(b []byte) (rawIDs, bool) {
	var ids rawIDs
	off, n := 4, 0
	for off < len(b) {
		if off+4 > len(b) || n == maxOptions {
			return ids, false
		}
		code := d6.OptionCode(binary.BigEndian.Uint16(b[off:]))
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		data := b[off+4:]
		if l > len(data) {
			return ids, false
		}
		data = data[:l]
		switch code {
		case d6.OptionClientID:
			if ids.client == nil {
				ids.client = data
			}
		case d6.OptionServerID:
			if ids.server == nil {
				ids.server = data
			}
		case optAuth:
			if ids.nAuth == 0 {
				ids.auth = data
			}
			ids.nAuth++
		case d6.OptionDomainSearchList:
			if !validDomainList(data) {
				binary.BigEndian.PutUint16(b[off:], 0)
			}
		}
		off += 4 + l
		n++
	}
	return ids, true
}

// validDomainList reports whether b is a list of uncompressed,
// root-terminated domain names, each at most 255 bytes.
func validDomainList(b []byte) bool {
	for len(b) > 0 {
		name := 0
		for {
			if len(b) == 0 {
				return false // not terminated
			}
			l := int(b[0])
			b = b[1:]
			name++
			if l == 0 {
				break
			}
			if l > 63 || l > len(b) {
				return false // compression, a reserved label type, or truncated
			}
			name += l
			if name > 255 {
				return false
			}
			b = b[l:]
		}
	}
	return true
}

// validDomain reports whether name is a host name a resolver can search:
// letters, digits, hyphens and underscores in dot-separated labels of 1 to
// 63 bytes, 253 bytes in all.
func validDomain(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
