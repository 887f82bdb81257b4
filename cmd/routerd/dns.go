package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dnsfwd"
	"github.com/passgate/passgate/pkg/shell"
)

// dnsService is the DNS forwarder answering on the router's LAN address
// (through self0, like SSH). It runs while dns forwarder is enabled; a
// commit turns it on or off.
type dnsService struct {
	fwd    *dnsfwd.Forwarder
	listen []netip.Addr
	cancel context.CancelFunc
	done   chan struct{}
}

// dnsfwdConfig maps the configuration, with the WAN's DNS servers as the
// upstreams unless some are configured.
func dnsfwdConfig(c *config.Config, wanDNS []netip.Addr) (dnsfwd.Config, string) {
	d := c.DNS
	of := "configured"
	ups := d.Upstream
	if len(ups) == 0 {
		ups, of = wanDNS, "from the WAN"
	}
	lan := c.Interfaces.LAN.Address
	fc := dnsfwd.Config{Domain: d.Domain, Clients: []netip.Prefix{lan.Masked()},
		RebindProtection: d.RebindProtection, RebindAllow: append([]string(nil), d.RebindAllow...)}
	for _, a := range ups {
		if a != lan.Addr() && len(fc.Upstreams) < dnsfwd.MaxUpstreams {
			fc.Upstreams = append(fc.Upstreams, netip.AddrPortFrom(a, 53))
		}
	}
	// The router's own name, the DHCP server's static entries, then the
	// configured hosts (which win: dnsfwd takes the last of a name).
	fc.Hosts = append(fc.Hosts, dnsfwd.Host{Name: dnsfwd.Label(c.System.Hostname), Addrs: []netip.Addr{lan.Addr()}})
	for _, s := range c.DHCPServer.LAN.Static {
		if l := dnsfwd.Label(s.Name); l != "" && s.IP.IsValid() {
			fc.Hosts = append(fc.Hosts, dnsfwd.Host{Name: l, Addrs: []netip.Addr{s.IP}})
		}
	}
	for _, h := range d.Hosts {
		var as []netip.Addr
		for _, a := range []netip.Addr{h.Address, h.IPv6} {
			if a.IsValid() {
				as = append(as, a)
			}
		}
		fc.Hosts = append(fc.Hosts, dnsfwd.Host{Name: h.Name, Addrs: as})
	}
	return fc, of
}

// leaseNames are the DHCP leases' host names, for NAME.lan.
func (r *router) leaseNames() []dnsfwd.Host {
	r.mu.Lock()
	srv := r.dhcp
	r.mu.Unlock()
	if srv == nil {
		return nil
	}
	var out []dnsfwd.Host
	for _, l := range srv.Leases() {
		if l.Hostname != "" {
			out = append(out, dnsfwd.Host{Name: l.Hostname, Addrs: []netip.Addr{l.IP}})
		}
	}
	return out
}

// syncDNSLocked starts, reconfigures or stops the forwarder to match cfg
// and the WAN's DNS servers. r.mu is held.
func (r *router) syncDNSLocked(ctx context.Context, cfg *config.Config) error {
	if !cfg.DNS.Forwarder {
		if r.dns != nil {
			r.dns.cancel()
			<-r.dns.done
			r.dns = nil
			r.logf("dns forwarder stopped")
		}
		return nil
	}
	fc, _ := dnsfwdConfig(cfg, r.wanDNS)
	if r.dns != nil {
		return r.dns.fwd.Reconfigure(fc)
	}
	fwd, err := dnsfwd.New(fc, dnsfwd.Options{Leases: r.leaseNames, Logf: r.logf})
	if err != nil {
		return err
	}
	addr := cfg.Interfaces.LAN.Address.Addr()
	ap := netip.AddrPortFrom(addr, 53).String()
	pc, err := net.ListenPacket("udp4", ap)
	if err != nil {
		return fmt.Errorf("dns forwarder: %w", err)
	}
	ln, err := net.Listen("tcp4", ap)
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns forwarder: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &dnsService{fwd: fwd, listen: []netip.Addr{addr}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); fwd.Run(sctx) }()
		if err := fwd.Serve(sctx, pc, ln); err != nil {
			r.logf("dns forwarder stopped: %v", err)
		}
		cancel()
		wg.Wait()
	}()
	r.dns = s
	r.logf("dns forwarder listening on %s", ap)
	return nil
}

// DNS implements shell.DNSRouter.
func (s shellRouter) DNS(ctx context.Context) (shell.DNSStatus, error) {
	s.r.mu.Lock()
	d := s.r.dns
	_, of := dnsfwdConfig(s.r.cfg, s.r.wanDNS)
	s.r.mu.Unlock()
	if d == nil {
		return shell.DNSStatus{}, nil
	}
	st := d.fwd.Status()
	out := shell.DNSStatus{Enabled: true, Listen: d.listen, Domain: st.Domain, UpstreamsOf: of,
		CacheItems: st.CacheEntries, CacheBytes: st.CacheBytes, CacheBudget: st.CacheBudget}
	for _, u := range st.Upstreams {
		out.Upstreams = append(out.Upstreams, shell.DNSUpstream{Addr: u.Addr, Up: u.Up, RTT: u.RTT,
			Answered: u.Answered, Failed: u.Failed, LastError: u.LastError})
	}
	c := st.Counters
	for _, kv := range []struct {
		name string
		v    uint64
	}{
		{"queries", c.Queries}, {"cache-hits", c.CacheHits}, {"cache-misses", c.CacheMisses},
		{"local-answers", c.Local}, {"forwarded", c.Forwarded}, {"served-stale", c.Stale},
		{"servfail", c.ServFail}, {"refused", c.Refused}, {"rate-limited", c.RateLimited},
		{"overloaded", c.Overloaded}, {"rebind-dropped", c.RebindDropped},
	} {
		out.Counters = append(out.Counters, shell.Counter{Name: kv.name, Value: kv.v})
	}
	return out, nil
}

// DNSCache implements shell.DNSRouter.
func (s shellRouter) DNSCache(ctx context.Context, n int) ([]shell.DNSCacheEntry, error) {
	d := s.r.dnsService()
	if d == nil {
		return nil, fmt.Errorf("the DNS forwarder is disabled (set dns forwarder enable)")
	}
	var out []shell.DNSCacheEntry
	for _, e := range d.fwd.Cache(n) {
		out = append(out, shell.DNSCacheEntry{Name: e.Name, Type: e.Type, Rcode: e.Rcode, Answers: e.Answers, TTLLeft: e.TTLLeft})
	}
	return out, nil
}

// ClearDNSCache implements shell.DNSRouter.
func (s shellRouter) ClearDNSCache(ctx context.Context) (int, error) {
	d := s.r.dnsService()
	if d == nil {
		return 0, fmt.Errorf("the DNS forwarder is disabled (set dns forwarder enable)")
	}
	return d.fwd.FlushCache(), nil
}

func (r *router) dnsService() *dnsService {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dns
}

var _ shell.DNSRouter = shellRouter{}
