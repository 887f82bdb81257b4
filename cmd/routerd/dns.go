package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
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
	listen []netip.Addr // :: for every IPv6 address of the router
	pcs    []net.PacketConn
	lns    []net.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// linkLocalNet is where IPv6 clients on the LAN link may ask from.
var linkLocalNet = netip.MustParsePrefix("fe80::/10")

// dnsfwdConfig maps the configuration, with the WAN's DNS servers (IPv4,
// then IPv6) as the upstreams unless some are configured. lan6 are the
// LAN's IPv6 prefixes: their hosts may ask too.
func dnsfwdConfig(c *config.Config, wanDNS []netip.Addr, lan6 []netip.Prefix, wan6DNS []netip.Addr) (dnsfwd.Config, string) {
	d := c.DNS
	of := "configured"
	ups := d.Upstream
	if len(ups) == 0 && len(d.TLSUpstreams) == 0 {
		ups, of = append(slices.Clone(wanDNS), wan6DNS...), "from the WAN"
	}
	lan := c.Interfaces.LAN.Address
	fc := dnsfwd.Config{Domain: d.Domain, Clients: []netip.Prefix{lan.Masked()},
		RebindProtection: d.RebindProtection, RebindAllow: append([]string(nil), d.RebindAllow...)}
	if ipv6Wanted(c) {
		fc.Clients = append(append(fc.Clients, linkLocalNet), lan6...)
	}
	for _, a := range ups {
		if a != lan.Addr() && !slices.Contains(fc.Upstreams, netip.AddrPortFrom(a, 53)) && len(fc.Upstreams) < dnsfwd.MaxUpstreams {
			fc.Upstreams = append(fc.Upstreams, netip.AddrPortFrom(a, 53))
		}
	}
	for _, u := range d.TLSUpstreams {
		port := u.Port
		if port == 0 {
			port = 853
		}
		if u.Address.IsValid() && u.ServerName != "" && len(fc.Upstreams)+len(fc.TLS) < dnsfwd.MaxUpstreams {
			fc.TLS = append(fc.TLS, dnsfwd.TLSUpstream{Addr: netip.AddrPortFrom(u.Address, uint16(port)), ServerName: u.ServerName})
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

// leaseNames are the DHCP leases' host names, for NAME.lan. It takes no
// lock of the router's: the forwarder calls it while answering, and
// stopping the forwarder waits for that with r.mu held. r.dhcp is set
// once, before the forwarder starts.
func (r *router) leaseNames() []dnsfwd.Host {
	srv := r.dhcp
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
// and the WAN's DNS servers, and tells the IPv6 control plane whether the
// LAN should be told of the router as its DNS server. r.mu is held.
func (r *router) syncDNSLocked(ctx context.Context, cfg *config.Config) error {
	err := r.syncDNSServiceLocked(ctx, cfg)
	if r.v6 != nil {
		r.v6.setDNSForwarder(r.dns != nil)
	}
	return err
}

func (r *router) syncDNSServiceLocked(ctx context.Context, cfg *config.Config) error {
	if !cfg.DNS.Forwarder {
		if r.dns != nil {
			r.dns.cancel()
			<-r.dns.done
			r.dns = nil
			r.logf("dns forwarder stopped")
		}
		return nil
	}
	fc, _ := dnsfwdConfig(cfg, r.wanDNS, r.lan6, r.wan6DNS)
	if r.dns != nil {
		return r.dns.fwd.Reconfigure(fc)
	}
	fwd, err := dnsfwd.New(fc, dnsfwd.Options{Leases: r.leaseNames, Logf: r.logf})
	if err != nil {
		return err
	}
	s, err := listenDNS(cfg)
	if err != nil {
		return err
	}
	s.fwd = fwd
	sctx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); fwd.Run(sctx) }()
		if err := fwd.Serve(sctx, s.pcs, s.lns); err != nil {
			r.logf("dns forwarder stopped: %v", err)
		}
		cancel()
		wg.Wait()
	}()
	r.dns = s
	r.logf("dns forwarder listening on %v port 53", s.listen)
	return nil
}

// listenDNS opens port 53 (UDP and TCP) on the LAN address and, with IPv6
// on, on every IPv6 address of the router: they are all on self0, and the
// IPv6 firewall keeps the WAN from reaching the router's own (RFC 6092
// REC-50), while the forwarder answers only the LAN's prefixes.
func listenDNS(cfg *config.Config) (*dnsService, error) {
	s := &dnsService{}
	closeAll := func() {
		for _, pc := range s.pcs {
			pc.Close()
		}
		for _, ln := range s.lns {
			ln.Close()
		}
	}
	type at struct{ udp, tcp, addr string }
	lan := cfg.Interfaces.LAN.Address.Addr()
	ats := []at{{"udp4", "tcp4", netip.AddrPortFrom(lan, 53).String()}}
	s.listen = []netip.Addr{lan}
	if ipv6Wanted(cfg) {
		ats = append(ats, at{"udp6", "tcp6", "[::]:53"})
		s.listen = append(s.listen, netip.IPv6Unspecified())
	}
	for _, a := range ats {
		pc, err := net.ListenPacket(a.udp, a.addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("dns forwarder: %w", err)
		}
		s.pcs = append(s.pcs, pc)
		ln, err := net.Listen(a.tcp, a.addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("dns forwarder: %w", err)
		}
		s.lns = append(s.lns, ln)
	}
	return s, nil
}

// setIPv6DNS takes the LAN's IPv6 prefixes and the WAN's IPv6 DNS servers
// from the IPv6 control plane.
func (r *router) setIPv6DNS(lan6 []netip.Prefix, wan6DNS []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lan6, r.wan6DNS = slices.Clone(lan6), slices.Clone(wan6DNS)
	if r.dns != nil {
		if err := r.syncDNSLocked(r.dnsCtx, config.Running(r.running, r.cfg)); err != nil {
			r.logf("dns forwarder: %v", err)
		}
	}
}

// DNS implements shell.DNSRouter.
func (s shellRouter) DNS(ctx context.Context) (shell.DNSStatus, error) {
	s.r.mu.Lock()
	d := s.r.dns
	_, of := dnsfwdConfig(s.r.cfg, s.r.wanDNS, s.r.lan6, s.r.wan6DNS)
	var listen []netip.Addr
	if d != nil {
		for _, a := range d.listen {
			if !a.IsUnspecified() {
				listen = append(listen, a)
				continue
			}
			for _, p := range s.r.lan6 { // the router's address in each LAN /64
				listen = append(listen, routerAddr(p))
			}
		}
	}
	s.r.mu.Unlock()
	if d == nil {
		return shell.DNSStatus{}, nil
	}
	st := d.fwd.Status()
	out := shell.DNSStatus{Enabled: true, Listen: listen, Domain: st.Domain, UpstreamsOf: of,
		CacheItems: st.CacheEntries, CacheBytes: st.CacheBytes, CacheBudget: st.CacheBudget}
	for _, u := range st.Upstreams {
		out.Upstreams = append(out.Upstreams, shell.DNSUpstream{Addr: u.Addr, TLSName: u.TLSName, Up: u.Up, RTT: u.RTT,
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
