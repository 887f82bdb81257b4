package dhcpd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Defaults for Options.
const (
	DefaultOfferHold   = 60 * time.Second
	DefaultDeclineHold = time.Hour
)

// Limits on what a request may carry; anything beyond is treated as hostile.
const (
	// MaxMessageSize is the largest DHCP message accepted from the wire.
	// Real clients stay well under an Ethernet MTU.
	MaxMessageSize = 1500
	maxClientIDLen = 255
	maxHostnameLen = 63
)

// Reasons Handle gives for not replying. Handle wraps them with detail; test
// with errors.Is.
var (
	// ErrMalformed: the message is not a usable client message (wrong op,
	// hardware type or length, missing or unknown message type, bad option
	// lengths, relayed, oversized). Counted in Counters.Dropped.
	ErrMalformed = errors.New("malformed or unsupported message")
	// ErrPoolExhausted: a DISCOVER found no free address. Counted in
	// Counters.PoolExhausted.
	ErrPoolExhausted = errors.New("address pool exhausted")
)

// LeaseState is the state of an address binding.
type LeaseState string

// Lease states.
const (
	StateOffered  LeaseState = "offered"  // offered, held for OfferHold awaiting REQUEST
	StateBound    LeaseState = "bound"    // acknowledged
	StateDeclined LeaseState = "declined" // a client reported a conflict; unusable until Expiry
)

// Lease is a read-only view of one binding, for `show dhcp leases`.
type Lease struct {
	IP       netip.Addr
	MAC      net.HardwareAddr // nil for a declined address
	ClientID []byte           // option 61 if the client sent one
	Hostname string           // option 12, sanitised
	Expiry   time.Time
	Static   bool // IP is this MAC's static lease
	State    LeaseState
}

// Counters are message statistics since the server started.
type Counters struct {
	Discovers, Offers, Requests, Acks, Naks uint64
	Declines, Releases, Informs             uint64
	// Dropped counts messages that got no reply because they were
	// malformed, hostile or unusable (see ErrMalformed).
	Dropped uint64
	// OtherServer counts REQUESTs that selected another server's offer
	// and DECLINE/RELEASE naming another server.
	OtherServer uint64
	// PoolExhausted counts DISCOVERs left unanswered for lack of a free
	// address.
	PoolExhausted uint64
	// PersistErrors counts failed lease-file writes; SendErrors failed
	// replies in Serve.
	PersistErrors, SendErrors uint64
}

// Options are the server's environment: everything that is not user
// configuration.
type Options struct {
	// LeaseFile is where leases are kept across restarts. Empty keeps
	// leases in memory only.
	LeaseFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logf receives rare operational messages (damaged lease file, write
	// failures, rate-limited drop reasons from Serve); nil discards them.
	Logf func(format string, args ...any)
	// OfferHold is how long an offered address stays reserved for the
	// client; 0 means DefaultOfferHold.
	OfferHold time.Duration
	// DeclineHold is how long an address a client DECLINEd stays out of
	// use; 0 means DefaultDeclineHold.
	DeclineHold time.Duration
	// OnLease, if set, is told of every ACK: ip is now mac's. It is
	// called with the server's lock held and must not call back into it
	// (the data plane's LAN source guard takes the binding).
	OnLease func(ip netip.Addr, mac net.HardwareAddr)
}

// binding is the state of one address.
type binding struct {
	ip       netip.Addr
	key      string // client key (see clientKey); "" for declined
	mac      net.HardwareAddr
	clientID []byte
	hostname string
	expiry   time.Time
	state    LeaseState
}

// recent remembers which client last held a pool address after its
// binding ended (expiry or release), so the client gets it back and other
// clients are given never-used addresses first. Memory only.
type recent struct {
	key string
	at  time.Time
}

// Server is the DHCPv4 protocol engine: requests in, replies out, with
// lease state and a persisted lease file. It does no network I/O; see
// Serve for the socket loop. All methods are safe for concurrent use.
type Server struct {
	mu   sync.Mutex
	cfg  Config
	opts Options
	now  func() time.Time
	logf func(string, ...any)
	file *leaseFile // nil: no persistence

	byIP     map[netip.Addr]*binding
	byClient map[string]*binding
	staticMA map[string]netip.Addr // MAC bytes → static IP
	staticIP map[netip.Addr]string // static IP → MAC bytes

	recentByIP     map[netip.Addr]recent
	recentByClient map[string]netip.Addr

	nextExpiry time.Time // no binding expires before this
	counters   Counters
	drops      rateLimiter
}

// New returns a server for cfg. It fails only if cfg is invalid. A missing
// lease file starts empty; a damaged one is reported through Options.Logf,
// moved aside to LeaseFile+".bad" and ignored.
func New(cfg Config, opts Options) (*Server, error) {
	n, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.OfferHold <= 0 {
		opts.OfferHold = DefaultOfferHold
	}
	if opts.DeclineHold <= 0 {
		opts.DeclineHold = DefaultDeclineHold
	}
	s := &Server{
		opts:           opts,
		now:            opts.Now,
		logf:           opts.Logf,
		byIP:           map[netip.Addr]*binding{},
		byClient:       map[string]*binding{},
		recentByIP:     map[netip.Addr]recent{},
		recentByClient: map[string]netip.Addr{},
	}
	s.setConfig(n)
	if opts.LeaseFile != "" {
		s.file = &leaseFile{path: opts.LeaseFile}
		s.load()
	}
	return s, nil
}

func (s *Server) setConfig(c Config) {
	s.cfg = c
	s.staticMA = make(map[string]netip.Addr, len(c.Static))
	s.staticIP = make(map[netip.Addr]string, len(c.Static))
	for _, st := range c.Static {
		s.staticMA[string(st.MAC)] = st.IP
		s.staticIP[st.IP] = string(st.MAC)
	}
}

// Config returns a copy of the configuration in force.
func (s *Server) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg
	c.DNS = slices.Clone(c.DNS)
	c.Static = slices.Clone(c.Static)
	for i := range c.Static {
		c.Static[i].MAC = slices.Clone(c.Static[i].MAC)
	}
	return c
}

// Reconfigure replaces the configuration. Bindings still valid under the
// new configuration are kept (same client, same address, same expiry);
// the others are dropped, so their clients are NAKed at their next renewal
// and move to a valid address. An invalid cfg changes nothing.
func (s *Server) Reconfigure(cfg Config) error {
	n, err := cfg.normalized()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setConfig(n)
	changed := false
	for ip, b := range s.byIP {
		ok := false
		switch b.state {
		case StateDeclined:
			ok = inRange(ip, n.RangeStart, n.RangeEnd) && s.staticIP[ip] == ""
		default:
			ok = s.validFor(ip, b.mac)
		}
		if !ok {
			s.removeLocked(b)
			changed = changed || b.state != StateOffered
		}
	}
	for ip, r := range s.recentByIP {
		if !inRange(ip, n.RangeStart, n.RangeEnd) || s.staticIP[ip] != "" {
			delete(s.recentByIP, ip)
			if s.recentByClient[r.key] == ip {
				delete(s.recentByClient, r.key)
			}
		}
	}
	if changed {
		s.persistLocked()
	}
	return nil
}

// Leases returns the current bindings sorted by address. Expired ones are
// pruned first.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.now())
	out := make([]Lease, 0, len(s.byIP))
	for _, b := range s.byIP {
		out = append(out, s.view(b))
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out
}

// Forget drops every lease (bound, offered and declined addresses) and
// what the server remembers of earlier clients, and deletes the lease
// file and a damaged copy kept beside it: a factory reset. The server
// keeps serving; leases granted afterwards are persisted as usual.
func (s *Server) Forget() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.byIP)
	clear(s.byClient)
	clear(s.recentByIP)
	clear(s.recentByClient)
	s.nextExpiry = time.Time{}
	if s.file == nil {
		return nil
	}
	return RemoveLeaseFile(s.file.path)
}

func (s *Server) view(b *binding) Lease {
	return Lease{
		IP:       b.ip,
		MAC:      slices.Clone(b.mac),
		ClientID: slices.Clone(b.clientID),
		Hostname: b.hostname,
		Expiry:   b.expiry,
		Static:   b.mac != nil && s.staticIP[b.ip] == string(b.mac),
		State:    b.state,
	}
}

// Counters returns a snapshot of the message counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// HandlePacket parses a raw DHCP message and passes it to Handle. Messages
// that do not parse or exceed MaxMessageSize are counted as dropped.
func (s *Server) HandlePacket(b []byte) (*dhcpv4.DHCPv4, error) {
	req, err := s.parse(b)
	if err != nil {
		return nil, err
	}
	return s.Handle(req)
}

func (s *Server) parse(b []byte) (*dhcpv4.DHCPv4, error) {
	var err error
	var req *dhcpv4.DHCPv4
	if len(b) > MaxMessageSize {
		err = fmt.Errorf("dhcpd: %w: %d-byte message exceeds %d", ErrMalformed, len(b), MaxMessageSize)
	} else if req, err = dhcpv4.FromBytes(b); err != nil {
		err = fmt.Errorf("dhcpd: %w: %v", ErrMalformed, err)
	}
	if err != nil {
		s.mu.Lock()
		s.counters.Dropped++
		s.mu.Unlock()
		return nil, err
	}
	return req, nil
}

// request is a validated client message.
type request struct {
	msg       *dhcpv4.DHCPv4
	typ       dhcpv4.MessageType
	key       string
	mac       net.HardwareAddr
	clientID  []byte
	hostname  string
	ciaddr    netip.Addr // zero Addr if 0.0.0.0
	requested netip.Addr // option 50, zero Addr if absent
	serverID  netip.Addr // option 54, zero Addr if absent
}

// Handle runs the RFC 2131 server state machine for one client message and
// returns the reply to send, or nil for none. A nil reply comes with a
// non-nil error when the message was dropped (ErrMalformed) or could not be
// served (ErrPoolExhausted); expected silences (a REQUEST for another
// server, RELEASE, DECLINE) return nil, nil. Handle never panics on any
// input.
//
// Lease changes that matter across a restart (ACK, RELEASE, DECLINE) are
// written to the lease file before Handle returns, so the caller sends an
// ACK only after it is on disk. If the write fails the reply is still
// returned (a broken disk must not take the LAN down); the failure is
// counted in PersistErrors and logged.
func (s *Server) Handle(msg *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)

	r, err := s.validate(msg)
	if err != nil {
		s.counters.Dropped++
		return nil, err
	}
	switch r.typ {
	case dhcpv4.MessageTypeDiscover:
		s.counters.Discovers++
		return s.discover(r, now)
	case dhcpv4.MessageTypeRequest:
		return s.request(r, now)
	case dhcpv4.MessageTypeDecline:
		s.counters.Declines++
		return s.decline(r, now)
	case dhcpv4.MessageTypeRelease:
		s.counters.Releases++
		return s.release(r, now)
	case dhcpv4.MessageTypeInform:
		return s.inform(r)
	}
	s.counters.Dropped++
	return nil, fmt.Errorf("dhcpd: %w: message type %v not handled by a server", ErrMalformed, r.typ)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("dhcpd: %w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ipv4Field reads a header address: nil or 0.0.0.0 gives the zero Addr.
func ipv4Field(name string, ip net.IP) (netip.Addr, error) {
	if len(ip) == 0 {
		return netip.Addr{}, nil
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok || !a.Unmap().Is4() {
		return netip.Addr{}, malformed("%s %v is not IPv4", name, ip)
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return a, nil
}

// ipv4Option reads a 4-byte address option; absent gives the zero Addr.
func ipv4Option(m *dhcpv4.DHCPv4, code dhcpv4.OptionCode, name string) (netip.Addr, error) {
	v := m.Options.Get(code)
	if v == nil {
		return netip.Addr{}, nil
	}
	if len(v) != 4 {
		return netip.Addr{}, malformed("%s option has %d bytes", name, len(v))
	}
	return netip.AddrFrom4([4]byte(v)), nil
}

func (s *Server) validate(m *dhcpv4.DHCPv4) (*request, error) {
	if m == nil {
		return nil, malformed("nil message")
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, malformed("op %v is not BOOTREQUEST", m.OpCode)
	}
	if m.HWType != iana.HWTypeEthernet || len(m.ClientHWAddr) != 6 {
		return nil, malformed("hardware type %d length %d is not Ethernet", uint16(m.HWType), len(m.ClientHWAddr))
	}
	if m.ClientHWAddr[0]&1 == 1 || bytes.Equal(m.ClientHWAddr, make(net.HardwareAddr, 6)) {
		return nil, malformed("chaddr %v is a multicast or zero address", m.ClientHWAddr)
	}
	if m.Options == nil {
		return nil, malformed("no options")
	}
	mt := m.Options.Get(dhcpv4.OptionDHCPMessageType)
	if len(mt) != 1 {
		return nil, malformed("message type option missing or %d bytes", len(mt))
	}
	r := &request{msg: m, typ: dhcpv4.MessageType(mt[0]), mac: slices.Clone(m.ClientHWAddr)}
	giaddr, err := ipv4Field("giaddr", m.GatewayIPAddr)
	if err != nil {
		return nil, err
	}
	if giaddr.IsValid() {
		return nil, malformed("relayed via %v; this server serves only its own link", giaddr)
	}
	if r.ciaddr, err = ipv4Field("ciaddr", m.ClientIPAddr); err != nil {
		return nil, err
	}
	if r.requested, err = ipv4Option(m, dhcpv4.OptionRequestedIPAddress, "requested address"); err != nil {
		return nil, err
	}
	if r.serverID, err = ipv4Option(m, dhcpv4.OptionServerIdentifier, "server identifier"); err != nil {
		return nil, err
	}
	if id := m.Options.Get(dhcpv4.OptionClientIdentifier); id != nil {
		if len(id) < 2 || len(id) > maxClientIDLen {
			return nil, malformed("client identifier of %d bytes", len(id))
		}
		r.clientID = slices.Clone(id)
	}
	r.key = clientKey(r.mac, r.clientID)
	r.hostname = sanitizeHostname(m.Options.Get(dhcpv4.OptionHostName))
	return r, nil
}

// clientKey identifies a client: by its client identifier (option 61) when
// it sends one, as RFC 2131 §4.2 asks, else by its hardware address.
func clientKey(mac net.HardwareAddr, clientID []byte) string {
	if len(clientID) > 0 {
		return "id:" + string(clientID)
	}
	return "hw:" + string(mac)
}

// sanitizeHostname keeps a host name fit for display: letters, digits, '-',
// '_' and '.', at most maxHostnameLen bytes; anything else is dropped.
func sanitizeHostname(b []byte) string {
	if len(b) > maxHostnameLen {
		b = b[:maxHostnameLen]
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			out = append(out, c)
		}
	}
	return string(out)
}

// ---- state ----

// validFor reports whether ip may be bound to the client with this MAC
// under the current configuration, ignoring other bindings: its static
// address if it has one, else any pool address not reserved for another MAC.
func (s *Server) validFor(ip netip.Addr, mac net.HardwareAddr) bool {
	if st, ok := s.staticMA[string(mac)]; ok {
		return ip == st
	}
	return inRange(ip, s.cfg.RangeStart, s.cfg.RangeEnd) && s.staticIP[ip] == ""
}

// available reports whether ip can be given to client r now: valid for it
// and not bound, offered or quarantined for anyone else. A static owner
// may take its address from a dynamic binding left over from before.
func (s *Server) available(ip netip.Addr, r *request) bool {
	if !s.validFor(ip, r.mac) {
		return false
	}
	b := s.byIP[ip]
	if b == nil || b.key == r.key {
		return true
	}
	return s.staticIP[ip] == string(r.mac)
}

// expireLocked removes bindings whose time is up. It is O(1) unless some
// binding is due, thanks to nextExpiry.
func (s *Server) expireLocked(now time.Time) {
	if now.Before(s.nextExpiry) {
		return
	}
	next := time.Time{}
	for _, b := range s.byIP {
		if !now.Before(b.expiry) {
			if b.state == StateBound {
				s.remember(b, b.expiry)
			}
			s.removeLocked(b)
			continue
		}
		if next.IsZero() || b.expiry.Before(next) {
			next = b.expiry
		}
	}
	if next.IsZero() {
		next = now.Add(time.Hour) // nothing bound; any new binding lowers it
	}
	s.nextExpiry = next
}

func (s *Server) removeLocked(b *binding) {
	if s.byIP[b.ip] == b {
		delete(s.byIP, b.ip)
	}
	if b.key != "" && s.byClient[b.key] == b {
		delete(s.byClient, b.key)
	}
}

func (s *Server) addLocked(b *binding) {
	if old := s.byIP[b.ip]; old != nil {
		s.removeLocked(old)
	}
	if b.key != "" {
		if old := s.byClient[b.key]; old != nil {
			s.removeLocked(old)
		}
		s.byClient[b.key] = b
		// The address now belongs to this client: forget earlier owners.
		if r, ok := s.recentByIP[b.ip]; ok {
			delete(s.recentByIP, b.ip)
			if s.recentByClient[r.key] == b.ip {
				delete(s.recentByClient, r.key)
			}
		}
	}
	s.byIP[b.ip] = b
	if b.expiry.Before(s.nextExpiry) {
		s.nextExpiry = b.expiry
	}
}

// remember records that b's client held b.ip until at.
func (s *Server) remember(b *binding, at time.Time) {
	if b.key == "" || !inRange(b.ip, s.cfg.RangeStart, s.cfg.RangeEnd) {
		return
	}
	if old, ok := s.recentByClient[b.key]; ok && old != b.ip {
		if s.recentByIP[old].key == b.key {
			delete(s.recentByIP, old)
		}
	}
	if r, ok := s.recentByIP[b.ip]; ok && r.key != b.key && s.recentByClient[r.key] == b.ip {
		delete(s.recentByClient, r.key)
	}
	s.recentByIP[b.ip] = recent{key: b.key, at: at}
	s.recentByClient[b.key] = b.ip
}

// choose picks the address to offer r: its static address; its current
// binding; the address it held before; the address it asks for; then a
// free pool address, never-used ones first, else the one whose last
// owner left longest ago. It returns false if nothing is free.
func (s *Server) choose(r *request) (netip.Addr, bool) {
	if st, ok := s.staticMA[string(r.mac)]; ok {
		return st, true
	}
	if b := s.byClient[r.key]; b != nil && s.available(b.ip, r) {
		return b.ip, true
	}
	if ip, ok := s.recentByClient[r.key]; ok && s.available(ip, r) {
		return ip, true
	}
	if r.requested.IsValid() && s.available(r.requested, r) {
		return r.requested, true
	}
	var best netip.Addr
	var bestAt time.Time
	end := s.cfg.RangeEnd
	for ip := s.cfg.RangeStart; ip.IsValid() && !end.Less(ip); ip = ip.Next() {
		if s.byIP[ip] != nil || s.staticIP[ip] != "" {
			continue
		}
		rec, used := s.recentByIP[ip]
		if !used {
			return ip, true
		}
		if !best.IsValid() || rec.at.Before(bestAt) {
			best, bestAt = ip, rec.at
		}
	}
	return best, best.IsValid()
}

// ---- messages ----

// hostnameFor is the name the client gives, or the one it gave before if
// this message has none (renewals often omit option 12).
func (s *Server) hostnameFor(r *request) string {
	if r.hostname == "" {
		if b := s.byClient[r.key]; b != nil {
			return b.hostname
		}
	}
	return r.hostname
}

func (s *Server) discover(r *request, now time.Time) (*dhcpv4.DHCPv4, error) {
	ip, ok := s.choose(r)
	if !ok {
		s.counters.PoolExhausted++
		return nil, fmt.Errorf("dhcpd: DISCOVER from %v: %w", r.mac, ErrPoolExhausted)
	}
	b := s.byClient[r.key]
	if b == nil || b.ip != ip || b.state != StateBound {
		// A fresh offer, or a refreshed one; a bound lease stays bound.
		s.addLocked(&binding{
			ip: ip, key: r.key, mac: r.mac, clientID: r.clientID, hostname: s.hostnameFor(r),
			expiry: now.Add(s.opts.OfferHold), state: StateOffered,
		})
	}
	s.counters.Offers++
	return s.reply(r, dhcpv4.MessageTypeOffer, ip, true), nil
}

func (s *Server) request(r *request, now time.Time) (*dhcpv4.DHCPv4, error) {
	var ip netip.Addr
	switch {
	case r.serverID.IsValid():
		// SELECTING: the client chose a server's offer.
		ip = r.requested
		if !ip.IsValid() {
			ip = r.ciaddr // lenient: some clients put it in ciaddr
		}
	case r.ciaddr.IsValid():
		// RENEWING (unicast) or REBINDING (broadcast).
		ip = r.ciaddr
	default:
		// INIT-REBOOT: a client confirming its address after a restart.
		ip = r.requested
	}
	if !ip.IsValid() {
		s.counters.Dropped++
		return nil, malformed("REQUEST names no address")
	}
	s.counters.Requests++
	if r.serverID.IsValid() && r.serverID != s.cfg.ServerIP {
		// The client took another server's offer: ours is free again.
		if b := s.byClient[r.key]; b != nil && b.state == StateOffered {
			s.removeLocked(b)
		}
		s.counters.OtherServer++
		return nil, nil
	}
	// We are the only server on this LAN, so we answer authoritatively:
	// an address this client may have is ACKed even without a record of
	// it (e.g. after a lost lease file); anything else is NAKed, including
	// an address other than the one we have bound to the client.
	if b := s.byClient[r.key]; b != nil && b.state == StateBound && b.ip != ip {
		s.counters.Naks++
		return s.nak(r, fmt.Sprintf("your address is %v, not %v", b.ip, ip)), nil
	}
	if !s.cfg.Subnet.Contains(ip) || !s.available(ip, r) {
		s.counters.Naks++
		return s.nak(r, fmt.Sprintf("address %v is not yours", ip)), nil
	}
	s.addLocked(&binding{
		ip: ip, key: r.key, mac: r.mac, clientID: r.clientID, hostname: s.hostnameFor(r),
		expiry: now.Add(s.cfg.LeaseTime), state: StateBound,
	})
	s.persistLocked()
	s.counters.Acks++
	if s.opts.OnLease != nil {
		s.opts.OnLease(ip, r.mac)
	}
	return s.reply(r, dhcpv4.MessageTypeAck, ip, true), nil
}

func (s *Server) decline(r *request, now time.Time) (*dhcpv4.DHCPv4, error) {
	if r.serverID.IsValid() && r.serverID != s.cfg.ServerIP {
		s.counters.OtherServer++
		return nil, nil
	}
	b := s.byIP[r.requested]
	if !r.requested.IsValid() || b == nil || b.key != r.key {
		// Only the holder may decline an address, or any host could
		// poison the pool.
		s.counters.Dropped++
		return nil, malformed("DECLINE of %v by %v, which does not hold it", r.requested, r.mac)
	}
	s.removeLocked(b)
	if s.staticIP[b.ip] == "" {
		s.addLocked(&binding{ip: b.ip, expiry: now.Add(s.opts.DeclineHold), state: StateDeclined})
	}
	s.persistLocked()
	return nil, nil
}

func (s *Server) release(r *request, now time.Time) (*dhcpv4.DHCPv4, error) {
	if r.serverID.IsValid() && r.serverID != s.cfg.ServerIP {
		s.counters.OtherServer++
		return nil, nil
	}
	b := s.byIP[r.ciaddr]
	if !r.ciaddr.IsValid() || b == nil || b.key != r.key {
		return nil, nil // nothing of theirs to release; RFC: no reply either way
	}
	s.removeLocked(b)
	s.remember(b, now)
	s.persistLocked()
	return nil, nil
}

func (s *Server) inform(r *request) (*dhcpv4.DHCPv4, error) {
	if r.ciaddr.IsValid() && !s.cfg.Subnet.Contains(r.ciaddr) {
		s.counters.Dropped++
		return nil, malformed("INFORM from %v, outside %v", r.ciaddr, s.cfg.Subnet)
	}
	s.counters.Informs++
	s.counters.Acks++
	return s.reply(r, dhcpv4.MessageTypeAck, netip.Addr{}, false), nil
}

// reply builds an OFFER or ACK (RFC 2131 table 3). yiaddr is the zero Addr
// for an INFORM reply, which also carries no lease times.
func (s *Server) reply(r *request, t dhcpv4.MessageType, yiaddr netip.Addr, lease bool) *dhcpv4.DHCPv4 {
	m := s.header(r, t)
	if t == dhcpv4.MessageTypeAck {
		m.ClientIPAddr = toNetIP(r.ciaddr)
	}
	m.YourIPAddr = toNetIP(yiaddr)
	c := &s.cfg
	m.UpdateOption(dhcpv4.OptSubnetMask(mask(c.Subnet)))
	m.UpdateOption(dhcpv4.OptBroadcastAddress(toNetIP(broadcastOf(c.Subnet))))
	if c.Router.IsValid() {
		m.UpdateOption(dhcpv4.OptRouter(toNetIP(c.Router)))
	}
	if len(c.DNS) > 0 {
		dns := make([]net.IP, len(c.DNS))
		for i, d := range c.DNS {
			dns[i] = toNetIP(d)
		}
		m.UpdateOption(dhcpv4.OptDNS(dns...))
	}
	if c.Domain != "" {
		m.UpdateOption(dhcpv4.OptDomainName(c.Domain))
	}
	if lease {
		m.UpdateOption(dhcpv4.OptIPAddressLeaseTime(c.LeaseTime))
		m.UpdateOption(dhcpv4.OptRenewTimeValue(c.LeaseTime / 2))
		m.UpdateOption(dhcpv4.OptRebindingTimeValue(c.LeaseTime * 7 / 8))
	}
	return m
}

func (s *Server) nak(r *request, msg string) *dhcpv4.DHCPv4 {
	m := s.header(r, dhcpv4.MessageTypeNak)
	m.UpdateOption(dhcpv4.OptMessage(msg))
	return m
}

// header is the part every reply shares.
func (s *Server) header(r *request, t dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	q := r.msg
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        q.HWType,
		TransactionID: q.TransactionID,
		Flags:         q.Flags,
		ClientIPAddr:  net.IPv4zero.To4(),
		YourIPAddr:    net.IPv4zero.To4(),
		ServerIPAddr:  net.IPv4zero.To4(),
		GatewayIPAddr: net.IPv4zero.To4(),
		ClientHWAddr:  slices.Clone(r.mac),
		Options:       dhcpv4.Options{},
	}
	m.UpdateOption(dhcpv4.OptMessageType(t))
	m.UpdateOption(dhcpv4.OptServerIdentifier(toNetIP(s.cfg.ServerIP)))
	if r.clientID != nil { // RFC 6842
		m.UpdateOption(dhcpv4.OptClientIdentifier(r.clientID))
	}
	return m
}

func toNetIP(a netip.Addr) net.IP {
	if !a.IsValid() {
		return net.IPv4zero.To4()
	}
	b := a.As4()
	return net.IP(b[:])
}
