// Package shelltest provides a fake shell.Router and a fake clock for
// tests of the shell and of the transports that carry it (console, sshd).
package shelltest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// Clock is a manual clock: time moves only with Advance.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*timer
}

type timer struct {
	at  time.Time
	seq int
	f   func()
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t, timers: map[int]*timer{}} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc registers f to run when Advance passes now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := c.seq
	c.timers[id] = &timer{at: c.now.Add(d), seq: id, f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[id]
		delete(c.timers, id)
		return ok
	}
}

// Advance moves the clock forward by d and runs the timers that fall due,
// in order, in the calling goroutine. It returns how many ran.
func (c *Clock) Advance(d time.Duration) int {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	n := 0
	for {
		c.mu.Lock()
		var next *timer
		for _, t := range c.timers {
			if !t.at.After(end) && (next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return n
		}
		delete(c.timers, next.seq)
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		n++
	}
}

// Pending returns how many timers wait.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Router is an in-memory shell.Router with canned views. Commits go
// through a real config.Store when one is given, else into memory. It
// keeps the promises of shell.Router that pkg/shell/shellcontract states
// (the canned sessions are filtered and cleared as documented; Interfaces
// shows the committed ports; a factory reset forgets the leases and the
// host key); Restart plays the restart Reboot and FactoryReset ask for.
type Router struct {
	mu      sync.Mutex
	store   *config.Store
	cfg     *config.Config
	running *config.Config   // what the last (re)start ran: its start-only settings are in effect
	mem     []*config.Config // without a store: previous configs, newest first
	pend    *config.Pending  // without a store: the pending commit confirmed
	clock   shell.Clock

	// Canned views; tests may change them before use.
	Ifaces  []shell.Interface
	Leases  []shell.Lease
	NAT     []shell.NATSession
	PT      shell.Passthrough
	Cnt     shell.Counters
	LogRows []shell.LogLine
	Sys     shell.SystemInfo
	ARP     []shell.Neighbor
	// Devs are the devices seen on the LAN (shell.LANRouter); Blocked is
	// set from the committed MAC filter when they are listed.
	Devs []shell.LANDevice
	// FirewallHits are the canned counters of firewall rules, by name.
	FirewallHits map[string]uint64
	// IPv6: canned neighbours, routes and firewall sessions (shell.IPv6Router).
	NDP      []shell.IPv6Neighbor
	Routes6  []shell.Route
	IPv6Sess []shell.IPv6Session
	// DNS: the forwarder's canned state and cache (shell.DNSRouter).
	DNSState   shell.DNSStatus
	DNSEntries []shell.DNSCacheEntry
	// Trace is the canned trace from the router (shell.TraceRouter);
	// TraceErr, if set, is returned instead. Traces counts the calls.
	Trace    shell.WANTrace
	TraceErr error
	Traces   int
	// DHCPWAN is the WAN address and gateway the fake's DHCP client
	// holds when the configuration's WAN mode is dhcp (invalid: no lease).
	DHCPWAN netip.Prefix
	DHCPGW  netip.Addr
	history []config.HistoryEntry // without a store
	// HostKey stands for the SSH host key: FactoryReset forgets it and
	// Restart makes a new one.
	HostKey []byte

	// CommitErr, if set, makes Commit fail.
	CommitErr error
	// Booted is what the last Restart found of a pending commit
	// confirmed (config.Store.Settle).
	Booted config.Boot

	// What happened.
	Commits       int
	Reboots       int // restarts asked for, by Reboot and FactoryReset
	FactoryResets int
	keys          int // host keys made
	Cleared       []shell.SessionFilter
}

// NewRouter returns a Router whose committed configuration is cfg (saved
// into store first when store is not nil). clock dates leases and log
// lines.
func NewRouter(store *config.Store, cfg *config.Config, clock shell.Clock) (*Router, error) {
	if store != nil {
		if err := store.Save(cfg); err != nil {
			return nil, err
		}
	}
	r := &Router{store: store, cfg: cfg.Clone(), running: cfg.Clone(), clock: clock}
	r.canned()
	return r, nil
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAP(s string) netip.AddrPort   { return netip.MustParseAddrPort(s) }
func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func (r *Router) canned() {
	now := r.clock.Now()
	r.Ifaces = []shell.Interface{
		{Name: "lan", Role: "lan", Device: "eth0", MAC: mustMAC("52:54:00:12:34:56"), MTU: 1500,
			Addresses: []netip.Prefix{mustPrefix("192.168.1.1/24")}, Up: true,
			RxPackets: 123456, RxBytes: 98765432, TxPackets: 234567, TxBytes: 345678901, RxDrops: 3},
		{Name: "wan", Role: "wan", Device: "eth1", MAC: mustMAC("52:54:00:ab:cd:ef"), MTU: 1500,
			Addresses: []netip.Prefix{mustPrefix("203.0.113.2/24")}, Up: true,
			RxPackets: 234000, RxBytes: 345000000, TxPackets: 123000, TxBytes: 98000000, TxDrops: 1},
	}
	r.Leases = []shell.Lease{
		{IP: netip.MustParseAddr("192.168.1.50"), MAC: mustMAC("aa:bb:cc:dd:ee:ff"), Hostname: "laptop", Static: true},
		{IP: netip.MustParseAddr("192.168.1.100"), MAC: mustMAC("02:00:00:00:00:01"), Hostname: "phone", Expires: now.Add(11*time.Hour + 58*time.Minute)},
		{IP: netip.MustParseAddr("192.168.1.101"), MAC: mustMAC("02:00:00:00:00:02"), Expires: now.Add(-time.Minute)},
	}
	r.FirewallHits = map[string]uint64{"block-tv": 12}
	r.Devs = []shell.LANDevice{
		{MAC: mustMAC("aa:bb:cc:dd:ee:ff"), FirstSeen: now.Add(-26 * time.Hour), LastSeen: now, Frames: 912345},
		{MAC: mustMAC("02:00:00:00:00:01"), FirstSeen: now.Add(-2 * time.Hour), LastSeen: now.Add(-3 * time.Second), Frames: 20455},
		{MAC: mustMAC("b8:27:eb:12:34:56"), FirstSeen: now.Add(-5 * time.Minute), LastSeen: now.Add(-90 * time.Second), Frames: 17, Dropped: 17},
	}
	r.NAT = []shell.NATSession{
		{Protocol: "tcp", Internal: mustAP("192.168.1.10:51514"), External: mustAP("203.0.113.2:51514"), Remote: mustAP("198.51.100.7:443"),
			State: "established", Age: 62 * time.Minute, Idle: 3 * time.Second, Expires: 2*time.Hour + 3*time.Minute,
			PacketsOut: 1200, PacketsIn: 2300, BytesOut: 123456, BytesIn: 3456789},
		{Protocol: "udp", Internal: mustAP("192.168.1.20:5353"), External: mustAP("203.0.113.2:40000"), Remote: mustAP("192.0.2.53:53"),
			Age: 5 * time.Second, Idle: 5 * time.Second, Expires: 295 * time.Second, PacketsOut: 1, PacketsIn: 1, BytesOut: 60, BytesIn: 120},
		{Protocol: "gre", Internal: mustAP("192.168.1.10:0"), External: mustAP("203.0.113.2:0"), Remote: mustAP("198.51.100.1:0"),
			Age: 10 * time.Minute, Idle: time.Second, Expires: 599 * time.Second, PacketsOut: 900, PacketsIn: 880, BytesOut: 99000, BytesIn: 120000},
	}
	r.PT = shell.Passthrough{
		Protocols: []shell.PassthroughProtocol{
			{Name: "pptp", Enabled: true, PacketsOut: 900, PacketsIn: 880, BytesOut: 99000, BytesIn: 120000, Created: 2},
			{Name: "l2tp", Enabled: true},
			{Name: "ipsec", Enabled: true, Mode: "spi-learning", PacketsOut: 40, PacketsIn: 38, BytesOut: 6400, BytesIn: 6080, Created: 2, Expired: 1},
		},
		Sessions: []shell.PassthroughSession{
			{Protocol: "gre", Host: netip.MustParseAddr("192.168.1.10"), Server: netip.MustParseAddr("198.51.100.1"),
				External: "alias 0x8001", IDs: "0x0001<>0x4a2f", Age: 10 * time.Minute, Idle: time.Second,
				PacketsOut: 900, PacketsIn: 880, BytesOut: 99000, BytesIn: 120000},
			{Protocol: "esp", Host: netip.MustParseAddr("192.168.1.30"), Server: netip.MustParseAddr("192.0.2.9"),
				External: "-", IDs: "0xc0ffee01/0x0badf00d", Age: 3 * time.Minute, Idle: 2 * time.Second,
				PacketsOut: 40, PacketsIn: 38, BytesOut: 6400, BytesIn: 6080},
		},
		Extra: []shell.Counter{{Name: "pptp-call-id-rewrites", Value: 4}, {Name: "esp-spis-learned", Value: 2}},
	}
	r.switches()
	r.newHostKey()
	r.Cnt = shell.Counters{
		Verdicts: []shell.Counter{{Name: "forward", Value: 356000}, {Name: "drop", Value: 1234}, {Name: "punt", Value: 5678}},
		Drops:    []shell.Counter{{Name: "no-mapping", Value: 1200}, {Name: "filtered", Value: 30}, {Name: "blocked", Value: 4}, {Name: "martian", Value: 0}},
		Sessions: []shell.Counter{{Name: "current", Value: 3}, {Name: "limit", Value: 65536}, {Name: "created", Value: 4521}, {Name: "expired", Value: 4518}},
		Ports: []shell.PortCounters{
			{Name: "lan", RxPackets: 123456, RxBytes: 98765432, RxDrops: 3, TxPackets: 234567, TxBytes: 345678901, Readers: 2, GRO: "on"},
			{Name: "wan", RxPackets: 234000, RxBytes: 345000000, TxPackets: 123000, TxBytes: 98000000, TxDrops: 1, Readers: 1, GRO: "off"},
		},
	}
	r.LogRows = []shell.LogLine{
		{Time: now.Add(-2 * time.Hour), Text: "routerd: worker started"},
		{Time: now.Add(-2*time.Hour + time.Second), Text: "wan: DHCP lease 203.0.113.2/24 from 203.0.113.1, 1h"},
		{Time: now.Add(-time.Minute), Text: "dhcpd: 192.168.1.100 to 02:00:00:00:00:01 (phone)"},
	}
	r.ARP = []shell.Neighbor{
		{Interface: "lan", IP: netip.MustParseAddr("192.168.1.50"), MAC: mustMAC("aa:bb:cc:dd:ee:ff")},
		{Interface: "lan", IP: netip.MustParseAddr("192.168.1.100"), MAC: mustMAC("02:00:00:00:00:01")},
		{Interface: "wan", IP: netip.MustParseAddr("203.0.113.1"), MAC: mustMAC("52:54:00:00:00:01")},
	}
	r.DNSState = shell.DNSStatus{Enabled: true, Listen: []netip.Addr{netip.MustParseAddr("192.168.1.1")}, Domain: "lan",
		UpstreamsOf: "from the WAN", CacheItems: 2, CacheBytes: 900, CacheBudget: 4 << 20,
		Upstreams: []shell.DNSUpstream{
			{Addr: mustAP("192.0.2.53:53"), Up: true, RTT: 12300 * time.Microsecond, Answered: 120, Failed: 1},
			{Addr: mustAP("192.0.2.54:53"), Up: false, Failed: 4, LastError: "192.0.2.54:53: read udp: i/o timeout"},
		},
		Counters: []shell.Counter{{Name: "queries", Value: 300}, {Name: "cache-hits", Value: 170}, {Name: "cache-misses", Value: 121},
			{Name: "local-answers", Value: 9}, {Name: "rebind-dropped", Value: 1}}}
	r.DNSEntries = []shell.DNSCacheEntry{
		{Name: "www.example.com.", Type: "A", Rcode: "NOERROR", Answers: 2, TTLLeft: 250 * time.Second},
		{Name: "gone.example.com.", Type: "AAAA", Rcode: "NXDOMAIN", TTLLeft: -20 * time.Second},
	}
	r.NDP = []shell.IPv6Neighbor{
		{Interface: "lan", IP: netip.MustParseAddr("2600:100:0:100:0:ff:fe00:101"), MAC: mustMAC("02:00:00:00:01:01"), State: "reachable"},
		{Interface: "lan", IP: netip.MustParseAddr("fe80::ff:fe00:101"), MAC: mustMAC("02:00:00:00:01:01"), State: "stale"},
		{Interface: "lan", IP: netip.MustParseAddr("2600:100:0:100::99"), State: "incomplete", Queued: 2},
		{Interface: "wan", IP: netip.MustParseAddr("fe80::1"), MAC: mustMAC("52:54:00:00:00:01"), State: "reachable", Router: true},
	}
	r.Routes6 = []shell.Route{
		{Destination: mustPrefix("::/0"), Gateway: netip.MustParseAddr("fe80::1"), Interface: "wan", Source: "ra"},
		{Destination: mustPrefix("2600:5::/64"), Interface: "wan", Source: "ra"},
		{Destination: mustPrefix("2600:100:0:100::/64"), Interface: "lan", Source: "dhcpv6"},
		{Destination: mustPrefix("2600:100:0:100::/56"), Interface: "-", Source: "unreachable"},
		{Destination: mustPrefix("fd5a:1:2::/64"), Interface: "lan", Source: "ula"},
	}
	r.IPv6Sess = []shell.IPv6Session{
		{Protocol: "tcp", LAN: mustAP("[2600:100:0:100:0:ff:fe00:101]:51514"), Remote: mustAP("[2600:9::10]:443"),
			State: "established", Age: 62 * time.Minute, Idle: 3 * time.Second, Expires: 2*time.Hour + 3*time.Minute,
			PacketsOut: 1200, PacketsIn: 2300, BytesOut: 123456, BytesIn: 3456789},
		{Protocol: "udp", LAN: mustAP("[2600:100:0:100:0:ff:fe00:102]:8081"), Remote: mustAP("[2600:9::20]:40000"),
			Age: 5 * time.Second, Idle: 5 * time.Second, Expires: 295 * time.Second, PacketsOut: 1, PacketsIn: 1, BytesOut: 60, BytesIn: 120, Inbound: true},
	}
	r.DHCPWAN, r.DHCPGW = mustPrefix("203.0.113.2/24"), netip.MustParseAddr("203.0.113.1")
	r.Trace = shell.WANTrace{Target: netip.MustParseAddr("9.9.9.9"), At: now, Hops: []shell.TraceHop{
		{Hop: 1, Addr: netip.MustParseAddr("203.0.113.1")}, {Hop: 2, Addr: netip.MustParseAddr("198.51.100.1")}, {Hop: 3}}}
	r.Sys = shell.SystemInfo{Hostname: "passgate", Version: "0.1.0-test", Board: "qemu-arm64",
		Uptime: 2*time.Hour + 3*time.Minute + 4*time.Second, MemTotal: 1 << 30, MemAvailable: 700 << 20}
}

// Config returns the committed configuration.
func (r *Router) Config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// Commit stores c (which confirms a pending commit confirmed) and
// describes the passthrough switches it changed and the settings that
// take effect after a restart.
func (r *Router) Commit(ctx context.Context, c *config.Config) ([]string, error) {
	return r.commit(c, func() error {
		if r.store != nil {
			return r.store.Save(c)
		}
		r.pend = nil
		return nil
	})
}

// CommitConfirmed stores c with its rollback p, as Commit does.
func (r *Router) CommitConfirmed(ctx context.Context, c *config.Config, p config.Pending) ([]string, error) {
	return r.commit(c, func() error {
		if r.store != nil {
			return r.store.SaveConfirmed(c, p)
		}
		p.New, p.Restart = config.Sum(c), false
		r.pend = &p
		return nil
	})
}

// Pending returns the persisted commit confirmed, or nil.
func (r *Router) Pending() *config.Pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store != nil {
		p, _ := r.store.Pending()
		return p
	}
	if r.pend == nil {
		return nil
	}
	p := *r.pend
	return &p
}

// SetPending rewrites or removes the pending commit confirmed.
func (r *Router) SetPending(p *config.Pending) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store != nil {
		return r.store.SetPending(p)
	}
	if p == nil {
		r.pend = nil
	} else {
		c := *p
		r.pend = &c
	}
	return nil
}

// NeedsRestart compares the committed configuration with what the last
// start ran.
func (r *Router) NeedsRestart() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return config.NeedsRestart(r.running, r.cfg)
}

// commit saves c with save, then makes it the committed configuration
// (so a failed save changes nothing: it is a *shell.SaveError).
func (r *Router) commit(c *config.Config, save func() error) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.CommitErr != nil {
		return nil, r.CommitErr
	}
	if err := save(); err != nil && !errors.Is(err, config.ErrArchive) {
		path := "passgate.conf"
		if r.store != nil {
			path = r.store.Where()
		}
		return nil, &shell.SaveError{Path: path, Err: err}
	}
	if r.store == nil {
		r.mem = append([]*config.Config{r.cfg}, r.mem...)
	}
	old := r.cfg
	r.cfg = c.Clone()
	r.Commits++
	ch := config.RestartNotes(r.running, old, c)
	r.switches()
	sw := func(name string, was, is bool, closed string) {
		switch {
		case was && !is:
			ch = append(ch, fmt.Sprintf("%s passthrough disabled%s", name, closed))
		case !was && is:
			ch = append(ch, name+" passthrough enabled")
		}
	}
	calls := 0
	for _, s := range r.PT.Sessions {
		if s.Protocol == "gre" {
			calls++
		}
	}
	sw("pptp", old.Passthrough.PPTP, c.Passthrough.PPTP, fmt.Sprintf(": %d calls closed", calls))
	sw("l2tp", old.Passthrough.L2TP, c.Passthrough.L2TP, "")
	sw("ipsec", old.Passthrough.IPsec.Enabled, c.Passthrough.IPsec.Enabled, "")
	if n := len(config.Diff(old, c)); len(ch) == 0 && n > 0 {
		ch = append(ch, fmt.Sprintf("applied %d changed line(s); established sessions kept", n))
	}
	return ch, nil
}

// switches sets the passthrough switches of PT from the committed
// configuration.
func (r *Router) switches() {
	on := map[string]bool{"pptp": r.cfg.Passthrough.PPTP, "l2tp": r.cfg.Passthrough.L2TP, "ipsec": r.cfg.Passthrough.IPsec.Enabled}
	for i, p := range r.PT.Protocols {
		if v, ok := on[p.Name]; ok {
			r.PT.Protocols[i].Enabled = v
		}
	}
}

func (r *Router) newHostKey() {
	r.keys++
	r.HostKey = fmt.Appendf(nil, "fake ssh host key %d", r.keys)
}

// Revisions lists the stored configurations.
func (r *Router) Revisions() []config.RevisionInfo {
	if r.store != nil {
		return r.store.Revisions()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ri := []config.RevisionInfo{{N: 0}}
	for i := range r.mem {
		ri = append(ri, config.RevisionInfo{N: i + 1})
	}
	return ri
}

// Rollback returns revision n.
func (r *Router) Rollback(n int) (*config.Config, error) {
	if r.store != nil {
		return r.store.Revision(n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case n == 0:
		return r.cfg.Clone(), nil
	case n > 0 && n <= len(r.mem):
		return r.mem[n-1].Clone(), nil
	}
	return nil, fmt.Errorf("there is no revision %d", n)
}

// Interfaces returns the canned interfaces with the committed
// configuration's devices, MTUs, LAN address and static WAN address.
func (r *Router) Interfaces(context.Context) ([]shell.Interface, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.Ifaces)
	ifc := r.cfg.Interfaces
	for i := range out {
		switch out[i].Name {
		case "lan":
			out[i].Device, out[i].MTU = ifc.LAN.Device, ifc.LAN.MTU
			out[i].Addresses = []netip.Prefix{ifc.LAN.Address}
		case "wan":
			out[i].Device, out[i].MTU = ifc.WAN.Device, ifc.WAN.MTU
			if ifc.WAN.Mode == config.WANStatic {
				out[i].Addresses = []netip.Prefix{ifc.WAN.Address}
			}
		}
	}
	return out, nil
}

// DHCPLeases returns the canned leases.
func (r *Router) DHCPLeases(context.Context) ([]shell.Lease, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Leases, nil
}

func match(s shell.NATSession, f shell.SessionFilter) bool {
	if f.Protocol != "" && s.Protocol != f.Protocol {
		return false
	}
	if f.Host.IsValid() && s.Internal.Addr() != f.Host && s.External.Addr() != f.Host && s.Remote.Addr() != f.Host {
		return false
	}
	return true
}

// NATSessions returns the canned sessions that match f.
func (r *Router) NATSessions(_ context.Context, f shell.SessionFilter) ([]shell.NATSession, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []shell.NATSession
	for _, s := range r.NAT {
		if match(s, f) {
			out = append(out, s)
		}
	}
	return out, nil
}

// ClearNATSessions removes the canned sessions that match f.
func (r *Router) ClearNATSessions(_ context.Context, f shell.SessionFilter) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Cleared = append(r.Cleared, f)
	var keep []shell.NATSession
	for _, s := range r.NAT {
		if !match(s, f) {
			keep = append(keep, s)
		}
	}
	n := len(r.NAT) - len(keep)
	r.NAT = keep
	return n, nil
}

// Passthrough returns the canned passthrough state.
func (r *Router) Passthrough(context.Context) (shell.Passthrough, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.PT, nil
}

// Counters returns the canned counters, with the session counter
// "current" counting the sessions in NAT.
func (r *Router) Counters(context.Context) (shell.Counters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.Cnt
	c.Sessions = slices.Clone(c.Sessions)
	for i := range c.Sessions {
		if c.Sessions[i].Name == "current" {
			c.Sessions[i].Value = uint64(len(r.NAT))
		}
	}
	return c, nil
}

// Log returns the canned log.
func (r *Router) Log(context.Context) ([]shell.LogLine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]shell.LogLine(nil), r.LogRows...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// System returns the canned system information. Without a canned
// Config, the store's says where the configuration comes from (a hand
// edit or a fallback, until the next commit), as routerd's does.
func (r *Router) System(context.Context) (shell.SystemInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.Sys
	s.Hostname = r.cfg.System.Hostname
	if s.SSHHostKey == "" && r.HostKey != nil {
		// The fake key's "fingerprint", shaped as ssh-keygen -l prints one.
		sum := sha256.Sum256(r.HostKey)
		s.SSHHostKey = "ssh-ed25519 SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	}
	if s.Config == "" && r.store != nil {
		if l, err := r.store.LoadInfo(); err == nil {
			s.Config = l.Notice
		}
	}
	return s, nil
}

// Ping answers every request at once; the host "blackhole" never
// answers, so Ping waits for ctx (Ctrl-C) or 10 seconds.
func (r *Router) Ping(ctx context.Context, host string, o shell.PingOptions, w io.Writer) error {
	count := o.Count
	fmt.Fprintf(w, "PING %s: %d requests of %d data bytes\n", host, count, o.Size)
	if host == "blackhole" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("blackhole: timed out")
		}
	}
	for i := 1; i <= count; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(w, "reply from %s: seq=%d ttl=64 time=1.%d ms\n", host, i, i)
	}
	fmt.Fprintf(w, "%d sent, %d received, 0%% loss\n", count, count)
	return nil
}

// Traceroute prints two hops.
func (r *Router) Traceroute(_ context.Context, host string, w io.Writer) error {
	fmt.Fprintf(w, "traceroute to %s, 30 hops max\n 1  203.0.113.1  1.1 ms\n 2  %s  9.8 ms\n", host, host)
	return nil
}

// Capture pretends to record and names a file.
func (r *Router) Capture(_ context.Context, port string, count int, filter string) (string, error) {
	return fmt.Sprintf("/run/passgate/capture-%s.pcap", port), nil
}

// Reboot counts.
func (r *Router) Reboot() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Reboots++
	return nil
}

// FactoryReset commits (and saves) the factory configuration with the
// running devices, forgets the leases and the host key, and counts a
// restart.
func (r *Router) FactoryReset() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := config.Default()
	d.Interfaces.LAN.Device = r.cfg.Interfaces.LAN.Device
	d.Interfaces.WAN.Device = r.cfg.Interfaces.WAN.Device
	if r.store != nil {
		if err := r.store.Save(d); err != nil {
			return err
		}
	} else {
		r.mem = append([]*config.Config{r.cfg}, r.mem...)
	}
	r.FactoryResets++
	r.Reboots++
	r.pend = nil
	r.cfg = d
	r.switches()
	r.Leases = nil
	r.HostKey = nil
	return nil
}

// Restart plays a restart: a pending commit confirmed is settled as
// routerd does at start (config.Store.Settle: rolled back unless the
// restart was planned), the committed configuration is read back from
// the store (when there is one), the NAT sessions are gone, and a host
// key is made if there is none. The leases stay.
func (r *Router) Restart() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.store != nil {
		r.Booted = r.store.Settle()
		c, _, err := r.store.Load()
		if err != nil {
			return err
		}
		if r.Booted.Run != nil {
			c = r.Booted.Run
		}
		r.cfg = c
	} else if p := r.pend; p != nil {
		// Settle's rules, in memory.
		r.pend = nil
		r.Booted = config.Boot{}
		switch {
		case config.Sum(r.cfg) == config.Sum(p.Prev):
		case config.Sum(r.cfg) == p.New && p.Restart && p.Left > 0:
			p.Restart = false
			r.pend = p
			r.Booted.Pending = p
		default:
			r.mem = append([]*config.Config{r.cfg}, r.mem...)
			r.cfg = p.Prev.Clone()
			r.Booted.RolledBack = true
		}
	}
	r.running = r.cfg.Clone()
	r.switches()
	r.NAT = nil
	if r.HostKey == nil {
		r.newHostKey()
	}
	return nil
}

// SwitchFS is a config.FS whose writes can be made to fail as on a
// read-only file system (EROFS), as when the SD card's partition is
// mounted read-only.
type SwitchFS struct {
	config.FS
	ro atomic.Bool
}

// NewSwitchFS returns a writable SwitchFS on fsys.
func NewSwitchFS(fsys config.FS) *SwitchFS { return &SwitchFS{FS: fsys} }

// SetReadOnly makes writes fail (true) or work again (false).
func (f *SwitchFS) SetReadOnly(ro bool) { f.ro.Store(ro) }

func (f *SwitchFS) refuse(op, name string) error {
	if f.ro.Load() {
		return &fs.PathError{Op: op, Path: name, Err: syscall.EROFS}
	}
	return nil
}

func (f *SwitchFS) Create(name string) (config.File, error) {
	if err := f.refuse("open", name); err != nil {
		return nil, err
	}
	return f.FS.Create(name)
}

func (f *SwitchFS) Rename(oldname, newname string) error {
	if err := f.refuse("rename", oldname); err != nil {
		return err
	}
	return f.FS.Rename(oldname, newname)
}

func (f *SwitchFS) Remove(name string) error {
	if err := f.refuse("remove", name); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

func (f *SwitchFS) MkdirAll(dir string) error {
	if err := f.refuse("mkdir", dir); err != nil {
		return err
	}
	return f.FS.MkdirAll(dir)
}

// CommitHistory returns the recorded commits (from the store when there
// is one).
func (r *Router) CommitHistory() ([]config.HistoryEntry, error) {
	if r.store != nil {
		return r.store.History()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sums := []string{config.Sum(r.cfg)}
	for _, c := range r.mem {
		sums = append(sums, config.Sum(c))
	}
	out := slices.Clone(r.history)
	config.MatchRevisions(out, sums)
	return out, nil
}

// RecordCommit adds a commit to the history.
func (r *Router) RecordCommit(e config.HistoryEntry, c *config.Config) error {
	if r.store != nil {
		return r.store.RecordCommit(e, c)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.history = config.Record(r.history, e, c)
	return nil
}

// Routes follows the committed configuration: the LAN subnet, and the
// WAN's (static, or DHCPWAN in dhcp mode) with its default route.
func (r *Router) Routes(context.Context) ([]shell.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ifc := r.cfg.Interfaces
	var out []shell.Route
	if ifc.LAN.Address.IsValid() {
		out = append(out, shell.Route{Destination: ifc.LAN.Address.Masked(), Interface: "lan", Source: "connected"})
	}
	wan, gw, src := r.DHCPWAN, r.DHCPGW, "dhcp"
	if ifc.WAN.Mode == config.WANStatic {
		wan, gw, src = ifc.WAN.Address, ifc.WAN.Gateway, "static"
	}
	if wan.IsValid() {
		out = append(out, shell.Route{Destination: wan.Masked(), Interface: "wan", Source: "connected"})
		if gw.IsValid() {
			out = append(out, shell.Route{Destination: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: gw, Interface: "wan", Source: src})
		}
	}
	return out, nil
}

// DNS returns the canned forwarder state; disabled when the configuration
// turns the forwarder off.
func (r *Router) DNS(context.Context) (shell.DNSStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.cfg.DNS.Forwarder {
		return shell.DNSStatus{}, nil
	}
	return r.DNSState, nil
}

// DNSCache returns up to n canned cache entries.
func (r *Router) DNSCache(_ context.Context, n int) ([]shell.DNSCacheEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.DNSEntries[:min(n, len(r.DNSEntries))]), nil
}

// ClearDNSCache empties the canned cache.
func (r *Router) ClearDNSCache(context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.DNSEntries)
	r.DNSEntries, r.DNSState.CacheItems, r.DNSState.CacheBytes = nil, 0, 0
	return n, nil
}

// NATMappings returns the configured forwards and one canned NAT-PMP
// mapping.
func (r *Router) NATMappings(context.Context) ([]shell.NATMapping, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []shell.NATMapping
	for _, f := range r.cfg.NAT.PortForwards {
		ext := f.Port.String()
		in := f.InternalPorts()
		for _, p := range []string{"tcp", "udp"} {
			if (p == "tcp" && f.Protocol.HasTCP()) || (p == "udp" && f.Protocol.HasUDP()) {
				out = append(out, shell.NATMapping{Origin: "configured", Name: f.Name, Protocol: p, External: ext,
					Internal: netip.AddrPortFrom(f.To, in.First)})
			}
		}
	}
	if r.cfg.Service.PortMapping {
		out = append(out, shell.NATMapping{Origin: "nat-pmp", Protocol: "tcp", External: "51413",
			Internal: mustAP("192.168.1.20:51413"), Expires: 3599 * time.Second})
	}
	return out, nil
}

// IPv6Routes returns the canned IPv6 routes.
func (r *Router) IPv6Routes(context.Context) ([]shell.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.Routes6), nil
}

// IPv6Neighbors returns the canned neighbour caches.
func (r *Router) IPv6Neighbors(context.Context) ([]shell.IPv6Neighbor, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.NDP), nil
}

// IPv6Sessions returns the canned IPv6 sessions that match f.
func (r *Router) IPv6Sessions(_ context.Context, f shell.SessionFilter) ([]shell.IPv6Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []shell.IPv6Session
	for _, s := range r.IPv6Sess {
		if (f.Protocol == "" || s.Protocol == f.Protocol) && (!f.Host.IsValid() || s.LAN.Addr() == f.Host || s.Remote.Addr() == f.Host) {
			out = append(out, s)
		}
	}
	return out, nil
}

// FirewallRules returns the committed rules in the order they run, none
// in a time window yet, each with Hits[name] connections.
func (r *Router) FirewallRules(context.Context) ([]shell.FirewallRuleCount, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rules := slices.Clone(r.cfg.Firewall.Rules)
	slices.SortStableFunc(rules, func(a, b config.FirewallRule) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name))
	})
	var out []shell.FirewallRuleCount
	for _, x := range rules {
		out = append(out, shell.FirewallRuleCount{Name: x.Name, Action: string(x.Action), Active: !x.Time.Set, Hits: r.FirewallHits[x.Name]})
	}
	return out, nil
}

// WANTrace returns the canned trace, or TraceErr.
func (r *Router) WANTrace(context.Context) (shell.WANTrace, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Traces++
	if r.TraceErr != nil {
		return shell.WANTrace{}, r.TraceErr
	}
	t := r.Trace
	t.Hops = slices.Clone(t.Hops)
	return t, nil
}

// QoS returns a canned shaped upload when the committed configuration
// shapes it (and download the same way).
func (r *Router) QoS(context.Context) ([]shell.QoSPort, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []shell.QoSPort
	for _, p := range []struct {
		port string
		rate uint64
	}{{"wan", r.cfg.QoS.Upload}, {"lan", r.cfg.QoS.Download}} {
		if p.rate == 0 {
			continue
		}
		out = append(out, shell.QoSPort{Port: p.port, Rate: p.rate, QueuedBytes: 45000, LongestWait: 4200 * time.Microsecond, LateLine: 12 * time.Millisecond,
			Tiers: []shell.QoSTier{{Name: "priority", Packets: 1200, Bytes: 480000, Queued: 0},
				{Name: "normal", Packets: 98000, Bytes: 140000000, Queued: 30, CoDelDrops: 41, ECNMarks: 17, LimitDrops: 0}}})
	}
	return out, nil
}

// LANDevices returns the canned devices, each blocked or not by the
// committed MAC filter.
func (r *Router) LANDevices(context.Context) ([]shell.LANDevice, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.Devs)
	for i := range out {
		out[i].Blocked = r.cfg.Firewall.MACFilter.Blocks(config.MAC([6]byte(out[i].MAC)))
		if !out[i].Blocked {
			out[i].Dropped = 0
		}
	}
	return out, nil
}

// Neighbors returns ARP.
func (r *Router) Neighbors(context.Context) ([]shell.Neighbor, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ARP), nil
}
