package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passgate/passgate/internal/meminfo"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/portmap"
	"github.com/passgate/passgate/pkg/shell"
)

// portMapService is the NAT-PMP and PCP server (pkg/portmap) on the LAN
// address, port 5351. Its mappings become NAT port forwards: whenever the
// set changes the engine is reconfigured with the configured forwards
// plus the mappings (natConfigLocked).
type portMapService struct {
	srv     *portmap.Server
	conn    net.PacketConn
	changed chan struct{} // OnChange: the loop reconfigures the engine
	cancel  context.CancelFunc
	done    chan struct{}
	ctx     context.Context // the service's, set before it serves
	// routerLocked is set while a caller holding r.mu changes the
	// mappings (a new WAN address, new reserved ports): OnChange then
	// leaves the engine to the loop instead of waiting for r.mu.
	routerLocked atomic.Bool
}

// portMapTick is how often expired mappings and ended leases are looked for.
const portMapTick = 2 * time.Second

// reservedPorts are the external ports no mapping may take: every port of
// the configured forwards (and SSH's from the WAN), from the configuration,
// never from the engine's merged list, which holds the mappings too.
func reservedPorts(live *config.Config) func(portmap.Proto, uint16) bool {
	fwds := natConfig(live, 0, 0).PortForwards
	return func(p portmap.Proto, port uint16) bool {
		proto := uint8(packet.ProtoTCP)
		if p == portmap.UDP {
			proto = packet.ProtoUDP
		}
		for _, f := range fwds {
			if f.Proto == proto && port >= f.ExtStart && port <= f.ExtEnd {
				return true
			}
		}
		return false
	}
}

// natConfigLocked is the engine's configuration for live: the configured
// forwards and, while port mapping runs, the mappings. r.mu is held.
func (r *router) natConfigLocked(live *config.Config) nat.Config {
	mem, _ := meminfo.Read()
	nc := natConfig(live, mem.Total, r.eng.Config().Seed)
	if r.wanLinkMTU > 0 && r.wanLinkMTU < nc.WANMTU {
		// The link negotiated less than configured (a concentrator's
		// smaller MRU): the MSS clamp and Fragmentation Needed follow.
		nc.WANMTU = r.wanLinkMTU
	}
	if r.pm != nil {
		for _, m := range r.pm.srv.Mappings() {
			proto := uint8(packet.ProtoTCP)
			if m.Proto == portmap.UDP {
				proto = packet.ProtoUDP
			}
			nc.PortForwards = append(nc.PortForwards, nat.PortForward{Name: m.Origin.String() + " " + m.Internal.String(), Proto: proto,
				ExtStart: m.External.Port(), ExtEnd: m.External.Port(), Host: m.Internal.Addr(), IntStart: m.Internal.Port()})
		}
	}
	return nc
}

// syncPortMapLocked starts, updates or stops port mapping to match live.
// It does not reconfigure the engine: apply does, right after. r.mu is
// held.
func (r *router) syncPortMapLocked(ctx context.Context, live *config.Config) error {
	if !live.Service.PortMapping {
		if r.pm != nil {
			r.pm.cancel()
			<-r.pm.done
			r.pm = nil
			r.logf("port mapping stopped: its mappings are removed")
		}
		return nil
	}
	if r.pm != nil {
		r.pm.routerLocked.Store(true)
		r.pm.srv.SetReserved(reservedPorts(live))
		r.pm.routerLocked.Store(false)
		return nil
	}
	pm := &portMapService{changed: make(chan struct{}, 1), done: make(chan struct{})}
	lan := live.Interfaces.LAN.Address
	srv, err := portmap.New(portmap.Config{LAN: lan.Masked(), Reserved: reservedPorts(live), Seed: randomSeed(), Logf: r.logf,
		OnChange: func() {
			// A LAN host's request (NAT-PMP, PCP, UPnP): the mapping is
			// put into the engine before the host is answered, so a peer
			// may connect the moment the host learns its port.
			if !pm.routerLocked.Load() && pm.ctx != nil && r.applyMappings(pm.ctx, pm) {
				return
			}
			select {
			case pm.changed <- struct{}{}:
			default:
			}
		}}, time.Now())
	if err != nil {
		return err
	}
	conn, err := net.ListenPacket("udp4", netip.AddrPortFrom(lan.Addr(), portmap.Port).String())
	if err != nil {
		return fmt.Errorf("port mapping: %w", err)
	}
	pm.srv, pm.conn = srv, conn
	if r.wanAddr.IsValid() {
		pm.routerLocked.Store(true)
		srv.SetExternal(r.wanAddr.Addr(), time.Now()) // nobody to announce to yet
		pm.routerLocked.Store(false)
	}
	sctx, cancel := context.WithCancel(ctx)
	pm.cancel, pm.ctx = cancel, sctx
	var wg sync.WaitGroup
	wg.Add(1)
	if err := r.startUPnP(sctx, live, srv, wg.Done); err != nil {
		// NAT-PMP and PCP still work; UPnP clients are told nothing.
		wg.Done()
		r.logf("port mapping: UPnP IGD not started: %v", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(sctx, conn, nil); err != nil {
			r.logf("port mapping: %v", err)
		}
	}()
	go func() {
		defer close(pm.done)
		r.portMapLoop(sctx, pm)
		wg.Wait()
		conn.Close()
	}()
	r.pm = pm
	r.logf("port mapping (NAT-PMP, PCP) listening on %v", conn.LocalAddr())
	return nil
}

// portMapLoop applies mapping changes to the engine, expires mappings,
// drops those of hosts whose lease ended, and repeats announcements.
func (r *router) portMapLoop(ctx context.Context, pm *portMapService) {
	t := time.NewTicker(portMapTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pm.changed:
			r.applyMappings(ctx, pm)
		case <-t.C:
			now := time.Now()
			pm.srv.Expire(now)
			r.dropEndedLeases(pm, now)
		}
	}
}

// applyMappings reconfigures the engine with the current mappings and
// says whether it did. It gives up when ctx ends: stopping port mapping
// holds r.mu while it waits for this loop, so it must not block on r.mu.
func (r *router) applyMappings(ctx context.Context, pm *portMapService) bool {
	for !r.mu.TryLock() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Millisecond):
		}
	}
	defer r.mu.Unlock()
	if r.pm != pm {
		return false // stopped meanwhile
	}
	nc := r.natConfigLocked(config.Running(r.running, r.cfg))
	var err error
	r.dp.Do(func(e *nat.Engine) { _, err = e.Reconfigure(nc) })
	if err != nil {
		r.logf("port mapping: the NAT refused the mappings: %v", err)
	}
	return true
}

// dropEndedLeases removes the mappings of hosts whose DHCP lease ended
// (a host with a hand-set address has no lease and keeps them). Like
// leaseNames it takes no lock of the router's.
func (r *router) dropEndedLeases(pm *portMapService, now time.Time) {
	srv := r.dhcp
	if srv == nil {
		return
	}
	hosts := map[netip.Addr]bool{}
	for _, m := range pm.srv.Mappings() {
		hosts[m.Internal.Addr()] = true
	}
	if len(hosts) == 0 {
		return
	}
	for _, l := range srv.Leases() {
		if hosts[l.IP] && !l.Static && l.Expiry.Before(now) {
			if n := pm.srv.DropHost(l.IP); n > 0 {
				r.logf("port mapping: %d mapping(s) of %v removed: its DHCP lease ended", n, l.IP)
			}
		}
	}
}

// announceExternal tells LAN clients the external address changed (RFC
// 6886 §3.2.1, RFC 6887 §14.1.3): now and then ever more rarely, from
// port 5351. r.mu is held.
func (r *router) announceExternalLocked(addr netip.Addr) {
	pm := r.pm
	if pm == nil {
		return
	}
	pm.routerLocked.Store(true)
	first := pm.srv.SetExternal(addr, time.Now())
	pm.routerLocked.Store(false)
	if first == nil {
		return
	}
	send := func(ds []portmap.Datagram) {
		for _, d := range ds {
			if !d.To.Addr().Is4() {
				continue // the IPv4 server's socket; PCP over IPv6 is not served
			}
			if _, err := pm.conn.WriteTo(d.Payload, net.UDPAddrFromAddrPort(d.To)); err != nil {
				r.logf("port mapping: announcement to %v: %v", d.To, err)
				return
			}
		}
	}
	send(first)
	go func() {
		wait := portmap.AnnounceFirstInterval
		for i := 1; i < portmap.AnnounceRepeats; i++ {
			select {
			case <-pm.done:
				return
			case <-time.After(wait):
			}
			send(pm.srv.Announce(time.Now()))
			wait *= 2
		}
	}()
}

// NATMappings implements shell.MappingRouter.
func (s shellRouter) NATMappings(ctx context.Context) ([]shell.NATMapping, error) {
	s.r.mu.Lock()
	live := config.Running(s.r.running, s.r.cfg)
	pm := s.r.pm
	s.r.mu.Unlock()
	var out []shell.NATMapping
	for _, f := range natConfig(live, 0, 0).PortForwards {
		ext := fmt.Sprint(f.ExtStart)
		if f.ExtEnd != f.ExtStart {
			ext = fmt.Sprintf("%d-%d", f.ExtStart, f.ExtEnd)
		}
		out = append(out, shell.NATMapping{Origin: "configured", Name: f.Name, Protocol: protoName(f.Proto), External: ext,
			Internal: netip.AddrPortFrom(f.Host, f.IntStart)})
	}
	if pm != nil {
		now := time.Now()
		for _, m := range pm.srv.Mappings() {
			out = append(out, shell.NATMapping{Origin: m.Origin.String(), Name: m.Description, Protocol: m.Proto.String(),
				External: fmt.Sprint(m.External.Port()), Internal: m.Internal, Expires: max(m.Expiry.Sub(now), time.Second)})
		}
	}
	return out, nil
}

var _ shell.MappingRouter = shellRouter{}
