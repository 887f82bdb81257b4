package ndp6

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// Multicast Listener Discovery, the listener half (RFC 3810, MLDv2, with
// MLDv1 compatibility, RFC 2710): the node reports the multicast groups
// it listens to — the solicited-node group of each of its addresses (RFC
// 4861 §7.2.1, RFC 4862 §5.4.2) and Config.Groups — so that a switch that
// snoops MLD (an ISP's access switch, a managed LAN switch) forwards
// neighbour solicitations and the like to the port. routerd reads every
// frame of its ports, so the reports change nothing on its side: they
// are for the switches and routers of the link.
//
// State changes (an address added or removed) are reported at once, or
// with the first DAD probe for a tentative address, and once more within
// a second (the robustness variable, 2). Queries are answered after a
// random part of their maximum response delay, capped at MaxMLDResponse;
// one answer is pending at a time, so a flood of queries costs nothing.
// After an MLDv1 query the node speaks MLDv1 for OlderQuerierTimeout.

// MLD message types.
const (
	TypeMLDQuery    = 130
	TypeMLDv1Report = 131
	TypeMLDv1Done   = 132
	TypeMLDv2Report = 143
)

// MLDv2 record types (RFC 3810 §5.2.12).
const (
	mldIsExclude        = 2
	mldChangeToInclude  = 3
	mldChangeToExclude  = 4
	mldUnsolicitedDelay = time.Second // [Unsolicited Report Interval]
	mldRobustness       = 2
)

// MaxMLDResponse caps the delay before a query is answered (a querier
// may ask for up to 8387 s); OlderQuerierTimeout is RFC 3810 §9.12's
// Older Version Querier Present Timeout with the default timers.
const (
	MaxMLDResponse      = 10 * time.Second
	OlderQuerierTimeout = 260 * time.Second
	maxExtraGroups      = 8
)

var (
	allMLDv2Routers = netip.MustParseAddr("ff02::16")
	allRouters      = netip.MustParseAddr("ff02::2")
	allNodes        = netip.MustParseAddr("ff02::1")
)

// mldState is the listener's state.
type mldState struct {
	started bool
	groups  []netip.Addr // what the node listens to, as last reported

	// A state change being (re)transmitted.
	joins, leaves []netip.Addr
	changeLeft    int
	changeDue     time.Duration

	// A query being answered: every group, or one.
	queryPending bool
	queryGroup   netip.Addr // zero: a general query
	queryDue     time.Duration

	v1Until time.Duration // an MLDv1 querier was heard: speak MLDv1 until then
}

// wantedGroups lists the groups the node listens to now: the solicited-
// node group of each address (tentative ones too: RFC 4862 §5.4.2 joins
// before DAD) and Config.Groups, each once.
func (n *Node) wantedGroups() []netip.Addr {
	g := make([]netip.Addr, 0, len(n.addrs)+len(n.cfg.Groups))
	for i := range n.addrs {
		if s := SolicitedNode(n.addrs[i].Addr); !slices.Contains(g, s) {
			g = append(g, s)
		}
	}
	for _, a := range n.cfg.Groups {
		if !slices.Contains(g, a) {
			g = append(g, a)
		}
	}
	return g
}

// mldSync compares the groups wanted with those reported and schedules
// a state-change report for the difference, sent no later than at.
func (n *Node) mldSync(now, at time.Duration) {
	m := &n.mld
	m.started = true
	want := n.wantedGroups()
	changed := false
	for _, g := range want {
		if !slices.Contains(m.groups, g) {
			m.joins = appendOnce(m.joins, g)
			m.leaves = slices.DeleteFunc(m.leaves, func(a netip.Addr) bool { return a == g })
			changed = true
		}
	}
	for _, g := range m.groups {
		if !slices.Contains(want, g) {
			m.leaves = appendOnce(m.leaves, g)
			m.joins = slices.DeleteFunc(m.joins, func(a netip.Addr) bool { return a == g })
			changed = true
		}
	}
	m.groups = want
	if !changed {
		return
	}
	if m.changeLeft == 0 || at < m.changeDue {
		m.changeDue = max(at, now)
	}
	m.changeLeft = mldRobustness
}

func appendOnce(s []netip.Addr, a netip.Addr) []netip.Addr {
	if slices.Contains(s, a) {
		return s
	}
	return append(s, a)
}

// tickMLD sends the reports that are due.
func (n *Node) tickMLD(out [][]byte, now time.Duration) [][]byte {
	m := &n.mld
	if !m.started {
		n.mldSync(now, now)
	}
	if m.changeLeft > 0 && now >= m.changeDue {
		if now < m.v1Until {
			for _, g := range m.joins {
				out = n.mldv1(out, TypeMLDv1Report, g, g)
			}
			for _, g := range m.leaves {
				out = n.mldv1(out, TypeMLDv1Done, g, allRouters)
			}
		} else {
			recs := make([]mldRecord, 0, len(m.joins)+len(m.leaves))
			for _, g := range m.joins {
				recs = append(recs, mldRecord{mldChangeToExclude, g})
			}
			for _, g := range m.leaves {
				recs = append(recs, mldRecord{mldChangeToInclude, g})
			}
			out = n.mldv2(out, recs)
		}
		m.changeLeft--
		if m.changeLeft == 0 {
			m.joins, m.leaves = m.joins[:0], m.leaves[:0]
		} else {
			m.changeDue = now + time.Duration(1+n.rng.Int64N(int64(mldUnsolicitedDelay)))
		}
	}
	if m.queryPending && now >= m.queryDue {
		m.queryPending = false
		groups := m.groups
		if m.queryGroup.IsValid() {
			groups = []netip.Addr{m.queryGroup}
		}
		if now < m.v1Until {
			for _, g := range groups {
				out = n.mldv1(out, TypeMLDv1Report, g, g)
			}
		} else if len(groups) > 0 {
			recs := make([]mldRecord, 0, len(groups))
			for _, g := range groups {
				recs = append(recs, mldRecord{mldIsExclude, g})
			}
			out = n.mldv2(out, recs)
		}
	}
	return out
}

// IsMLDQuery reports whether ip (an IPv6 packet) is an MLD query: ICMPv6
// type 130 right after the fixed header or after one Hop-by-Hop header
// (where RFC 3810 puts the Router Alert option).
func IsMLDQuery(ip []byte) bool {
	off, ok := mldOffset(ip)
	return ok && ip[off] == TypeMLDQuery
}

// mldOffset finds the ICMPv6 message of ip behind at most one Hop-by-Hop
// header.
func mldOffset(ip []byte) (int, bool) {
	if len(ip) < IPv6HeaderLen+8 {
		return 0, false
	}
	off, next := IPv6HeaderLen, ip[6]
	if next == packet.ProtoHopByHop {
		next = ip[off]
		off += (int(ip[off+1]) + 1) * 8
	}
	return off, next == protoICMPv6 && off+8 <= len(ip)
}

// HandleMLD takes an MLD query (a frame IsMLDQuery accepted) and
// schedules the answer; invalid queries are counted and change nothing.
// Reports of other listeners are not looked at: a listener need not
// suppress its own (RFC 3810 §6).
func (n *Node) HandleMLD(out [][]byte, frame []byte, now time.Duration) [][]byte {
	n.cnt.MLDQueries++
	if len(frame) < EthHeaderLen+IPv6HeaderLen || binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv6 {
		n.cnt.MLDInvalid++
		return out
	}
	ip := frame[EthHeaderLen:]
	off, ok := mldOffset(ip)
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if !ok || ip[off] != TypeMLDQuery || IPv6HeaderLen+plen > len(ip) || off > IPv6HeaderLen+plen {
		n.cnt.MLDInvalid++
		return out
	}
	ip = ip[:IPv6HeaderLen+plen]
	msg := ip[off:]
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	// RFC 3810 §5.1.14: a query from other than a link-local source is
	// ignored; hop limit 1 and a valid checksum as for any MLD message.
	if ip[7] != 1 || !src.IsLinkLocalUnicast() || checksum(src, dst, msg) != 0 {
		n.cnt.MLDInvalid++
		return out
	}
	var delay time.Duration
	switch {
	case len(msg) == 24: // MLDv1 (RFC 2710 §3.4): delay in ms
		delay = time.Duration(binary.BigEndian.Uint16(msg[4:])) * time.Millisecond
		n.mld.v1Until = now + OlderQuerierTimeout
	case len(msg) >= 28: // MLDv2 (RFC 3810 §5.1.3)
		code := int64(binary.BigEndian.Uint16(msg[4:]))
		if code >= 32768 {
			code = (code&0x0fff | 0x1000) << ((code>>12)&7 + 3)
		}
		delay = time.Duration(code) * time.Millisecond
	default:
		n.cnt.MLDInvalid++
		return out
	}
	delay = min(delay, MaxMLDResponse)
	group := netip.AddrFrom16([16]byte(msg[8:24]))
	if group.IsUnspecified() {
		group = netip.Addr{}
	} else if !slices.Contains(n.mld.groups, group) {
		return out // a group-specific query for a group the node is not in
	}
	at := now
	if delay > 0 {
		at += time.Duration(n.rng.Int64N(int64(delay)))
	}
	m := &n.mld
	switch {
	case !m.queryPending:
		m.queryPending, m.queryGroup, m.queryDue = true, group, at
	case !group.IsValid() || m.queryGroup != group:
		// A general query, or another group: answer with every group, at
		// the earlier time.
		m.queryGroup, m.queryDue = netip.Addr{}, min(m.queryDue, at)
	default:
		m.queryDue = min(m.queryDue, at)
	}
	return out
}

type mldRecord struct {
	typ   uint8
	group netip.Addr
}

// mldSource is the link-local address once assigned, else :: (RFC 3810
// §5.2.13 allows the unspecified source while DAD runs).
func (n *Node) mldSource() netip.Addr {
	for i := range n.addrs {
		if a := n.addrs[i].Addr; a.IsLinkLocalUnicast() && n.addrs[i].State == Assigned {
			return a
		}
	}
	return netip.IPv6Unspecified()
}

// mldv2 appends an MLDv2 report with recs to ff02::16.
func (n *Node) mldv2(out [][]byte, recs []mldRecord) [][]byte {
	if len(recs) == 0 {
		return out
	}
	msg := make([]byte, 8+20*len(recs))
	msg[0] = TypeMLDv2Report
	binary.BigEndian.PutUint16(msg[6:], uint16(len(recs)))
	for i, r := range recs {
		rec := msg[8+20*i:]
		rec[0] = r.typ
		g := r.group.As16()
		copy(rec[4:20], g[:])
	}
	n.cnt.MLDReportsSent++
	return append(out, n.mldFrame(allMLDv2Routers, msg))
}

// mldv1 appends an MLDv1 Report or Done for group, sent to dst.
func (n *Node) mldv1(out [][]byte, typ uint8, group, dst netip.Addr) [][]byte {
	msg := make([]byte, 24)
	msg[0] = typ
	g := group.As16()
	copy(msg[8:24], g[:])
	n.cnt.MLDReportsSent++
	return append(out, n.mldFrame(dst, msg))
}

// mldFrame frames an MLD message: hop limit 1 and a Hop-by-Hop header
// with the Router Alert option (value 0, MLD; RFC 2711), as RFC 3810 §5
// and RFC 2710 §3 require.
func (n *Node) mldFrame(dst netip.Addr, msg []byte) []byte {
	src := n.mldSource()
	binary.BigEndian.PutUint16(msg[2:], 0)
	binary.BigEndian.PutUint16(msg[2:], checksum(src, dst, msg))
	b := make([]byte, EthHeaderLen+IPv6HeaderLen+8+len(msg))
	mac := MulticastMAC(dst)
	copy(b[0:6], mac[:])
	copy(b[6:12], n.cfg.MAC[:])
	binary.BigEndian.PutUint16(b[12:], etherTypeIPv6)
	ip := b[EthHeaderLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(8+len(msg)))
	ip[6] = packet.ProtoHopByHop
	ip[7] = 1
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	copy(ip[IPv6HeaderLen:], []byte{protoICMPv6, 0, 5, 2, 0, 0, 1, 0}) // Router Alert 0, PadN
	copy(ip[IPv6HeaderLen+8:], msg)
	return b
}
