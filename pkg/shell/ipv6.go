package shell

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// "show ipv6 route", "show ipv6 neighbors", "show ipv6 sessions".

// IPv6Router is the part of Router behind "show ipv6 …". A Router that
// does not implement it has no IPv6, and the commands say so.
type IPv6Router interface {
	// IPv6Routes lists the router's IPv6 routes: the LAN /64s
	// (connected), the WAN's on-link prefixes, the default route via the
	// WAN's default router, and the delegated prefix's unassigned rest
	// as unreachable (RFC 7084 WPD-5).
	IPv6Routes(ctx context.Context) ([]Route, error)
	// IPv6Neighbors lists both ports' neighbour caches.
	IPv6Neighbors(ctx context.Context) ([]IPv6Neighbor, error)
	// IPv6Sessions lists the IPv6 firewall's tracked flows that f selects
	// (Host matches the LAN or remote address).
	IPv6Sessions(ctx context.Context, f SessionFilter) ([]IPv6Session, error)
}

// IPv6Neighbor is one line of "show ipv6 neighbors".
type IPv6Neighbor struct {
	Interface string // "lan" or "wan"
	IP        netip.Addr
	MAC       net.HardwareAddr // nil while incomplete
	State     string           // incomplete, reachable, stale, delay, probe
	Router    bool
	Queued    int // packets waiting for the resolution
}

// IPv6Session is one line of "show ipv6 sessions": a flow the IPv6
// firewall tracks (no translation: the LAN host's own address).
type IPv6Session struct {
	Protocol              string
	LAN, Remote           netip.AddrPort
	State                 string
	Age, Idle, Expires    time.Duration
	PacketsOut, PacketsIn uint64
	BytesOut, BytesIn     uint64
	Inbound               bool // opened from the WAN (an allow rule, inbound IPsec or ping)
	Self                  bool // the router's own
}

var addr6Arg = &argSpec{ph: "<X:X::X:X>", help: "IPv6 address", check: func(w string) error {
	if a, err := netip.ParseAddr(w); err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return fmt.Errorf("%q is not an IPv6 address (write e.g. 2001:db8::10)", w)
	}
	return nil
}}

func showIPv6Command() *command {
	return &command{word: "ipv6", help: "IPv6 state", sub: []*command{
		{word: "neighbors", help: "IPv6 neighbour caches of the LAN and WAN ports", run: cmdShowIPv6Neighbors},
		{word: "route", help: "IPv6 routes: LAN prefixes, the WAN's default router, the delegated prefix", run: cmdShowIPv6Route},
		{word: "sessions", help: "flows the IPv6 firewall tracks", run: cmdShowIPv6Sessions, opts: []*optSpec{
			{word: "protocol", help: "only sessions of this protocol", arg: protoArg},
			{word: "host", help: "only sessions with this address (LAN host or remote)", arg: addr6Arg},
		}},
	}}
}

func (s *session) ipv6() (IPv6Router, error) {
	r, ok := s.sh.r.(IPv6Router)
	if !ok {
		return nil, fmt.Errorf("this router has no IPv6")
	}
	return r, nil
}

func cmdShowIPv6Route(s *session, _ *call) error {
	r, err := s.ipv6()
	if err != nil {
		return err
	}
	rs, err := r.IPv6Routes(s.cmdCtx)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		s.printf("No IPv6 routes (IPv6 is off, or nothing is configured yet).\n")
		return nil
	}
	slices.SortStableFunc(rs, func(a, b Route) int {
		if c := a.Destination.Addr().Compare(b.Destination.Addr()); c != 0 {
			return c
		}
		return a.Destination.Bits() - b.Destination.Bits()
	})
	t := newTable(s.cols()-1, "Destination", "Gateway", "Interface", "Source")
	for _, rt := range rs {
		gw := "-"
		if rt.Gateway.IsValid() {
			gw = rt.Gateway.String()
		}
		t.row(rt.Destination.String(), gw, rt.Interface, rt.Source)
	}
	s.printf("%s", t)
	return nil
}

func cmdShowIPv6Neighbors(s *session, _ *call) error {
	r, err := s.ipv6()
	if err != nil {
		return err
	}
	ns, err := r.IPv6Neighbors(s.cmdCtx)
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		s.printf("The IPv6 neighbour caches are empty.\n")
		return nil
	}
	slices.SortStableFunc(ns, func(a, b IPv6Neighbor) int {
		if c := strings.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
	t := newTable(s.cols()-1, "IPv6 address", "MAC address", "Interface", "State")
	for _, n := range ns {
		mac, st := "-", n.State
		if n.MAC != nil {
			mac = n.MAC.String()
		}
		if n.Router {
			st += " router"
		}
		t.row(n.IP.String(), mac, n.Interface, st)
		if n.Queued > 0 {
			t.note("%d packet(s) waiting for the answer", n.Queued)
		}
	}
	s.printf("%s", t)
	s.printf("%d entr%s.\n", len(ns), map[bool]string{true: "y", false: "ies"}[len(ns) == 1])
	return nil
}

func cmdShowIPv6Sessions(s *session, c *call) error {
	r, err := s.ipv6()
	if err != nil {
		return err
	}
	f, _ := filterOf(c)
	ss, err := r.IPv6Sessions(s.cmdCtx, f)
	if err != nil {
		return err
	}
	if len(ss) == 0 {
		s.printf("No IPv6 sessions.\n")
		return nil
	}
	t := newTable(s.cols()-1, "Proto", "LAN", "Remote", "Opened")
	for _, n := range ss {
		by := "lan"
		switch {
		case n.Self:
			by = "router"
		case n.Inbound:
			by = "wan"
		}
		t.row(n.Protocol, addrPort(n.LAN), addrPort(n.Remote), by)
		state := n.State
		if state != "" {
			state += "  "
		}
		t.note("%sage %s  idle %s  expires %s  out %d/%s  in %d/%s",
			state, dur(n.Age), dur(n.Idle), dur(n.Expires),
			n.PacketsOut, size(n.BytesOut), n.PacketsIn, size(n.BytesIn))
	}
	s.printf("%s", t)
	s.printf("%d session(s); traffic is packets/bytes, out = LAN to WAN.\n", len(ss))
	return nil
}
