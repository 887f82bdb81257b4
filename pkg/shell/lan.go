package shell

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/macvendor"
)

// LANRouter is the part of a Router that keeps the devices seen on the
// LAN ("show lan devices") and applies the MAC filter. A Router without
// it keeps none: the command says so.
type LANRouter interface {
	// LANDevices lists the devices seen on the LAN since the router
	// started (a bounded table: the least recently seen go first).
	LANDevices(ctx context.Context) ([]LANDevice, error)
}

// LANDevice is one device seen on the LAN, as the data plane knows it.
// The shell adds its name and addresses from the configuration, the DHCP
// leases and the ARP cache.
type LANDevice struct {
	MAC       net.HardwareAddr
	FirstSeen time.Time
	LastSeen  time.Time
	Frames    uint64 // frames from it
	Dropped   uint64 // of which the MAC filter dropped
	Blocked   bool   // the MAC filter blocks it now
}

func showLANCommand() *command {
	return &command{word: "lan", help: "the LAN", sub: []*command{
		{word: "devices", help: "devices seen on the LAN: name (or maker), address, first and last seen, MAC filter", run: cmdShowLANDevices},
	}}
}

func cmdShowLANDevices(s *session, _ *call) error {
	lr, ok := s.sh.r.(LANRouter)
	if !ok {
		return errors.New("this router keeps no list of LAN devices")
	}
	devs, err := lr.LANDevices(s.cmdCtx)
	if err != nil {
		return err
	}
	cfg := s.sh.r.Config()
	f := cfg.Firewall.MACFilter
	switch f.Mode {
	case config.MACFilterAllow:
		s.printf("MAC filter: allow list, %d device(s) listed; any other device is blocked.\n", len(f.Devices))
	case config.MACFilterDeny:
		s.printf("MAC filter: deny list, %d device(s) blocked.\n", len(f.Devices))
	default:
		s.printf("MAC filter: off.\n")
	}
	if len(devs) == 0 {
		s.printf("No device seen on the LAN yet.\n")
		return nil
	}
	// Names: the configuration's first, then the DHCP hostnames.
	names := map[string]string{}
	addrs := map[string][]netip.Addr{}
	if ls, err := s.sh.r.DHCPLeases(s.cmdCtx); err == nil {
		now := s.sh.clock.Now()
		for _, l := range ls {
			k := l.MAC.String()
			if l.Hostname != "" {
				names[k] = l.Hostname
			}
			if l.Static || l.Expires.IsZero() || l.Expires.After(now) {
				addrs[k] = append(addrs[k], l.IP)
			}
		}
	}
	if ns, err := s.sh.r.Neighbors(s.cmdCtx); err == nil {
		for _, n := range ns {
			k := n.MAC.String()
			if n.Interface == "lan" && !slices.Contains(addrs[k], n.IP) {
				addrs[k] = append(addrs[k], n.IP)
			}
		}
	}
	for _, st := range cfg.DHCPServer.LAN.Static {
		names[st.MAC.String()] = st.Name
	}
	for _, d := range f.Devices {
		names[d.MAC.String()] = d.Name
	}
	slices.SortStableFunc(devs, func(a, b LANDevice) int { return b.LastSeen.Compare(a.LastSeen) })
	now := s.sh.clock.Now()
	ago := func(t time.Time) string {
		if d := now.Sub(t); d >= time.Second {
			return dur(d) + " ago"
		}
		return "now"
	}
	t := newTable(s.cols()-1, "MAC address", "Status", "Name/maker", "Address", "First seen", "Last seen")
	private := false
	for _, d := range devs {
		k := d.MAC.String()
		mac := k
		if d.MAC[0]&2 != 0 {
			mac += "*"
			private = true
		}
		name := names[k]
		if name == "" {
			name = "-"
			if len(d.MAC) == 6 {
				if v := []rune(macvendor.Lookup([6]byte(d.MAC))); len(v) > 0 {
					// No name: the maker, from the address (at most 12
					// columns, so that the table fits 80).
					if len(v) > 12 {
						v = append(v[:11], '~')
					}
					name = string(v)
				}
			}
		}
		if r := []rune(name); len(r) > 14 {
			name = string(r[:13]) + "~"
		}
		as := addrs[k]
		slices.SortFunc(as, func(a, b netip.Addr) int { return cmp.Or(cmp.Compare(a.BitLen(), b.BitLen()), a.Compare(b)) })
		addr := "-"
		if len(as) > 0 {
			addr = as[0].String()
			if len(as) > 1 {
				addr += "+"
			}
		}
		status := "allowed"
		if d.Blocked {
			status = "blocked"
		}
		t.row(mac, status, name, addr, ago(d.FirstSeen), ago(d.LastSeen))
		if d.Blocked && d.Dropped > 0 {
			t.note("%d frames from it dropped by the MAC filter", d.Dropped)
		}
	}
	s.printf("%s", t)
	if private {
		s.printf("* a private address the device made up: it may show up again with another.\n")
	}

	return nil
}
