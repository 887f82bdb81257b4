package shell

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

// "show vpn diagnose": what the router itself can see going wrong with
// the LAN's VPNs, each finding with its evidence and what to do. It reads
// only the views every Router has (configuration, interfaces, passthrough
// state, counters), so it says the same on every interface.

// Finding is one thing the troubleshooter found.
type Finding struct {
	Problem  string // one line, the headline
	Evidence string // what the router saw
	Action   string // what to do about it
}

// TraceRouter is the part of a Router that traces the first hops from
// the router itself towards the internet, for the troubleshooter's look
// beyond the WAN gateway (issue #18).
type TraceRouter interface {
	// WANTrace returns a trace of the first few hops (hop 1 is the WAN
	// gateway) from the router itself towards a public address. It may
	// give out a trace a few seconds old, and returns within a few
	// seconds; an error means no trace could be made (no WAN address, no
	// socket). Hops that did not answer have an invalid address.
	WANTrace(ctx context.Context) (WANTrace, error)
}

// WANTrace is a trace from the router itself.
type WANTrace struct {
	Target netip.Addr
	At     time.Time
	Hops   []TraceHop // hop 1 first
}

// TraceHop is one hop of a WANTrace.
type TraceHop struct {
	Hop     int
	Addr    netip.Addr // who answered; invalid: nobody
	Reached bool       // the target itself answered
}

// vpnView is what diagnoseVPN looks at.
type vpnView struct {
	cfg      *config.Config
	wan      []netip.Prefix // the WAN port's addresses
	pt       Passthrough
	sessions []Counter // Counters.Sessions: "current", "limit"
	trace    *WANTrace // nil: no trace (none made, or it failed)
}

// Thresholds of the findings that count packets.
const (
	// A tunnel that sent at least this many packets over at least
	// silentAge and got nothing back is one the far side does not answer.
	silentPackets = 5
	silentAge     = 10 * time.Second
	// Sessions at this share of the table's size are "near full".
	fullShare = 0.9
)

var (
	privateNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}
	sharedNet   = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598
)

// vpnPorts are the ports a port forward or the DMZ takes from the LAN's
// VPN clients.
var vpnPorts = []struct {
	tcp  bool
	port uint16
	what string
}{{false, 500, "IKE (UDP 500)"}, {false, 4500, "IPsec NAT-T (UDP 4500)"}, {false, 1701, "L2TP (UDP 1701)"}, {true, 1723, "PPTP (TCP 1723)"}}

// tunnelWords says, per passthrough session protocol, what the far side
// fails to send back and what to do about it.
var tunnelWords = map[string]struct{ what, action string }{
	"gre":   {"GRE (IP protocol 47)", "the VPN server's firewall or the ISP drops GRE: ask the server's administrators to allow GRE, and try the VPN over another line (a phone's hotspot) to tell which; PPTP cannot work without GRE"},
	"esp":   {"ESP (IP protocol 50)", "the VPN server's firewall or the ISP drops raw ESP: turn on NAT traversal (ESP in UDP 4500; strongSwan encap=yes, libreswan encapsulation=yes, Windows AssumeUDPEncapsulationContextOnSendRule) so the tunnel uses UDP instead"},
	"ike":   {"IKE (UDP 500)", "the VPN server does not answer IKE: check its address, that it is up, and that its firewall allows UDP 500 and 4500 from this router's address"},
	"nat-t": {"IPsec NAT-T (UDP 4500)", "the VPN server does not answer on UDP 4500: check that its firewall allows UDP 4500"},
	"l2tp":  {"L2TP (UDP 1701)", "the L2TP server does not answer: check its address and that UDP 1701 (usually inside IPsec) is allowed"},
}

// diagnoseVPN returns the findings, most serious first.
func diagnoseVPN(v vpnView) []Finding {
	var out []Finding
	// The WAN address: behind another NAT?
	var wan4 []netip.Addr
	for _, p := range v.wan {
		if p.Addr().Is4() {
			wan4 = append(wan4, p.Addr())
		}
	}
	if len(wan4) == 0 {
		out = append(out, Finding{Problem: "the router has no IPv4 address on the WAN: no VPN over IPv4 can connect",
			Evidence: "show interfaces: no IPv4 address on wan",
			Action:   "check the WAN cable and mode (show interfaces, set interfaces wan mode)"})
	}
	sharedWAN := false
	for _, a := range wan4 {
		switch {
		case sharedNet.Contains(a):
			sharedWAN = true
			out = append(out, Finding{Problem: "carrier-grade NAT: the ISP translates this router's traffic again",
				Evidence: fmt.Sprintf("the WAN address %v is in 100.64.0.0/10, the range ISPs use behind their own NAT (RFC 6598)", a) + traceEvidence(v.trace),
				Action:   cgnatAction})
		case isPrivate(a):
			out = append(out, Finding{Problem: "double NAT: another router in front of this one translates again",
				Evidence: fmt.Sprintf("the WAN address %v is private (RFC 1918): the ISP's modem or router is also a NAT", a) + traceEvidence(v.trace),
				Action:   "put the ISP's modem in bridge mode (this router then gets the public address), or make this router its exposed host/DMZ; until then PPTP and raw ESP depend on that router's passthrough too"})
		}
	}
	// Beyond the gateway: a router of the ISP's in the shared space is
	// its carrier-grade NAT, whatever the WAN address looks like. (A
	// private address there is not: many ISPs number their own routers
	// privately.)
	if h, ok := sharedHop(v.trace); ok && len(wan4) > 0 && !sharedWAN {
		out = append(out, Finding{Problem: "carrier-grade NAT beyond the gateway: the ISP very likely translates this router's traffic again",
			Evidence: fmt.Sprintf("a traceroute from the router at %s: hop %d (hop 1 is the gateway) answered from %v, in 100.64.0.0/10, the range ISPs use behind their own NAT (RFC 6598); all hops towards %v: %s",
				v.trace.At.Local().Format("2006-01-02 15:04:05"), h.Hop, h.Addr, v.trace.Target, hopList(v.trace)),
			Action: cgnatAction})
	}
	// Switches off while clients try.
	for _, p := range v.pt.Protocols {
		if !p.Enabled && p.Blocked > 0 {
			out = append(out, Finding{Problem: fmt.Sprintf("%s passthrough is off, and LAN clients are trying %s", p.Name, strings.ToUpper(p.Name)),
				Evidence: fmt.Sprintf("show passthrough: %d %s packets blocked", p.Blocked, p.Name),
				Action:   fmt.Sprintf("if they should connect: set passthrough %s enable, then commit", p.Name)})
		}
	}
	// Single-client ESP with several clients.
	if v.cfg != nil && v.cfg.Passthrough.IPsec.ESPMode == config.ESPSingleClient {
		var hosts []netip.Addr
		for _, s := range v.pt.Sessions {
			if (s.Protocol == "esp" || s.Protocol == "ike") && !slices.Contains(hosts, s.Host) {
				hosts = append(hosts, s.Host)
			}
		}
		if len(hosts) > 1 {
			out = append(out, Finding{Problem: fmt.Sprintf("ESP passthrough is in single-client mode, and %d LAN clients use IPsec", len(hosts)),
				Evidence: "IPsec sessions of " + addrList(hosts) + "; in single-client mode only the first gets ESP back",
				Action:   "set passthrough ipsec esp-mode spi-learning, then commit"})
		}
	}
	// Forwards and the DMZ that take the VPN ports.
	if v.cfg != nil {
		for _, f := range v.cfg.NAT.PortForwards {
			for _, vp := range vpnPorts {
				has := f.Protocol.HasUDP()
				if vp.tcp {
					has = f.Protocol.HasTCP()
				}
				if has && f.Port.First <= vp.port && vp.port <= f.Port.Last {
					out = append(out, Finding{Problem: fmt.Sprintf("port forward %q takes %s for %v", f.Name, vp.what, f.To),
						Evidence: fmt.Sprintf("set nat port-forward %s sends %s from the internet to %v", f.Name, vp.what, f.To),
						Action: fmt.Sprintf("other LAN clients' VPNs lose that port: a server that starts an exchange towards it (a rekey, a dead-peer check, a callback) reaches %v instead. Delete the forward unless %v runs a VPN server (delete nat port-forward %s)",
							f.To, f.To, f.Name)})
				}
			}
		}
		if v.cfg.NAT.DMZ.IsValid() {
			out = append(out, Finding{Problem: fmt.Sprintf("the DMZ host %v receives what no session claims", v.cfg.NAT.DMZ),
				Evidence: fmt.Sprintf("set nat dmz %v", v.cfg.NAT.DMZ),
				Action:   "a VPN server's packets that arrive before a client's own (GRE, ESP, IKE from the server first) go to the DMZ host; remove the DMZ (delete nat dmz) unless that host needs it"})
		}
	}
	// Tunnels the far side does not answer.
	for _, s := range v.pt.Sessions {
		w, ok := tunnelWords[s.Protocol]
		if !ok || s.PacketsIn > 0 || s.PacketsOut < silentPackets || s.Age < silentAge {
			continue
		}
		out = append(out, Finding{Problem: fmt.Sprintf("no %s has come back from %v to %v", w.what, s.Server, s.Host),
			Evidence: fmt.Sprintf("show passthrough: %d packets sent in %s, none received", s.PacketsOut, dur(s.Age)),
			Action:   w.action})
	}
	// Tunnel packets too big for the path.
	for _, m := range v.pt.MTU {
		out = append(out, mtuFinding(m))
	}
	// The session table.
	var current, limit uint64
	for _, c := range v.sessions {
		switch c.Name {
		case "current":
			current = c.Value
		case "limit":
			limit = c.Value
		}
	}
	if limit > 0 && float64(current) >= fullShare*float64(limit) {
		out = append(out, Finding{Problem: "the NAT session table is nearly full: new connections, VPNs included, may be refused",
			Evidence: fmt.Sprintf("show counters: %d sessions of %d", current, limit),
			Action:   "find the host that opens the most (show nat sessions), or raise set nat max-sessions"})
	}
	return out
}

// cgnatAction is what to do behind a carrier-grade NAT.
const cgnatAction = "IPsec with NAT traversal, OpenVPN and WireGuard usually work; PPTP and raw ESP usually do not, and nothing can reach the LAN from outside. Ask the ISP for a public IPv4 address, or use the VPN over IPv6"

func isPrivate(a netip.Addr) bool {
	return slices.ContainsFunc(privateNets, func(p netip.Prefix) bool { return p.Contains(a) })
}

// sharedHop returns the first hop beyond the gateway (hop 2 on) that
// answered from 100.64.0.0/10.
func sharedHop(t *WANTrace) (TraceHop, bool) {
	if t == nil {
		return TraceHop{}, false
	}
	for _, h := range t.Hops {
		if h.Hop >= 2 && h.Addr.IsValid() && sharedNet.Contains(h.Addr) {
			return h, true
		}
	}
	return TraceHop{}, false
}

// hopList says what a trace saw, hop by hop: "hop 1 192.168.0.1, hop 2
// 10.10.0.1, hop 3 no answer".
func hopList(t *WANTrace) string {
	parts := make([]string, len(t.Hops))
	for i, h := range t.Hops {
		switch {
		case !h.Addr.IsValid():
			parts[i] = fmt.Sprintf("hop %d no answer", h.Hop)
		case h.Reached:
			parts[i] = fmt.Sprintf("hop %d %v (the destination)", h.Hop, h.Addr)
		default:
			parts[i] = fmt.Sprintf("hop %d %v", h.Hop, h.Addr)
		}
	}
	return strings.Join(parts, ", ")
}

// hopsBeyond are the hops after the gateway (none for a nil trace).
func (t *WANTrace) hopsBeyond() []TraceHop {
	if t == nil {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(t.Hops), func(h TraceHop) bool { return h.Hop < 2 })
}

// answered reports whether any hop of t answered.
func answered(t *WANTrace) bool {
	return t != nil && slices.ContainsFunc(t.Hops, func(h TraceHop) bool { return h.Addr.IsValid() })
}

// traceEvidence is what a trace adds to the evidence of a finding about
// the WAN address ("" when nothing answered).
func traceEvidence(t *WANTrace) string {
	if !answered(t) {
		return ""
	}
	return fmt.Sprintf("; a traceroute from the router towards %v at %s: %s", t.Target, t.At.Local().Format("2006-01-02 15:04:05"), hopList(t))
}

// tunnelOverhead is what each kind of tunnel adds to its inner packets
// (outer IPv4, UDP, ESP with a 16-byte IV and padding, GRE and PPP,
// OpenVPN's framing, WireGuard's), rounded up: the client's MTU is the
// path's less this.
func tunnelOverhead(proto string, port uint16) (what string, overhead int) {
	switch {
	case proto == "esp":
		return "ESP", 80
	case proto == "gre":
		return "GRE (PPTP)", 40
	case port == 4500:
		return "ESP in UDP 4500 (NAT-T)", 90
	case port == 500:
		return "IKE (UDP 500)", 0
	case port == 1701:
		return "L2TP (UDP 1701)", 40
	case port == 1194:
		return "OpenVPN (UDP 1194)", 70
	case port == 51820:
		return "WireGuard (UDP 51820)", 80
	}
	return fmt.Sprintf("UDP %d", port), 80
}

// mtuFinding says what a tunnel's MTU trouble means and what MTU the
// client should use.
func mtuFinding(m TunnelMTU) Finding {
	what, over := tunnelOverhead(m.Proto, m.Port)
	at := m.Last.Local().Format("2006-01-02 15:04:05")
	mtu := m.MTU
	if !m.TooBig {
		mtu = m.Size
	}
	advice := fmt.Sprintf("set the VPN client's MTU to %d (the path's %d less about %d bytes of %s); a client that connects but then hangs or is slow is the usual sign", (mtu-over)/10*10, mtu, over, what)
	if over == 0 {
		advice = "turn on IKE fragmentation on the client and the server (strongSwan fragmentation=yes, libreswan fragmentation=yes; Windows and macOS support it), so that IKE messages with certificates fit the path"
	}
	if m.TooBig {
		return Finding{
			Problem:  fmt.Sprintf("%s packets from %v to %v are too big for the WAN link (MTU %d)", what, m.Host, m.Server, m.MTU),
			Evidence: fmt.Sprintf("%d packets of up to %d bytes with Don't Fragment set; the router answered Fragmentation Needed, the last at %s", m.Count, m.Size, at),
			Action:   advice,
		}
	}
	from := fmt.Sprintf("from %v to %v", m.Host, m.Server)
	if !m.Host.IsValid() {
		from = fmt.Sprintf("from %v to this router", m.Server)
	}
	return Finding{
		Problem:  fmt.Sprintf("%s packets %s arrive in fragments: a link on the way has a smaller MTU", what, from),
		Evidence: fmt.Sprintf("%d fragmented packets, the first fragment %d bytes (about the MTU of the link that cut it), the last at %s", m.Count, m.Size, at),
		Action:   advice,
	}
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func cmdShowVPNDiagnose(s *session, _ *call) error {
	ifs, err := s.sh.r.Interfaces(s.cmdCtx)
	if err != nil {
		return err
	}
	pt, err := s.sh.r.Passthrough(s.cmdCtx)
	if err != nil {
		return err
	}
	cnt, err := s.sh.r.Counters(s.cmdCtx)
	if err != nil {
		return err
	}
	v := vpnView{cfg: s.sh.r.Config(), pt: pt, sessions: cnt.Sessions}
	has4 := false
	for _, i := range ifs {
		if i.Role == "wan" {
			v.wan = append(v.wan, i.Addresses...)
			has4 = has4 || slices.ContainsFunc(i.Addresses, func(p netip.Prefix) bool { return p.Addr().Is4() })
		}
	}
	// The first hops beyond the gateway, when the router can trace them;
	// a failed trace says nothing.
	if tr, ok := s.sh.r.(TraceRouter); ok && has4 {
		if t, err := tr.WANTrace(s.cmdCtx); err == nil {
			v.trace = &t
		}
	}
	fs := diagnoseVPN(v)
	at := s.sh.clock.Now().Local().Format("2006-01-02 15:04:05")
	if len(fs) == 0 {
		beyond := ""
		if slices.ContainsFunc(v.trace.hopsBeyond(), func(h TraceHop) bool { return h.Addr.IsValid() }) {
			beyond = " the routers beyond the gateway that answered a traceroute are not in the ISPs' shared space (100.64.0.0/10),"
		}
		s.wrapped("", fmt.Sprintf("No VPN problem seen (%s): the WAN address is public,%s the passthrough switches block nothing, no forward takes a VPN port and every tunnel gets answers.", at, beyond))
		return nil
	}
	s.printf("%d finding(s) at %s:\n", len(fs), at)
	hang := func(prefix, text string) {
		s.printf("%s\n", wrap(prefix+text, s.cols()-1, strings.Repeat(" ", len(prefix))))
	}
	for i, f := range fs {
		s.printf("\n")
		hang(fmt.Sprintf("%d. ", i+1), f.Problem)
		hang("   seen: ", f.Evidence)
		hang("   do:   ", f.Action)
	}
	return nil
}
