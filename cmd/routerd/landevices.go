package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/passgate/passgate/internal/ratelog"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/landev"
	"github.com/passgate/passgate/pkg/macvendor"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/shell"
)

// The devices seen on the LAN and the MAC filter (issue #18): the data
// plane's landev.Table; new devices logged here, at a bounded rate; the
// filter set from the configuration at start and on every commit.

// lanDevices is routerd's side of the device table: new devices are
// logged through a rate-limited queue (a flood of made-up addresses must
// not flood the log).
type lanDevices struct {
	table *landev.Table
	log   *ratelog.Queue
}

func newLANDevices() *lanDevices {
	d := &lanDevices{log: ratelog.New(10, 6*time.Second)}
	d.table = landev.New(landev.Config{OnNew: func(mac [6]byte, blocked bool) {
		what := ""
		if landev.LocallyAdministered(mac) {
			what = " (a private address)"
		} else if v := macvendor.Lookup(mac); v != "" {
			what = " (" + v + ")"
		}
		if blocked {
			what += ": blocked by the MAC filter"
		}
		d.log.Add("lan: new device %s%s", net.HardwareAddr(mac[:]), what)
	}})
	return d
}

// macFilterMode is the table's mode for the configuration's.
func macFilterMode(f config.MACFilter) (landev.Mode, [][6]byte) {
	list := make([][6]byte, 0, len(f.Devices))
	for _, d := range f.Devices {
		list = append(list, [6]byte(d.MAC))
	}
	switch f.Mode {
	case config.MACFilterAllow:
		return landev.Allow, list
	case config.MACFilterDeny:
		return landev.Deny, list
	}
	return landev.Off, nil
}

// applyMACFilterLocked sets the filter of the running data plane and ends
// the NAT sessions and passthrough state of the devices it now blocks, so
// that nothing of theirs goes on; it says what it did. Called with r.mu
// held.
func (r *router) applyMACFilterLocked(f config.MACFilter) []string {
	mode, list := macFilterMode(f)
	var newly [][6]byte
	r.dp.DoDevices(func(t *landev.Table, _ time.Duration) { newly = t.SetFilter(mode, list) })
	if len(newly) == 0 {
		return nil
	}
	blocked := map[[6]byte]bool{}
	for _, m := range newly {
		blocked[m] = true
	}
	hosts := map[netip.Addr]bool{}
	for ip, mac := range r.dp.ARPEntries("lan") {
		if len(mac) == 6 && blocked[[6]byte(mac)] {
			hosts[ip] = true
		}
	}
	if r.dhcp != nil {
		for _, l := range r.dhcp.Leases() {
			if len(l.MAC) == 6 && blocked[[6]byte(l.MAC)] {
				hosts[l.IP] = true
			}
		}
	}
	n := 0
	if len(hosts) > 0 {
		r.dp.Do(func(e *nat.Engine) {
			n = e.Flush(func(si nat.SessionInfo) bool { return hosts[si.Internal.Addr()] })
			n += r.pt.Clear(func(_ string, host netip.Addr) bool { return hosts[host] })
		})
	}
	return []string{fmt.Sprintf("mac filter: %d device(s) seen on the LAN now blocked; %d of their sessions closed", len(newly), n)}
}

// LANDevices lists the devices seen on the LAN (shell.LANRouter).
func (s shellRouter) LANDevices(ctx context.Context) ([]shell.LANDevice, error) {
	var devs []landev.Device
	var now time.Duration
	s.r.dp.DoDevices(func(t *landev.Table, n time.Duration) { devs, now = t.Devices(), n })
	wall := time.Now()
	at := func(d time.Duration) time.Time { return wall.Add(d - now) }
	out := make([]shell.LANDevice, len(devs))
	for i, d := range devs {
		out[i] = shell.LANDevice{MAC: net.HardwareAddr(d.MAC[:]), FirstSeen: at(d.FirstSeen), LastSeen: at(d.LastSeen),
			Frames: d.Frames, Dropped: d.Dropped, Blocked: d.Blocked}
	}
	return out, nil
}

var _ shell.LANRouter = shellRouter{}

// cutsOffPeer refuses a plain commit whose MAC filter would block the LAN
// device the committing session comes from (shell.WithPeer): the owner
// would lock themselves out mid-session. "commit confirmed" is let
// through, as it undoes itself unless confirmed.
func (s shellRouter) cutsOffPeer(ctx context.Context, c *config.Config) error {
	peer, _, ok := shell.PeerOf(ctx)
	if !ok || !peer.Is4() || c.Firewall.MACFilter.Mode == config.MACFilterOff {
		return nil
	}
	mac := s.r.dp.ARPEntries("lan")[peer]
	if len(mac) != 6 || !c.Firewall.MACFilter.Blocks(config.MAC([6]byte(mac))) {
		return nil
	}
	fix := fmt.Sprintf("add it to the allow list (set firewall mac-filter device NAME mac %s)", mac)
	if c.Firewall.MACFilter.Mode == config.MACFilterDeny {
		fix = "take it out of the deny list"
	}
	return fmt.Errorf("this commit would make the MAC filter block the device you are connected from (%v, MAC %s) and end this session: %s, or use commit confirmed, which undoes the change unless you confirm it", peer, mac, fix)
}
