// Package ndp6 is IPv6 Neighbor Discovery as routerd does it on one port,
// the counterpart of the data plane's ARP table: it answers Neighbor
// Solicitations for the router's own addresses, checks those addresses with
// Duplicate Address Detection (RFC 4862 §5.4), and resolves neighbours (LAN
// hosts, the WAN gateway) through a bounded neighbour cache with the RFC
// 4861 §7.3.2 states, retransmission timers, a bounded queue of packets
// waiting for resolution and upper-layer reachability hints.
//
// The cache is built to survive the RFC 6583 attack: a scan of the LAN /64
// from the WAN makes the router resolve thousands of addresses that do not
// exist. INCOMPLETE entries have their own cap (Config.MaxIncomplete), part
// of it reserved for the router's own traffic; each source /64 may start
// only Config.SourceRate resolutions a second; a new resolution never
// evicts an existing entry; and a completed one evicts only the least
// recently used STALE entry. Memory is fixed at New: Config documents every
// cap.
//
// The Node is pure, in the style of pkg/nat: frames in, frames out, a
// virtual clock passed in (time.Duration since any origin), no goroutines,
// no I/O, no logging. It is not safe for concurrent use; its owner (the
// data plane) serialises every call. Frames handed in are read, never kept
// (a queued packet is copied); frames handed out are new slices the caller
// owns.
//
// Message encoding uses github.com/mdlayher/ndp. Receiving uses Parse, a
// zero-allocation validator and decoder of the few fields the cache acts
// on (with the checksum, which ndp leaves to the kernel): ndp.ParseMessage
// allocates for the message and each option (4 allocations, 104 bytes for a
// solicitation with one option, and about 4x Parse's time: see
// BenchmarkParse), and this path is open to any host on the link at line
// rate.
package ndp6

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/ndp"
)

// Protocol constants of RFC 4861 §10 and RFC 4862 §5.1.
const (
	MaxMulticastSolicit     = 3
	MaxUnicastSolicit       = 3
	BaseReachableTime       = 30 * time.Second
	RetransTimer            = time.Second
	DelayFirstProbeTime     = 5 * time.Second
	MaxRtrSolicitationDelay = time.Second // also the largest random delay before the first DAD probe
)

// Config configures a Node. Zero fields take the documented defaults.
type Config struct {
	// MAC is the port's Ethernet address, the link-layer address the node
	// advertises. Required.
	MAC [6]byte
	// Router sets the Router flag in advertisements: true on the LAN port,
	// false on the WAN port, where routerd is a host of the ISP's link.
	Router bool

	// MaxNeighbours caps the resolved entries (REACHABLE, STALE, DELAY,
	// PROBE). Default 1024; at most 65536.
	MaxNeighbours int
	// MaxIncomplete caps INCOMPLETE entries, separately (RFC 6583 §7.1).
	// Default 64; at most 4096.
	MaxIncomplete int
	// ReservedIncomplete of the MaxIncomplete slots are kept for
	// resolutions the router itself starts (a packet whose source is one
	// of the node's addresses, or Resolve with no packet). Default
	// MaxIncomplete/4.
	ReservedIncomplete int
	// SourceRate is how many new resolutions per second one source /64
	// may start, with bursts of SourceBurst. Defaults 10 and 20.
	SourceRate  float64
	SourceBurst int
	// MaxQueuedPerNeighbour packets wait for one resolution (RFC 4861
	// §7.2.2 asks for at least one); default 3. MaxQueued caps them all;
	// default 64, of which a quarter is kept for the router's own
	// resolutions.
	MaxQueuedPerNeighbour int
	MaxQueued             int

	// ReachableTime is BaseReachableTime (RFC 4861 §6.3.2), randomised
	// ×[0.5, 1.5] at New. Default 30 s.
	ReachableTime time.Duration
	// RetransTimer between solicitations. Default 1 s.
	RetransTimer time.Duration
	// StaleTimeout removes STALE entries unused for that long. Default
	// 20 minutes.
	StaleTimeout time.Duration
	// DADTransmits is DupAddrDetectTransmits (RFC 4862 §5.1): solicitations
	// sent before an address is assigned. 0 means 1; negative disables DAD.
	DADTransmits int
	// Groups are multicast groups reported by MLD besides the solicited-
	// node groups of the node's addresses (on the LAN: ff02::2 and
	// ff02::1:2, which hosts send router solicitations and DHCPv6 to).
	// At most 8, each a multicast address other than ff02::1.
	Groups []netip.Addr
	// Seed seeds the random reachable time, DAD delays and nonces.
	Seed uint64
}

// Limits on Config values, and on the node's own addresses.
const (
	maxNeighboursLimit = 1 << 16
	maxIncompleteLimit = 4096
	MaxAddresses       = 16
	numSources         = 64
)

func (c *Config) setDefaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxNeighbours, 1024)
	def(&c.MaxIncomplete, 64)
	def(&c.ReservedIncomplete, c.MaxIncomplete/4)
	def(&c.SourceBurst, 20)
	def(&c.MaxQueuedPerNeighbour, 3)
	def(&c.MaxQueued, 64)
	def(&c.DADTransmits, 1)
	if c.SourceRate == 0 {
		c.SourceRate = 10
	}
	if c.ReachableTime == 0 {
		c.ReachableTime = BaseReachableTime
	}
	if c.RetransTimer == 0 {
		c.RetransTimer = RetransTimer
	}
	if c.StaleTimeout == 0 {
		c.StaleTimeout = 20 * time.Minute
	}
	if len(c.Groups) > maxExtraGroups {
		return fmt.Errorf("ndp6: %d MLD groups, at most %d", len(c.Groups), maxExtraGroups)
	}
	for _, g := range c.Groups {
		if !g.Is6() || !g.IsMulticast() || g == allNodes || g.Zone() != "" {
			return fmt.Errorf("ndp6: MLD group %v is not an IPv6 multicast address other than ff02::1", g)
		}
	}
	switch {
	case c.MAC == [6]byte{} || c.MAC[0]&1 != 0:
		return fmt.Errorf("ndp6: MAC %x is not a unicast Ethernet address", c.MAC)
	case c.MaxNeighbours < 1 || c.MaxNeighbours > maxNeighboursLimit:
		return fmt.Errorf("ndp6: MaxNeighbours %d out of range 1-%d", c.MaxNeighbours, maxNeighboursLimit)
	case c.MaxIncomplete < 1 || c.MaxIncomplete > maxIncompleteLimit:
		return fmt.Errorf("ndp6: MaxIncomplete %d out of range 1-%d", c.MaxIncomplete, maxIncompleteLimit)
	case c.ReservedIncomplete < 0 || c.ReservedIncomplete >= c.MaxIncomplete:
		return fmt.Errorf("ndp6: ReservedIncomplete %d must be below MaxIncomplete %d", c.ReservedIncomplete, c.MaxIncomplete)
	case c.SourceRate < 0 || c.SourceBurst < 1:
		return fmt.Errorf("ndp6: SourceRate %v and SourceBurst %d must be positive", c.SourceRate, c.SourceBurst)
	case c.MaxQueuedPerNeighbour < 1 || c.MaxQueued < c.MaxQueuedPerNeighbour || c.MaxQueued > 4096:
		return fmt.Errorf("ndp6: queue caps per neighbour %d, total %d: need 1 ≤ per neighbour ≤ total ≤ 4096", c.MaxQueuedPerNeighbour, c.MaxQueued)
	case c.ReachableTime < time.Second || c.ReachableTime > time.Hour:
		return fmt.Errorf("ndp6: ReachableTime %v out of range 1s-1h", c.ReachableTime)
	case c.RetransTimer < 100*time.Millisecond || c.RetransTimer > time.Minute:
		return fmt.Errorf("ndp6: RetransTimer %v out of range 100ms-1m", c.RetransTimer)
	case c.StaleTimeout < time.Minute:
		return fmt.Errorf("ndp6: StaleTimeout %v below 1 minute", c.StaleTimeout)
	case c.DADTransmits > 10:
		return fmt.Errorf("ndp6: DADTransmits %d above 10", c.DADTransmits)
	}
	return nil
}

// AddrState is the state of one of the node's own addresses (RFC 4862 §5.4).
type AddrState uint8

const (
	// Tentative: DAD is running; the node neither answers for the address
	// nor uses it as a source.
	Tentative AddrState = iota + 1
	// Assigned: DAD passed (or is off); the node answers for it.
	Assigned
	// Duplicate: another node on the link holds the address. The node
	// never answers for it nor uses it; the owner reports it (Address.
	// ConflictMAC names the other node) and may choose another address.
	Duplicate
)

var addrStateNames = [...]string{"", "tentative", "assigned", "duplicate"}

func (s AddrState) String() string {
	if int(s) < len(addrStateNames) && s != 0 {
		return addrStateNames[s]
	}
	return fmt.Sprintf("addrstate(%d)", s)
}

// Address is one of the node's own addresses, as listed by Addresses.
type Address struct {
	Addr  netip.Addr
	State AddrState
	// ConflictMAC is the last other node seen claiming the address (a DAD
	// conflict, or an advertisement for it after it was assigned), and
	// Conflicts how many times that happened.
	ConflictMAC [6]byte
	Conflicts   int
}

type ownAddr struct {
	Address
	timer time.Duration // next DAD probe, or the end of DAD
	sent  int
	nonce [6]byte
}

// Counters are cumulative.
type Counters struct {
	Received        uint64 // frames handed to Handle
	Invalid         uint64 // failed Parse (RFC 4861 §7.1 and friends)
	Ignored         uint64 // valid but not for the node (other target, other destination, redirect)
	AdvertsSent     uint64 // neighbour advertisements sent
	SolicitsSent    uint64 // neighbour solicitations sent (resolution and NUD)
	DADProbesSent   uint64
	DADConflicts    uint64 // own tentative address found in use elsewhere
	AddrConflicts   uint64 // advertisement for an assigned own address from another node
	Resolved        uint64 // INCOMPLETE entries that got an answer
	Unresolved      uint64 // INCOMPLETE entries that got none
	ProbeFailed     uint64 // entries removed after unanswered unicast probes
	IncompleteFull  uint64 // resolutions refused: INCOMPLETE cap reached
	SourceLimited   uint64 // resolutions refused: the source's rate exhausted
	CacheFull       uint64 // answers or unsolicited entries refused: nothing evictable
	Evicted         uint64 // STALE entries evicted for a completed resolution
	QueueDropped    uint64 // packets not queued (caps) or dropped with their entry
	StaleCollected  uint64 // STALE entries removed after StaleTimeout
	LinkAddrChanged uint64 // entries whose link-layer address changed
	MLDQueries      uint64 // MLD queries handed to HandleMLD
	MLDInvalid      uint64 // of those, malformed or not from a link-local source
	MLDReportsSent  uint64 // MLD reports (and MLDv1 Dones) sent
}

// Node is Neighbor Discovery on one port. See the package documentation.
type Node struct {
	cfg       Config
	rng       *rand.Rand
	reachable time.Duration

	addrs []ownAddr

	ents        []entry
	index       map[netip.Addr]int32
	free        []int32
	nResolved   int
	nIncomplete int
	nQueued     int
	sources     [numSources]source

	mld mldState

	cnt Counters
}

// New returns a node with no addresses. Memory for every cap in cfg is
// allocated here.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x6e647036))}
	n.reachable = time.Duration(float64(cfg.ReachableTime) * (0.5 + n.rng.Float64()))
	size := cfg.MaxNeighbours + cfg.MaxIncomplete
	n.ents = make([]entry, size)
	n.index = make(map[netip.Addr]int32, size)
	n.free = make([]int32, size)
	for i := range n.free {
		n.free[i] = int32(size - 1 - i)
	}
	n.addrs = make([]ownAddr, 0, MaxAddresses)
	return n, nil
}

// Config returns the configuration in force, defaults filled in.
func (n *Node) Config() Config { return n.cfg }

// ReachableTime is the randomised reachable time in use.
func (n *Node) ReachableTime() time.Duration { return n.reachable }

// Counters returns the cumulative counters.
func (n *Node) Counters() Counters { return n.cnt }

// AddAddress gives the node address a (link-local, global from the
// delegated prefix, ULA). With DAD on it starts Tentative: Tick sends the
// first probe after a random delay of up to MaxRtrSolicitationDelay (RFC
// 4862 §5.4.2) and assigns it RetransTimer after the last probe unless a
// conflict was seen. Adding an address already present changes nothing.
func (n *Node) AddAddress(a netip.Addr, now time.Duration) error {
	if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() || a.Zone() != "" {
		return fmt.Errorf("ndp6: %v is not an IPv6 unicast address the router can own", a)
	}
	if n.own(a) != nil {
		return nil
	}
	if len(n.addrs) == MaxAddresses {
		return fmt.Errorf("ndp6: cannot add %v: the port already has the maximum of %d addresses", a, MaxAddresses)
	}
	o := ownAddr{Address: Address{Addr: a, State: Assigned}}
	if n.cfg.DADTransmits > 0 {
		o.State = Tentative
		o.timer = now + time.Duration(n.rng.Int64N(int64(MaxRtrSolicitationDelay)))
	}
	n.addrs = append(n.addrs, o)
	// Join the solicited-node group with the first DAD probe (or at once):
	// a join already pending for the group (another address's) is
	// brought forward to it.
	at := max(o.timer, now)
	n.mldSync(now, at)
	if m := &n.mld; m.changeLeft > 0 && slices.Contains(m.joins, SolicitedNode(a)) {
		m.changeDue = min(m.changeDue, at)
	}
	return nil
}

// RemoveAddress forgets a; it reports whether a was there.
func (n *Node) RemoveAddress(a netip.Addr) bool {
	for i := range n.addrs {
		if n.addrs[i].Addr == a {
			n.addrs = append(n.addrs[:i], n.addrs[i+1:]...)
			n.mldSync(0, 0) // leave its group at the next Tick
			return true
		}
	}
	return false
}

// Addresses appends the node's addresses to dst.
func (n *Node) Addresses(dst []Address) []Address {
	for i := range n.addrs {
		dst = append(dst, n.addrs[i].Address)
	}
	return dst
}

func (n *Node) own(a netip.Addr) *ownAddr {
	for i := range n.addrs {
		if n.addrs[i].Addr == a {
			return &n.addrs[i]
		}
	}
	return nil
}

// assigned reports whether a is one of the node's assigned addresses.
func (n *Node) assigned(a netip.Addr) bool {
	o := n.own(a)
	return o != nil && o.State == Assigned
}

// forUs reports whether an ND message sent to dst concerns this node.
func (n *Node) forUs(m *Message) bool {
	if m.EthDst != n.cfg.MAC && m.EthDst[0]&1 == 0 {
		return false
	}
	if m.EthSrc == n.cfg.MAC {
		return false // our own frame, looped back
	}
	d := m.Dst
	if d == AllNodes || (d == AllRouters && n.cfg.Router) {
		return true
	}
	for i := range n.addrs {
		a := n.addrs[i].Addr
		if d == a || d == SolicitedNode(a) {
			return true
		}
	}
	return false
}

// Handle processes one received frame and appends the frames to send to
// out: a neighbour advertisement answering a solicitation for one of the
// node's addresses, and packets that were waiting for a neighbour this
// frame resolved (their destination MAC filled in). Anything that is not
// valid Neighbor Discovery for this node is counted and changes nothing.
// Router solicitations and advertisements only update the cache from their
// source link-layer address; answering solicitations is pkg/ra's job.
func (n *Node) Handle(out [][]byte, frame []byte, now time.Duration) [][]byte {
	n.cnt.Received++
	m, err := Parse(frame)
	if err != nil {
		n.cnt.Invalid++
		return out
	}
	if !n.forUs(&m) {
		n.cnt.Ignored++
		return out
	}
	switch m.Type {
	case TypeNeighborSolicitation:
		return n.handleNS(out, &m, now)
	case TypeNeighborAdvertisement:
		return n.handleNA(out, &m, now)
	case TypeRouterSolicitation, TypeRouterAdvertisement:
		// RFC 4861 §6.2.6 and §6.3.4: the source link-layer address
		// creates or updates a STALE entry.
		if m.HasLLA && !m.Src.IsUnspecified() {
			return n.learn(out, m.Src, m.LLA, m.Type == TypeRouterAdvertisement, now)
		}
		return out
	}
	n.cnt.Ignored++ // redirects: a router does not take them (RFC 4861 §8)
	return out
}

func (n *Node) handleNS(out [][]byte, m *Message, now time.Duration) [][]byte {
	o := n.own(m.Target)
	if o == nil {
		n.cnt.Ignored++ // no proxying
		return out
	}
	switch o.State {
	case Tentative:
		// RFC 4862 §5.4.3: a solicitation from another node doing DAD for
		// the same address means it is a duplicate; one from a node
		// resolving it is ignored. A solicitation carrying our own nonce
		// is our probe looped back (RFC 7527).
		if m.Src.IsUnspecified() && !(len(m.Nonce) == 6 && [6]byte(m.Nonce) == o.nonce) {
			n.conflict(o, m.EthSrc, true)
		}
		return out
	case Duplicate:
		return out
	}
	if m.Src.IsUnspecified() {
		// Another node probes an address we hold: tell everyone (RFC 4861
		// §7.2.4), which makes its DAD fail.
		return n.advertise(out, o.Addr, AllNodes, MulticastMAC(AllNodes), false)
	}
	dstMAC := m.EthSrc
	if m.HasLLA {
		dstMAC = m.LLA
		out = n.learn(out, m.Src, m.LLA, false, now)
	}
	return n.advertise(out, o.Addr, m.Src, dstMAC, true)
}

// advertise appends a neighbour advertisement for target (RFC 4861 §7.2.4):
// Override set (the address is ours alone), Solicited as given, Router per
// the port, the target link-layer address option always included.
func (n *Node) advertise(out [][]byte, target, dst netip.Addr, dstMAC [6]byte, solicited bool) [][]byte {
	na := &ndp.NeighborAdvertisement{
		Router: n.cfg.Router, Solicited: solicited, Override: true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: n.cfg.MAC[:]}},
	}
	f, err := Marshal(dstMAC, n.cfg.MAC, target, dst, na)
	if err != nil {
		return out // unreachable: target is a checked IPv6 address
	}
	n.cnt.AdvertsSent++
	return append(out, f)
}

func (n *Node) handleNA(out [][]byte, m *Message, now time.Duration) [][]byte {
	if o := n.own(m.Target); o != nil {
		// RFC 4862 §5.4.4: an advertisement for a tentative address means
		// it is a duplicate. For an assigned one, keep defending it (our
		// next answer overrides) and count the conflict.
		n.conflict(o, m.EthSrc, o.State == Tentative)
		return out
	}
	i, ok := n.index[m.Target]
	if !ok {
		n.cnt.Ignored++ // RFC 4861 §7.2.5: no entry, no new one
		return out
	}
	e := &n.ents[i]
	router := m.Flags&FlagRouter != 0
	solicited := m.Flags&FlagSolicited != 0
	override := m.Flags&FlagOverride != 0
	if e.state == Incomplete {
		if !m.HasLLA {
			return out
		}
		return n.complete(out, i, m.LLA, solicited, router, now)
	}
	n.age(e, now)
	different := m.HasLLA && m.LLA != e.mac
	if !override && different {
		if e.state == Reachable {
			e.state = Stale
		}
		return out
	}
	if different {
		e.mac = m.LLA
		n.cnt.LinkAddrChanged++
	}
	switch {
	case solicited:
		e.state, e.confirmed, e.probes = Reachable, now, 0
	case different:
		e.state = Stale
	}
	e.router = router
	return out
}

// conflict records another node (mac) claiming o. tentative: DAD failed.
func (n *Node) conflict(o *ownAddr, mac [6]byte, tentative bool) {
	o.ConflictMAC = mac
	o.Conflicts++
	if tentative {
		o.State = Duplicate
		n.cnt.DADConflicts++
		return
	}
	if o.State == Assigned {
		n.cnt.AddrConflicts++
	}
}

// sourceFor picks the source address of a solicitation for target (RFC 4861
// §7.2.2): the prompting packet's source if it is ours, else an assigned
// address of the target's /64, else an assigned link-local one.
func (n *Node) sourceFor(target, hint netip.Addr) (netip.Addr, bool) {
	if hint.IsValid() && n.assigned(hint) {
		return hint, true
	}
	var ll netip.Addr
	t := target.As16()
	for i := range n.addrs {
		o := &n.addrs[i]
		if o.State != Assigned {
			continue
		}
		a := o.Addr.As16()
		if [8]byte(a[:8]) == [8]byte(t[:8]) {
			return o.Addr, true
		}
		if o.Addr.IsLinkLocalUnicast() && !ll.IsValid() {
			ll = o.Addr
		}
	}
	return ll, ll.IsValid()
}

// solicit appends a neighbour solicitation for target: multicast to its
// solicited-node group, or unicast to mac when unicast (NUD probes).
func (n *Node) solicit(out [][]byte, target, hint netip.Addr, unicast bool, mac [6]byte) ([][]byte, bool) {
	src, ok := n.sourceFor(target, hint)
	if !ok {
		return out, false
	}
	dst := target
	if !unicast {
		dst = SolicitedNode(target)
		mac = MulticastMAC(dst)
	}
	ns := &ndp.NeighborSolicitation{
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: n.cfg.MAC[:]}},
	}
	f, err := Marshal(mac, n.cfg.MAC, src, dst, ns)
	if err != nil {
		return out, false
	}
	n.cnt.SolicitsSent++
	return append(out, f), true
}

// dadProbe appends a DAD solicitation for o: from the unspecified address,
// to the solicited-node group, no link-layer address, a fresh RFC 7527
// nonce so that our own probe coming back is not taken for a conflict.
func (n *Node) dadProbe(out [][]byte, o *ownAddr) [][]byte {
	for i := range o.nonce {
		o.nonce[i] = byte(n.rng.Uint32())
	}
	dst := SolicitedNode(o.Addr)
	ns := &ndp.NeighborSolicitation{
		TargetAddress: o.Addr,
		Options:       []ndp.Option{&ndp.RawOption{Type: optNonce, Length: 1, Value: append([]byte(nil), o.nonce[:]...)}},
	}
	f, err := Marshal(MulticastMAC(dst), n.cfg.MAC, netip.IPv6Unspecified(), dst, ns)
	if err != nil {
		return out
	}
	n.cnt.DADProbesSent++
	return append(out, f)
}

// tickAddrs runs DAD.
func (n *Node) tickAddrs(out [][]byte, now time.Duration) [][]byte {
	for i := range n.addrs {
		o := &n.addrs[i]
		if o.State != Tentative || now < o.timer {
			continue
		}
		if o.sent < n.cfg.DADTransmits {
			out = n.dadProbe(out, o)
			o.sent++
			o.timer = now + n.cfg.RetransTimer
			continue
		}
		o.State = Assigned
	}
	return out
}
