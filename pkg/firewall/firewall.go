// Package firewall decides IPv4 connections by the owner's rules
// (config "firewall rule"): through the router, LAN to WAN and WAN to LAN
// through a port forward or the DMZ, when the NAT is about to create a
// session (nat.Filter), and to the router itself, per packet (the data
// plane's Local path). Rules are ordered (order, then name); the first
// that matches decides; none matching accepts. A rule may match the side
// that starts the connection and the side it goes to by zone (lan, wan,
// self), a LAN device's MAC address or name (names are resolved to MAC
// addresses by the caller: SetNames), or an address or prefix; the
// protocol and destination ports; and a daily time window on some days,
// in the router's time zone (Tick); and an ICMP message type (icmp-type:
// a name meaning the same message in ICMP and ICMPv6).
//
// Of ICMP, only an echo request opens a session through the router (the
// NAT and fw6 create none for anything else: errors belong to the session
// they are about), so an ICMP NewFlow is an echo request and carries no
// type; a packet to the router is matched by the type it carries. IPv6
// neighbour discovery and packet-too-big to the router are never matched
// by a rule: IPv6 stops working without them (the configuration warns of
// a rule naming them).
//
// Connections already running are not asked again per packet: the caller
// revisits them with Would after a commit, a time window opening or
// closing, or a name moving to another device (nat.Engine.Flush).
package firewall

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// Hit is a connection a rule with logging matched.
type Hit struct {
	Rule     string
	Action   config.RuleAction
	Proto    uint8
	Src, Dst netip.AddrPort
	MAC      [6]byte // the LAN device's, when known
	HasMAC   bool
}

// Options set up a Set.
type Options struct {
	// Location is the router's time zone for time windows (nil: UTC).
	Location *time.Location
	// OnLog is told of every connection a rule with logging matches; it
	// is called with the data plane's lock held and must neither block nor
	// allocate: the caller only queues the Hit, and formats and
	// rate-limits it elsewhere.
	OnLog func(Hit)
	// MACOf returns the MAC address of a LAN address, for rules naming a
	// device when the packet did not come from it (a connection from the
	// WAN, and Would); nil: none known.
	MACOf func(ip uint32) ([6]byte, bool)
	// MACOf6 is MACOf for the LAN's IPv6 addresses (the neighbour cache).
	MACOf6 func(a netip.Addr) ([6]byte, bool)
}

type rule struct {
	config.FirewallRule
	active bool // its time window is open now (always, without one)
	hits   uint64
	// icmp: ICMPType is set; then the ICMP type and code (-1 any) and the
	// ICMPv6 type it matches (-1 none of that family).
	icmp          bool
	t4, code4, t6 int16
}

// icmpMsg is the ICMP message a connection starts with: type and code
// (-1: not ICMP, or not known, such as a later fragment).
type icmpMsg struct{ typ, code int16 }

var (
	noICMP   = icmpMsg{-1, -1}
	echoReq4 = icmpMsg{packet.ICMPEcho, 0}
	echoReq6 = icmpMsg{packet.ICMPv6EchoRequest, 0}
	anyCode  = int16(-1)
)

// readICMP reads the type and code of an ICMP or ICMPv6 header (l4: nil
// for a later fragment).
func readICMP(proto uint8, l4 []byte) icmpMsg {
	if (proto != packet.ProtoICMP && proto != packet.ProtoICMPv6) || len(l4) < 2 {
		return noICMP
	}
	return icmpMsg{int16(l4[0]), int16(l4[1])}
}

// matchICMP reports whether a rule's icmp-type matches the message m of
// a connection of protocol proto.
func (r *rule) matchICMP(proto uint8, m icmpMsg) bool {
	if !r.icmp {
		return true
	}
	switch proto {
	case packet.ProtoICMP:
		return r.t4 >= 0 && m.typ == r.t4 && (r.code4 == anyCode || m.code == r.code4)
	case packet.ProtoICMPv6:
		return r.t6 >= 0 && m.typ == r.t6
	}
	return false
}

// Set is a compiled rule list. It is not safe for concurrent use: the
// data plane calls it under its lock.
type Set struct {
	rules   []*rule
	o       Options
	names   map[string][][6]byte
	hasSelf bool
}

// New compiles rules, active as of now.
func New(rules []config.FirewallRule, now time.Time, o Options) *Set {
	if o.Location == nil {
		o.Location = time.UTC
	}
	s := &Set{o: o}
	for _, r := range rules {
		cr := &rule{FirewallRule: r}
		if t4, c4, t6, ok := r.ICMPType.Types(); ok {
			cr.icmp, cr.t4, cr.code4, cr.t6 = true, int16(t4), int16(c4), int16(t6)
		}
		s.rules = append(s.rules, cr)
		if r.To.Zone == "self" {
			s.hasSelf = true
		}
	}
	slices.SortStableFunc(s.rules, func(a, b *rule) int { return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name)) })
	s.Tick(now)
	return s
}

// Tick opens and closes the rules' time windows as of now and reports
// whether any changed (the caller then revisits running connections).
func (s *Set) Tick(now time.Time) (changed bool) {
	t := now.In(s.o.Location)
	for _, r := range s.rules {
		a := inWindow(r.Time, r.Days, t)
		if a != r.active {
			r.active, changed = a, true
		}
	}
	return changed
}

// inWindow reports whether t falls in the daily window w on days d (zero:
// all day, every day). A window over midnight belongs to the day it
// starts on.
func inWindow(w config.TimeWindow, d config.Weekdays, t time.Time) bool {
	day := t.Weekday()
	if !w.Set {
		return d == 0 || d&(1<<day) != 0
	}
	m := uint16(t.Hour()*60 + t.Minute())
	var in bool
	if w.Start < w.End {
		in = m >= w.Start && m < w.End
	} else {
		in = m >= w.Start || m < w.End
		if m < w.End {
			day = (day + 6) % 7 // the part after midnight: yesterday's window
		}
	}
	return in && (d == 0 || d&(1<<day) != 0)
}

// SetNames resolves device names to MAC addresses (static leases,
// mac-filter devices, DHCP host names; lower case) and reports whether a
// rule's devices changed.
func (s *Set) SetNames(names map[string][][6]byte) bool {
	changed := false
	for _, r := range s.rules {
		for _, e := range []config.Endpoint{r.From, r.To} {
			if e.Host != "" && !slices.Equal(s.names[e.Host], names[e.Host]) {
				changed = true
			}
		}
	}
	s.names = names
	return changed
}

// HasSelf reports whether any rule is about traffic to the router.
func (s *Set) HasSelf() bool { return s.hasSelf }

// side is one end of a connection as rules see it.
type side struct {
	zone   string
	ip     uint32     // IPv4
	a6     netip.Addr // IPv6 (then ip is 0)
	mac    [6]byte
	hasMAC bool
}

func (x *side) addrPort(port uint16) netip.AddrPort {
	if x.a6.IsValid() {
		return netip.AddrPortFrom(x.a6, port)
	}
	return netip.AddrPortFrom(packet.AddrFrom4(x.ip), port)
}

func (s *Set) matchEnd(e *config.Endpoint, x *side) bool {
	switch {
	case e.IsZero():
		return true
	case e.Zone != "":
		return e.Zone == x.zone
	case !e.MAC.IsZero():
		return x.hasMAC && [6]byte(e.MAC) == x.mac
	case e.Prefix.IsValid():
		if x.a6.IsValid() {
			return e.Prefix.Contains(x.a6) // the rules' prefixes are IPv4: never
		}
		return e.Prefix.Contains(packet.AddrFrom4(x.ip))
	}
	return x.hasMAC && slices.Contains(s.names[e.Host], x.mac)
}

func matchProto(p config.RuleProto, proto uint8) bool {
	switch p {
	case config.RuleAny:
		return true
	case config.RuleTCP:
		return proto == packet.ProtoTCP
	case config.RuleUDP:
		return proto == packet.ProtoUDP
	case config.RuleTCPUDP:
		return proto == packet.ProtoTCP || proto == packet.ProtoUDP
	case config.RuleICMP:
		return proto == packet.ProtoICMP || proto == packet.ProtoICMPv6
	}
	return false
}

// decide runs the rules over one connection; count: a real one (counted,
// logged), not a question.
func (s *Set) decide(proto uint8, m icmpMsg, src, dst side, sport, dport uint16, count bool) nat.FilterVerdict {
	for _, r := range s.rules {
		if !r.active || !matchProto(r.Protocol, proto) || !r.matchICMP(proto, m) || !s.matchEnd(&r.From, &src) || !s.matchEnd(&r.To, &dst) {
			continue
		}
		if !r.Port.IsZero() && (proto != packet.ProtoTCP && proto != packet.ProtoUDP || dport < r.Port.First || dport > r.Port.Last) {
			continue
		}
		if count {
			r.hits++
			if r.Log && s.o.OnLog != nil {
				h := Hit{Rule: r.Name, Action: r.Action, Proto: proto, Src: src.addrPort(sport), Dst: dst.addrPort(dport)}
				for _, x := range []side{src, dst} {
					if x.hasMAC {
						h.MAC, h.HasMAC = x.mac, true
					}
				}
				s.o.OnLog(h)
			}
		}
		switch r.Action {
		case config.ActionDrop:
			return nat.FilterDrop
		case config.ActionReject:
			return nat.FilterReject
		}
		return nat.FilterAccept
	}
	return nat.FilterAccept
}

// sides turns a new NAT session into the rules' two ends.
func (s *Set) sides(f nat.NewFlow) (src, dst side, sport, dport uint16) {
	host := side{zone: "lan", ip: f.Host, mac: f.MAC, hasMAC: f.HasMAC}
	if !host.hasMAC && s.o.MACOf != nil {
		host.mac, host.hasMAC = s.o.MACOf(f.Host)
	}
	remote := side{zone: "wan", ip: f.Remote}
	if f.Inbound {
		return remote, host, f.RemotePort, f.HostPort
	}
	return host, remote, f.HostPort, f.RemotePort
}

// Decide is nat.Filter: a new session through the router.
func (s *Set) Decide(f nat.NewFlow) nat.FilterVerdict {
	if len(s.rules) == 0 {
		return nat.FilterAccept
	}
	src, dst, sp, dp := s.sides(f)
	m := noICMP
	if f.Proto == packet.ProtoICMP {
		sp, dp, m = 0, 0, echoReq4
	}
	return s.decide(f.Proto, m, src, dst, sp, dp, true)
}

// Would says what the rules decide about a session now, without counting
// it: for revisiting running sessions.
func (s *Set) Would(si nat.SessionInfo) nat.FilterVerdict {
	if len(s.rules) == 0 {
		return nat.FilterAccept
	}
	f := nat.NewFlow{Proto: si.Protocol, Inbound: si.Forwarded, Host: packet.AddrTo4(si.Internal.Addr()), HostPort: si.Internal.Port(),
		Remote: packet.AddrTo4(si.Remote.Addr()), RemotePort: si.Remote.Port()}
	src, dst, sp, dp := s.sides(f)
	m := noICMP
	if f.Proto == packet.ProtoICMP {
		sp, dp, m = 0, 0, echoReq4
	}
	return s.decide(f.Proto, m, src, dst, sp, dp, false)
}

// sides6 is sides for an IPv6 connection.
func (s *Set) sides6(f fw6.NewFlow) (src, dst side, sport, dport uint16) {
	host := side{zone: "lan", a6: f.Host, mac: f.MAC, hasMAC: f.HasMAC}
	if !host.hasMAC && s.o.MACOf6 != nil {
		host.mac, host.hasMAC = s.o.MACOf6(f.Host)
	}
	remote := side{zone: "wan", a6: f.Remote}
	sport, dport = f.HostPort, f.RemotePort
	if f.Proto == packet.ProtoICMPv6 {
		sport, dport = 0, 0
	}
	if f.Inbound {
		return remote, host, dport, sport
	}
	return host, remote, sport, dport
}

// flowICMP6 is the message an IPv6 session of proto starts with: an
// ICMPv6 session is an echo request's.
func flowICMP6(proto uint8) icmpMsg {
	if proto == packet.ProtoICMPv6 {
		return echoReq6
	}
	return noICMP
}

// to6 is v as fw6 says it.
func to6(v nat.FilterVerdict) fw6.FilterVerdict {
	switch v {
	case nat.FilterDrop:
		return fw6.FilterDrop
	case nat.FilterReject:
		return fw6.FilterReject
	}
	return fw6.FilterAccept
}

// Decide6 is fw6.Filter: a new IPv6 connection through the router. Rules
// naming IPv4 addresses never match it; zones, MACs and names do.
func (s *Set) Decide6(f fw6.NewFlow) fw6.FilterVerdict {
	if len(s.rules) == 0 {
		return fw6.FilterAccept
	}
	src, dst, sp, dp := s.sides6(f)
	return to6(s.decide(f.Proto, flowICMP6(f.Proto), src, dst, sp, dp, true))
}

// Would6 is Would for a running IPv6 session.
func (s *Set) Would6(se fw6.Session) fw6.FilterVerdict {
	if len(s.rules) == 0 || se.Self {
		return fw6.FilterAccept
	}
	f := fw6.NewFlow{Proto: se.Protocol, Inbound: se.Inbound, Host: se.LAN.Addr(), HostPort: se.LAN.Port(), Remote: se.Remote.Addr(), RemotePort: se.Remote.Port()}
	src, dst, sp, dp := s.sides6(f)
	return to6(s.decide(f.Proto, flowICMP6(f.Proto), src, dst, sp, dp, false))
}

// DecideSelf decides a packet to the router itself (p, from the LAN
// device mac, or from the WAN).
func (s *Set) DecideSelf(p packet.IPv4, fromWAN bool, mac [6]byte) nat.FilterVerdict {
	if !s.hasSelf || len(p) < packet.IPv4HeaderLen {
		return nat.FilterAccept
	}
	src := selfSource(fromWAN, mac)
	src.ip = p.Src()
	dst := side{zone: "self", ip: p.Dst()}
	proto := p.Protocol()
	var l4 []byte
	if p.FragOffset() == 0 {
		l4 = p[min(p.HeaderLen(), len(p)):]
	}
	sp, dp, count := selfPorts(proto, l4)
	return s.decide(proto, readICMP(proto, l4), src, dst, sp, dp, count)
}

// selfSource is the sending side of a packet to the router: a LAN device
// (its MAC known) or the WAN; the caller sets its address.
func selfSource(fromWAN bool, mac [6]byte) side {
	if fromWAN {
		return side{zone: "wan"}
	}
	return side{zone: "lan", mac: mac, hasMAC: true}
}

// selfPorts reads the ports of a packet to the router (l4: its transport
// header, nil for a later fragment) and whether it counts: a packet
// counts when it starts something, a TCP SYN or any other datagram.
func selfPorts(proto uint8, l4 []byte) (sp, dp uint16, count bool) {
	if (proto != packet.ProtoTCP && proto != packet.ProtoUDP) || len(l4) < 4 {
		return 0, 0, true
	}
	sp, dp = packet.Ports(l4).Src(), packet.Ports(l4).Dst()
	if proto == packet.ProtoTCP {
		return sp, dp, len(l4) >= packet.TCPHeaderLen && packet.TCP(l4).Flags()&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn
	}
	return sp, dp, true
}

// DecideSelf6 is DecideSelf for an IPv6 packet to the router. The
// transport is read only right after the fixed header (no extension
// headers: those packets are matched by protocol alone).
func (s *Set) DecideSelf6(p packet.IPv6, fromWAN bool, mac [6]byte) fw6.FilterVerdict {
	if !s.hasSelf || len(p) < packet.IPv6HeaderLen {
		return fw6.FilterAccept
	}
	src := selfSource(fromWAN, mac)
	src.a6 = p.SrcAddr()
	dst := side{zone: "self", a6: p.DstAddr()}
	proto := p.NextHeader()
	l4 := p[packet.IPv6HeaderLen:]
	m := readICMP(proto, l4)
	if proto == packet.ProtoICMPv6 && ndOrPTB(m.typ) {
		return fw6.FilterAccept
	}
	sp, dp, count := selfPorts(proto, l4)
	return to6(s.decide(proto, m, src, dst, sp, dp, count))
}

// ndOrPTB reports the ICMPv6 types no rule to the router matches:
// packet-too-big and neighbour discovery (router and neighbour
// solicitation and advertisement, redirect), without which IPv6 breaks.
func ndOrPTB(t int16) bool {
	return t == packet.ICMPv6PacketTooBig || t >= packet.ICMPv6RouterSolicit && t <= packet.ICMPv6Redirect
}

// WouldSelf says what the rules decide about a TCP connection from a LAN
// address (IPv4 or IPv6; and MAC, if known) to the router's port, without
// counting it: the lock-out check of a commit.
func (s *Set) WouldSelf(from netip.Addr, mac [6]byte, hasMAC bool, proto uint8, port uint16) nat.FilterVerdict {
	src := side{zone: "lan", mac: mac, hasMAC: hasMAC}
	if from.Is4() || from.Is4In6() {
		src.ip = packet.AddrTo4(from.Unmap())
	} else {
		src.a6 = from
	}
	return s.decide(proto, noICMP, src, side{zone: "self"}, 0, port, false)
}

// Count is one rule's counter, for show firewall.
type Count struct {
	Name   string
	Action config.RuleAction
	Active bool // its time window is open
	Hits   uint64
}

// Counts lists the rules in the order they run.
func (s *Set) Counts() []Count {
	out := make([]Count, len(s.rules))
	for i, r := range s.rules {
		out[i] = Count{Name: r.Name, Action: r.Action, Active: r.active, Hits: r.hits}
	}
	return out
}

// CarryCounts keeps the counters of the rules of old that are in s with
// the same definition (a commit that does not change a rule keeps its
// count).
func (s *Set) CarryCounts(old *Set) {
	if old == nil {
		return
	}
	by := map[string]*rule{}
	for _, r := range old.rules {
		by[r.Name] = r
	}
	for _, r := range s.rules {
		if o := by[r.Name]; o != nil && o.FirewallRule == r.FirewallRule {
			r.hits = o.hits
		}
	}
}
