package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/passgate/passgate/internal/ratelog"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/firewall"
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
	// plane's lock (dp.Do), like macs.
	set  *firewall.Set
	macs map[uint32][6]byte // LAN address → MAC (ARP, leases), for rules naming devices
	log  *ratelog.Queue
}

func newFirewallService() *firewallService {
	return &firewallService{log: ratelog.New(20, 3*time.Second)}
}

// build compiles the configuration's rules.
func (f *firewallService) build(c *config.Config) *firewall.Set {
	return firewall.New(c.Firewall.Rules, time.Now(), firewall.Options{
		Location: c.System.Location(),
		MACOf: func(ip uint32) ([6]byte, bool) {
			m, ok := f.macs[ip]
			return m, ok
		},
		OnLog: func(h firewall.Hit) {
			dev := ""
			if h.HasMAC {
				dev = " device " + net.HardwareAddr(h.MAC[:]).String()
			}
			f.log.Add("firewall: rule %s %s %s %v → %v%s", h.Rule, h.Action, protoName(h.Proto), h.Src, h.Dst, dev)
		},
	})
}

// deviceNames maps the names rules may use to MAC addresses: static
// leases, mac-filter devices, DHCP host names; and the LAN's addresses to
// MACs. Taken outside the data plane's lock.
func (r *router) deviceNames(c *config.Config) (map[string][][6]byte, map[uint32][6]byte) {
	names := map[string][][6]byte{}
	add := func(n string, m [6]byte) {
		n = strings.ToLower(n)
		for _, x := range names[n] {
			if x == m {
				return
			}
		}
		names[n] = append(names[n], m)
	}
	for _, s := range c.DHCPServer.LAN.Static {
		add(s.Name, [6]byte(s.MAC))
	}
	for _, d := range c.Firewall.MACFilter.Devices {
		add(d.Name, [6]byte(d.MAC))
	}
	macs := map[uint32][6]byte{}
	if r.dhcp != nil {
		now := time.Now()
		for _, l := range r.dhcp.Leases() {
			if len(l.MAC) != 6 || !l.IP.Is4() || (!l.Static && !l.Expiry.IsZero() && l.Expiry.Before(now)) {
				continue
			}
			if l.Hostname != "" {
				add(l.Hostname, [6]byte(l.MAC))
			}
			macs[packet.AddrTo4(l.IP)] = [6]byte(l.MAC)
		}
	}
	for ip, m := range r.dp.ARPEntries("lan") {
		if len(m) == 6 && ip.Is4() {
			macs[packet.AddrTo4(ip)] = [6]byte(m)
		}
	}
	return names, macs
}

// installFirewallLocked makes c's rules the running ones and decides the
// running sessions again; it says what it did. Called with r.mu held.
func (r *router) installFirewallLocked(c *config.Config) []string {
	if r.fw == nil {
		r.fw = newFirewallService() // a router assembled by a test
	}
	f := r.fw
	set := f.build(c)
	names, macs := r.deviceNames(c)
	set.SetNames(names)
	var n int
	r.dp.Do(func(e *nat.Engine) {
		set.CarryCounts(f.set)
		f.set, f.macs = set, macs
		e.SetFilter(set)
		n = r.revisitLocked(e, set)
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
			names, macs := r.deviceNames(c)
			var n int
			var opened bool
			r.dp.Do(func(e *nat.Engine) {
				set := r.fw.set
				if set == nil {
					return
				}
				r.fw.macs = macs
				changed := set.SetNames(names)
				opened = set.Tick(now)
				if changed || opened {
					n = r.revisitLocked(e, set)
				}
			})
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
	if !ok || !peer.Is4() || port == 0 || len(c.Firewall.Rules) == 0 {
		return nil
	}
	set := firewall.New(c.Firewall.Rules, time.Now(), firewall.Options{Location: c.System.Location()})
	names, _ := s.r.deviceNames(c)
	set.SetNames(names)
	mac := s.r.dp.ARPEntries("lan")[peer]
	var m [6]byte
	if len(mac) == 6 {
		m = [6]byte(mac)
	}
	if set.WouldSelf(peer, m, len(mac) == 6, packet.ProtoTCP, port) != nat.FilterAccept {
		return fmt.Errorf("this commit's firewall rules would stop %v reaching the router's TCP port %d, which this session uses: change the rule, or use commit confirmed, which undoes the change unless you confirm it", peer, port)
	}
	return nil
}
