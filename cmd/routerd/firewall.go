package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/passgate/passgate/internal/ratelog"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/firewall"
	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/shell"
)

// The firewall's rules (issue #18): a firewall.Set built from the
// configuration at start and on every commit, installed as the NAT's
// filter of new sessions and the data plane's filter of packets to the
// router. Every firewallTick the device names and the LAN's address to
// MAC table are refreshed, the time windows moved on, and when anything
// changed the running sessions are decided again.

const firewallTick = 5 * time.Second

type firewallService struct {
	// set is the running rule set; read and replaced under the data
	// plane's lock (dp.Do), like macs and macs6.
	set   *firewall.Set
	macs  map[uint32][6]byte     // LAN IPv4 address → MAC (ARP, leases), for rules naming devices
	macs6 map[netip.Addr][6]byte // LAN IPv6 address → MAC (neighbour cache)
	// log carries the hits of logged rules from the data plane (OnLog,
	// under its lock: only queued there) to the log, formatted and rate
	// limited by its Run goroutine.
	log *ratelog.Of[firewall.Hit]
}

// lanMACs is what deviceNames finds: names and addresses of LAN devices.
type lanMACs struct {
	names map[string][][6]byte
	v4    map[uint32][6]byte
	v6    map[netip.Addr][6]byte
}

func newFirewallService() *firewallService {
	return &firewallService{log: ratelog.NewOf(20, 3*time.Second, hitLine)}
}

// hitLine is the log line of a logged rule's match.
func hitLine(h firewall.Hit) string {
	dev := ""
	if h.HasMAC {
		dev = " device " + net.HardwareAddr(h.MAC[:]).String()
	}
	return fmt.Sprintf("firewall: rule %s %s %s %v → %v%s", h.Rule, h.Action, protoName6(h.Proto), h.Src, h.Dst, dev)
}

// build compiles the configuration's rules.
func (f *firewallService) build(c *config.Config) *firewall.Set {
	return firewall.New(c.Firewall.Rules, time.Now(), firewall.Options{
		Location: c.System.Location(),
		MACOf: func(ip uint32) ([6]byte, bool) {
			m, ok := f.macs[ip]
			return m, ok
		},
		MACOf6: func(a netip.Addr) ([6]byte, bool) {
			m, ok := f.macs6[a]
			return m, ok
		},
		OnLog: f.log.Add, // under the data plane's lock: queued only
	})
}

// deviceNames maps the names rules may use to MAC addresses: static
// leases, mac-filter devices, DHCP host names; and the LAN's IPv4 and
// IPv6 addresses to MACs. Taken outside the data plane's lock.
func (r *router) deviceNames(c *config.Config) lanMACs {
	m := lanMACs{names: map[string][][6]byte{}, v4: map[uint32][6]byte{}, v6: map[netip.Addr][6]byte{}}
	add := func(n string, mac [6]byte) {
		n = strings.ToLower(n)
		for _, x := range m.names[n] {
			if x == mac {
				return
			}
		}
		m.names[n] = append(m.names[n], mac)
	}
	for _, s := range c.DHCPServer.LAN.Static {
		add(s.Name, [6]byte(s.MAC))
	}
	for _, d := range c.Firewall.MACFilter.Devices {
		add(d.Name, [6]byte(d.MAC))
	}
	if r.dhcp != nil {
		now := time.Now()
		for _, l := range r.dhcp.Leases() {
			if len(l.MAC) != 6 || !l.IP.Is4() || (!l.Static && !l.Expiry.IsZero() && l.Expiry.Before(now)) {
				continue
			}
			if l.Hostname != "" {
				add(l.Hostname, [6]byte(l.MAC))
			}
			m.v4[packet.AddrTo4(l.IP)] = [6]byte(l.MAC)
		}
	}
	for ip, mac := range r.dp.ARPEntries("lan") {
		if len(mac) == 6 && ip.Is4() {
			m.v4[packet.AddrTo4(ip)] = [6]byte(mac)
		}
	}
	r.dp.Do6(func(v *dataplane.IPv6Config, now time.Duration, _ *dataplane.Out6) {
		for _, e := range v.LAN.Neighbours(nil, now) {
			if e.MAC != ([6]byte{}) {
				m.v6[e.Addr] = e.MAC
			}
		}
	})
	return m
}

// installFirewallLocked makes c's rules the running ones and decides the
// running sessions again; it says what it did. Called with r.mu held.
func (r *router) installFirewallLocked(c *config.Config) []string {
	if r.fw == nil {
		r.fw = newFirewallService() // a router assembled by a test
	}
	f := r.fw
	set := f.build(c)
	m := r.deviceNames(c)
	set.SetNames(m.names)
	var n int
	r.dp.Do(func(e *nat.Engine) {
		set.CarryCounts(f.set)
		f.set, f.macs, f.macs6 = set, m.v4, m.v6
		e.SetFilter(set)
		n = r.revisitLocked(e, set)
	})
	r.dp.Do6(func(v *dataplane.IPv6Config, _ time.Duration, _ *dataplane.Out6) {
		v.Engine.SetFilter(set)
		n += revisit6(v, set)
	})
	if set.HasSelf() {
		r.dp.SetSelfFilter(set)
	} else {
		r.dp.SetSelfFilter(nil)
	}
	if n > 0 {
		return []string{fmt.Sprintf("firewall: %d running connection(s) the rules no longer allow were closed", n)}
	}
	return nil
}

// revisitLocked closes the sessions set no longer accepts (inside dp.Do).
func (r *router) revisitLocked(e *nat.Engine, set *firewall.Set) int {
	return e.Flush(func(si nat.SessionInfo) bool { return set.Would(si) != nat.FilterAccept })
}

// revisit6 closes the IPv6 sessions set no longer accepts (inside dp.Do6).
func revisit6(v *dataplane.IPv6Config, set *firewall.Set) int {
	return v.Engine.Flush(func(se fw6.Session) bool { return set.Would6(se) != fw6.FilterAccept })
}

// runFirewall refreshes names and time windows until ctx ends.
func (r *router) runFirewall(ctx context.Context) {
	t := time.NewTicker(firewallTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.mu.Lock()
			c := r.cfg
			r.mu.Unlock()
			m := r.deviceNames(c)
			var n int
			var revisit bool
			r.dp.Do(func(e *nat.Engine) {
				set := r.fw.set
				if set == nil {
					return
				}
				r.fw.macs, r.fw.macs6 = m.v4, m.v6
				changed := set.SetNames(m.names)
				opened := set.Tick(now)
				if revisit = changed || opened; revisit {
					n = r.revisitLocked(e, set)
				}
			})
			if revisit {
				r.dp.Do6(func(v *dataplane.IPv6Config, _ time.Duration, _ *dataplane.Out6) {
					if r.fw.set != nil {
						n += revisit6(v, r.fw.set)
					}
				})
			}
			if n > 0 {
				r.logf("firewall: %d running connection(s) closed: a rule's time window or device changed", n)
			}
		}
	}
}

// FirewallRules lists the rules with their counters (shell.FirewallRouter).
func (s shellRouter) FirewallRules(ctx context.Context) ([]shell.FirewallRuleCount, error) {
	var out []shell.FirewallRuleCount
	s.r.dp.Do(func(*nat.Engine) {
		if s.r.fw.set == nil {
			return
		}
		for _, c := range s.r.fw.set.Counts() {
			out = append(out, shell.FirewallRuleCount{Name: c.Name, Action: string(c.Action), Active: c.Active, Hits: c.Hits})
		}
	})
	return out, nil
}

var _ shell.FirewallRouter = shellRouter{}

// cutsOffSelf refuses a plain commit whose rules would drop the session's
// own connection to the router: SSH from the peer (shell.WithPeer), or
// its web page.
func (s shellRouter) cutsOffSelf(ctx context.Context, c *config.Config) error {
	peer, port, ok := shell.PeerOf(ctx)
	if !ok || port == 0 || len(c.Firewall.Rules) == 0 {
		return nil
	}
	set := firewall.New(c.Firewall.Rules, time.Now(), firewall.Options{Location: c.System.Location()})
	devs := s.r.deviceNames(c)
	set.SetNames(devs.names)
	var m [6]byte
	var known bool
	if peer.Is4() {
		m, known = devs.v4[packet.AddrTo4(peer)]
	} else {
		m, known = devs.v6[peer]
	}
	if set.WouldSelf(peer, m, known, packet.ProtoTCP, port) != nat.FilterAccept {
		return fmt.Errorf("this commit's firewall rules would stop %v reaching the router's TCP port %d, which this session uses: change the rule, or use commit confirmed, which undoes the change unless you confirm it", peer, port)
	}
	return nil
}
