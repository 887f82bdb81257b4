package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/ndp6"
	"github.com/passgate/passgate/pkg/shell"
)

// The shell's view of IPv6 (shell.IPv6Router).

var _ shell.IPv6Router = shellRouter{}

// snapshot returns the IPv6 state applied last.
func (c *ipv6Control) snapshot() ipv6State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

// addresses are the router's IPv6 addresses on each port, for show
// interfaces.
func (c *ipv6Control) addresses() (lan, wan []netip.Prefix) {
	s := c.snapshot()
	for _, p := range validPrefixes(s.LAN, s.ULA) {
		lan = append(lan, netip.PrefixFrom(routerAddr(p), 64))
	}
	lan = append(lan, netip.PrefixFrom(c.lanLL, 64))
	wan = append(wan, s.WANAddrs...)
	if c.cfg.Interfaces.WAN.IPv6.Mode != config.IPv6Off {
		wan = append(wan, netip.PrefixFrom(c.wanLL, 64))
	}
	return lan, wan
}

func (s shellRouter) IPv6Routes(ctx context.Context) ([]shell.Route, error) {
	c := s.r.v6
	if c == nil {
		return nil, nil
	}
	st := c.snapshot()
	src := "ra"
	lanSrc := "dhcpv6"
	if c.cfg.Interfaces.WAN.IPv6.Mode == config.IPv6Static {
		src, lanSrc = "static", "static"
	}
	var out []shell.Route
	if st.Gateway.IsValid() {
		out = append(out, shell.Route{Destination: netip.PrefixFrom(netip.IPv6Unspecified(), 0), Gateway: st.Gateway, Interface: "wan", Source: src})
	}
	for _, p := range st.OnLink {
		out = append(out, shell.Route{Destination: p, Interface: "wan", Source: src})
	}
	if st.LAN.IsValid() {
		out = append(out, shell.Route{Destination: st.LAN, Interface: "lan", Source: lanSrc})
	}
	if st.ULA.IsValid() {
		out = append(out, shell.Route{Destination: st.ULA, Interface: "lan", Source: "ula"})
		out = append(out, shell.Route{Destination: c.ula, Interface: "-", Source: "unreachable"})
	}
	for _, d := range st.Delegated {
		if d.Bits() < 64 {
			// The rest of the delegated prefix is a null route (RFC 7084 WPD-5).
			out = append(out, shell.Route{Destination: d, Interface: "-", Source: "unreachable"})
		}
	}
	return out, nil
}

func (s shellRouter) IPv6Neighbors(ctx context.Context) ([]shell.IPv6Neighbor, error) {
	var out []shell.IPv6Neighbor
	s.r.dp.Do6(func(v *dataplane.IPv6Config, now time.Duration, _ *dataplane.Out6) {
		for port, n := range map[string]*ndp6.Node{"lan": v.LAN, "wan": v.WAN} {
			for _, e := range n.Neighbours(nil, now) {
				nb := shell.IPv6Neighbor{Interface: port, IP: e.Addr, State: strings.ToLower(e.State.String()), Router: e.Router, Queued: e.Queued}
				if e.MAC != ([6]byte{}) {
					nb.MAC = net.HardwareAddr(append([]byte(nil), e.MAC[:]...))
				}
				out = append(out, nb)
			}
		}
	})
	return out, nil
}

func (s shellRouter) IPv6Sessions(ctx context.Context, f shell.SessionFilter) ([]shell.IPv6Session, error) {
	var out []shell.IPv6Session
	s.r.dp.Do6(func(v *dataplane.IPv6Config, _ time.Duration, _ *dataplane.Out6) {
		v.Engine.Sessions(func(se fw6.Session) bool {
			if f.Protocol != "" && f.Protocol != protoName6(se.Protocol) {
				return true
			}
			if f.Host.IsValid() && se.LAN.Addr() != f.Host && se.Remote.Addr() != f.Host {
				return true
			}
			out = append(out, shell.IPv6Session{Protocol: protoName6(se.Protocol), LAN: se.LAN, Remote: se.Remote, State: se.State,
				Age: se.Age, Idle: se.Idle, Expires: se.Expires, PacketsOut: se.PacketsOut, PacketsIn: se.PacketsIn,
				BytesOut: se.BytesOut, BytesIn: se.BytesIn, Inbound: se.Inbound, Self: se.Self})
			return len(out) < maxListed
		})
	})
	return out, nil
}

// maxListed bounds a listing the shell asks for.
const maxListed = 100000

func protoName6(p uint8) string {
	if p == 58 {
		return "icmp"
	}
	return protoName(p)
}

// ipv6Counters are the IPv6 figures of show counters: the data plane's
// (non-zero), the firewall's verdicts, drop reasons (non-zero) and
// sessions; nil when IPv6 is off.
func (s shellRouter) ipv6Counters(dc dataplane.Counters) []shell.Counter {
	var out []shell.Counter
	add := func(name string, v uint64) {
		if v != 0 {
			out = append(out, shell.Counter{Name: name, Value: v})
		}
	}
	ok := s.r.dp.Do6(func(v *dataplane.IPv6Config, _ time.Duration, _ *dataplane.Out6) {
		c := v.Engine.Counters()
		for _, vd := range []fw6.Verdict{fw6.Forward, fw6.ToSelf, fw6.Reply, fw6.Drop} {
			out = append(out, shell.Counter{Name: vd.String(), Value: c.Verdicts[vd]})
		}
		for r := fw6.Reason(1); r < fw6.NumReasons; r++ {
			add("drop "+r.String(), c.Drops[r])
		}
		out = append(out, shell.Counter{Name: "sessions", Value: uint64(c.Sessions)})
		add("sessions-created", c.SessionsCreated)
		add("sessions-expired", c.SessionsExpired)
		add("sessions-evicted", c.SessionsEvicted)
		add("icmpv6-errors-sent", c.ICMPErrorsSent)
		add("icmpv6-errors-rate-limited", c.ICMPErrorsLimited)
	})
	if !ok {
		return nil
	}
	add("frames-in", dc.IPv6In)
	add("nd-messages", dc.NDIn)
	add("nd-unresolved", dc.NDUnresolved)
	add("no-wan-route", dc.NoWANRoute6)
	add("dhcpv6-client-messages", dc.DHCPv6Client)
	add("dhcpv6-server-messages", dc.DHCPv6Server)
	add("link-multicast-not-routed", dc.IPv6LinkMulticast)
	add("router-adverts-heard-on-lan", dc.LANRouterAdverts)
	return out
}
