package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	// Time zones work on a router without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Firewall rules (issue #18): ordered, named rules for IPv4 traffic
// through the router (LAN to WAN, and WAN to LAN through a port forward or
// the DMZ) and to the router itself. A rule is decided when a connection
// starts; a commit, a time window opening or closing, or a device's
// address changing decide the running connections again.

// MaxFirewallRules bounds the rules.
const MaxFirewallRules = 256

// FirewallRule is one rule: what it matches, and what it does.
type FirewallRule struct {
	Name     string
	Order    int      // rules run in ascending order, then by name (default 0)
	From     Endpoint // the side that starts the connection; zero: any
	To       Endpoint // the side it goes to; zero: any
	Protocol RuleProto
	Port     PortRange  // destination port(s), TCP and UDP; zero: any
	ICMPType ICMPType   // ICMP/ICMPv6 message type; zero: any (and any protocol)
	Time     TimeWindow // zero: at any time
	Days     Weekdays   // zero: every day
	Action   RuleAction
	Log      bool
}

// RuleProto is a rule's protocol ("" any).
type RuleProto string

// Rule protocols.
const (
	RuleAny    RuleProto = ""
	RuleTCP    RuleProto = "tcp"
	RuleUDP    RuleProto = "udp"
	RuleTCPUDP RuleProto = "tcp-udp"
	RuleICMP   RuleProto = "icmp"
)

// RuleAction is what a rule does with what it matches.
type RuleAction string

// Rule actions.
const (
	ActionAccept RuleAction = "accept"
	ActionDrop   RuleAction = "drop"
	ActionReject RuleAction = "reject" // a TCP RST, or an ICMP "administratively prohibited", to a LAN host that tries
)

// Endpoint is one side of a rule: a zone (lan, wan, or self: the router),
// a LAN device by MAC address or by name (a static lease, a mac-filter
// device, or the host name it gave DHCP), or an address or prefix.
type Endpoint struct {
	Zone   string // "lan", "wan", "self" or ""
	MAC    MAC
	Prefix netip.Prefix
	Host   string
}

// IsZero reports an endpoint that matches anything.
func (e Endpoint) IsZero() bool { return e == Endpoint{} }

func (e Endpoint) String() string {
	switch {
	case e.Zone != "":
		return e.Zone
	case !e.MAC.IsZero():
		return e.MAC.String()
	case e.Prefix.IsValid():
		if e.Prefix.IsSingleIP() {
			return e.Prefix.Addr().String()
		}
		return e.Prefix.String()
	}
	return e.Host
}

// ICMPType is a rule's ICMP message type ("" any): a name from
// icmpTypes, meaning the same message in ICMP (IPv4) and ICMPv6 where
// both have it, or one family's number, "v4:N" or "v6:N". A rule with an
// ICMP type matches only ICMP and ICMPv6 (protocol icmp is implied).
type ICMPType string

// icmpTypes are the ICMP type names: the type in ICMP (and its code, -1
// any) and in ICMPv6; -1 where the family has no such message.
// packet-too-big is ICMPv6's; on IPv4 the same message is a destination
// unreachable with code 4 (fragmentation needed and DF set).
var icmpTypes = []struct {
	name          string
	v4, code4, v6 int
}{
	{"echo-request", 8, -1, 128},
	{"echo-reply", 0, -1, 129},
	{"destination-unreachable", 3, -1, 1},
	{"packet-too-big", 3, 4, 2},
	{"time-exceeded", 11, -1, 3},
	{"parameter-problem", 12, -1, 4},
	{"redirect", 5, -1, 137},
	{"router-solicitation", 10, -1, 133},
	{"router-advertisement", 9, -1, 134},
	{"neighbour-solicitation", -1, -1, 135},
	{"neighbour-advertisement", -1, -1, 136},
	{"timestamp-request", 13, -1, -1},
	{"timestamp-reply", 14, -1, -1},
}

// ICMPTypeNames lists the names icmp-type takes.
func ICMPTypeNames() []string {
	out := make([]string, len(icmpTypes))
	for i, t := range icmpTypes {
		out[i] = t.name
	}
	return out
}

// Types says what t matches: the ICMP type and code (-1: any code) on
// IPv4 and the ICMPv6 type; a type of -1 matches nothing of that family.
// The zero ICMPType reports ok false (any message).
func (t ICMPType) Types() (v4, code4, v6 int, ok bool) {
	if t == "" {
		return -1, -1, -1, false
	}
	for _, e := range icmpTypes {
		if e.name == string(t) {
			return e.v4, e.code4, e.v6, true
		}
	}
	fam, num, _ := strings.Cut(string(t), ":")
	n, _ := atoi(num)
	if fam == "v6" {
		return -1, -1, n, true
	}
	return n, -1, -1, true
}

func parseICMPType(s string) (any, error) {
	s = strings.ToLower(s)
	if r, ok := strings.CutPrefix(s, "neighbor-"); ok {
		s = "neighbour-" + r
	}
	for _, e := range icmpTypes {
		if e.name == s {
			return ICMPType(s), nil
		}
	}
	if fam, num, ok := strings.Cut(s, ":"); ok && (fam == "v4" || fam == "v6") {
		if n, ok := atoi(num); ok && n <= 255 {
			return ICMPType(fmt.Sprintf("%s:%d", fam, n)), nil
		}
		return nil, errf("%q: the type number is 0-255, e.g. %s:8", s, fam)
	}
	return nil, errf("%q is not an ICMP type; use %s, or a number as v4:N (ICMP) or v6:N (ICMPv6)", s, orList(ICMPTypeNames()))
}

func tICMPType() *vtype {
	return &vtype{ph: "<NAME|v4:N|v6:N>", help: "ICMP message type, e.g. echo-request (ping), for IPv4 and IPv6; a number for one family, v4:13 or v6:128",
		parse:  parseICMPType,
		format: func(v any) string { return string(v.(ICMPType)) },
	}
}

// TimeWindow is a daily window in the router's time zone, minutes after
// midnight; End before Start runs over midnight (21:00-07:00).
type TimeWindow struct {
	Start, End uint16
	Set        bool
}

func (w TimeWindow) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.Start/60, w.Start%60, w.End/60, w.End%60)
}

// Weekdays is a set of days, bit 0 Sunday (time.Weekday).
type Weekdays uint8

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func (d Weekdays) String() string {
	var out []string
	for _, i := range []int{1, 2, 3, 4, 5, 6, 0} { // the week from Monday
		if d&(1<<i) != 0 {
			out = append(out, dayNames[i])
		}
	}
	return strings.Join(out, ",")
}

// ---- values ----

func parseEndpoint(s string, self bool) (any, error) {
	switch s {
	case "lan", "wan":
		return Endpoint{Zone: s}, nil
	case "self":
		if self {
			return Endpoint{Zone: s}, nil
		}
		return nil, errf("self is the router itself: it can be a rule's \"to\", not its \"from\"")
	}
	if m, ok := parseMAC(s); ok {
		if m.IsZero() || m[0]&1 != 0 {
			return nil, errf("%s is not a device's MAC address", m)
		}
		return Endpoint{MAC: m}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if !p.Addr().Is4() {
			return nil, errf("%s: firewall rules are for IPv4; IPv6 has firewall ipv6", s)
		}
		return Endpoint{Prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			return nil, errf("%s: firewall rules are for IPv4; IPv6 has firewall ipv6", s)
		}
		return Endpoint{Prefix: netip.PrefixFrom(a, 32)}, nil
	}
	if err := checkLabel(s); err != nil {
		return nil, errf("%q is not lan, wan%s, a MAC address, an IPv4 address or prefix, or a device name (%v)", s, map[bool]string{true: ", self", false: ""}[self], err)
	}
	return Endpoint{Host: strings.ToLower(s)}, nil
}

// checkLabel accepts a device name: a DNS label (letters, digits,
// hyphens, at most 63).
func checkLabel(s string) error {
	if s == "" || len(s) > 63 {
		return fmt.Errorf("1 to 63 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !(c == '-' && i > 0 && i < len(s)-1) {
			return fmt.Errorf("letters, digits and inner hyphens only")
		}
	}
	return nil
}

func tEndpoint(self bool, help string) *vtype {
	ph := "<lan|wan|MAC|A.B.C.D[/LEN]|NAME>"
	if self {
		ph = "<lan|wan|self|MAC|A.B.C.D[/LEN]|NAME>"
	}
	return &vtype{ph: ph, help: help,
		parse:  func(s string) (any, error) { return parseEndpoint(s, self) },
		format: func(v any) string { return v.(Endpoint).String() },
	}
}

func parseClock(s string) (uint16, bool) {
	h, m, ok := strings.Cut(s, ":")
	hh, ok1 := atoi(h)
	mm, ok2 := atoi(m)
	if !ok || !ok1 || !ok2 || len(m) != 2 || hh > 24 || mm > 59 || hh == 24 && mm != 0 {
		return 0, false
	}
	return uint16(hh*60 + mm), true
}

func tTimeWindow() *vtype {
	return &vtype{ph: "<HH:MM-HH:MM>", help: "daily window in the router's time zone, e.g. 21:00-07:00 (over midnight)",
		parse: func(s string) (any, error) {
			a, b, ok := strings.Cut(s, "-")
			start, ok1 := parseClock(a)
			end, ok2 := parseClock(b)
			if !ok || !ok1 || !ok2 {
				return nil, errf("%q is not a time window; use HH:MM-HH:MM, e.g. 21:00-07:00", s)
			}
			if start == end {
				return nil, errf("%q is empty: start and end are the same; leave time out for all day", s)
			}
			if end == 24*60 {
				end = 0
			}
			return TimeWindow{Start: start, End: end, Set: true}, nil
		},
		format: func(v any) string { return v.(TimeWindow).String() },
	}
}

func tWeekdays() *vtype {
	return &vtype{ph: "<DAYS>", help: "days, e.g. mon-fri, sat,sun or mon,wed,fri",
		parse: func(s string) (any, error) {
			var d Weekdays
			day := func(n string) (int, bool) {
				for i, dn := range dayNames {
					if n == dn {
						return i, true
					}
				}
				return 0, false
			}
			for _, part := range strings.Split(strings.ToLower(s), ",") {
				a, b, isRange := strings.Cut(part, "-")
				i, ok := day(a)
				j := i
				if isRange {
					var ok2 bool
					j, ok2 = day(b)
					ok = ok && ok2
				}
				if !ok {
					return nil, errf("%q is not a list of days; use mon tue wed thu fri sat sun, with commas and ranges, e.g. mon-fri or sat,sun", s)
				}
				for k := i; ; k = (k + 1) % 7 {
					d |= 1 << k
					if k == j {
						break
					}
				}
			}
			return d, nil
		},
		format: func(v any) string { return v.(Weekdays).String() },
	}
}

func tTimeZone() *vtype {
	return &vtype{ph: "<ZONE>", help: "IANA time zone, e.g. Europe/Berlin, America/New_York or UTC",
		parse: func(s string) (any, error) {
			ok := len(s) > 0 && len(s) <= 64
			for i := 0; ok && i < len(s); i++ {
				c := s[i]
				ok = isAlnum(c) || strings.IndexByte("/_+-", c) >= 0
			}
			if ok {
				_, err := time.LoadLocation(s)
				ok = err == nil && s != "Local"
			}
			if !ok {
				return nil, errf("%q is not a time zone; use an IANA name like Europe/Berlin, America/New_York or UTC", s)
			}
			return s, nil
		},
		format: func(v any) string { return v.(string) },
	}
}

// Rates of qos upload and download.
const (
	MinRate = 64_000
	MaxRate = 10_000_000_000
)

func tRate() *vtype {
	return &vtype{ph: "<RATE>", help: "rate, e.g. 40mbit, 800kbit or 1gbit",
		parse: func(s string) (any, error) {
			l := strings.ToLower(s)
			mult := uint64(1)
			for _, u := range []struct {
				suffix string
				m      uint64
			}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
				if strings.HasSuffix(l, u.suffix) {
					l, mult = strings.TrimSuffix(l, u.suffix), u.m
					break
				}
			}
			whole, frac, _ := strings.Cut(l, ".")
			w, ok := atoi(whole)
			f, okf := 0, true
			scale := uint64(1)
			if frac != "" {
				f, okf = atoi(frac)
				for range frac {
					scale *= 10
				}
			}
			if !ok || !okf || len(frac) > 3 {
				return nil, errf("%q is not a rate; use a number with kbit, mbit or gbit, e.g. 40mbit or 1.5mbit", s)
			}
			r := uint64(w)*mult + uint64(f)*mult/scale
			if r < MinRate || r > MaxRate {
				return nil, errf("%s is outside 64kbit to 10gbit", s)
			}
			return r, nil
		},
		format: func(v any) string { return FormatRate(v.(uint64)) },
	}
}

// FormatRate writes a rate as the language does: 40mbit, 1gbit, 1500kbit.
func FormatRate(r uint64) string {
	switch {
	case r%1e9 == 0:
		return fmt.Sprintf("%dgbit", r/1e9)
	case r%1e6 == 0:
		return fmt.Sprintf("%dmbit", r/1e6)
	case r%1e3 == 0:
		return fmt.Sprintf("%dkbit", r/1e3)
	}
	return fmt.Sprintf("%dbit", r)
}
