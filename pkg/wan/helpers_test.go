package wan

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/passgate/passgate/pkg/dhcpd"
)

// ---------------------------------------------------------------- clock

// fakeClock is a Clock that moves only when the test advances it. Timer
// callbacks run on the advancing goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	when time.Time
	seq  int
	f    func()
	done bool
}

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	if d <= 0 {
		t.done = true
		c.mu.Unlock()
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return t
}

func (t *fakeTimer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	c.timers = slices.DeleteFunc(c.timers, func(x *fakeTimer) bool { return x == t })
	return true
}

// next returns the earliest pending timer's time.
func (c *fakeClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	w := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(w) {
			w = t.when
		}
	}
	return w, true
}

// fireUntil sets the time to at (never backwards) and runs the callbacks
// of the timers due by then, in order.
func (c *fakeClock) fireUntil(at time.Time) {
	c.mu.Lock()
	if at.After(c.now) {
		c.now = at
	}
	var due []*fakeTimer
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if !t.when.After(c.now) {
			t.done = true
			due = append(due, t)
			return true
		}
		return false
	})
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if !due[i].when.Equal(due[j].when) {
			return due[i].when.Before(due[j].when)
		}
		return due[i].seq < due[j].seq
	})
	for _, t := range due {
		t.f()
	}
}

// ---------------------------------------------------------------- network

var (
	clientMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
	ispSubnet = netip.MustParsePrefix("203.0.113.0/24")
	serverA   = netip.MustParseAddr("203.0.113.1")
	serverB   = netip.MustParseAddr("203.0.113.2")
	ispDNS    = []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("198.51.100.54")}
	bcastIP   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// sent is one client frame seen on the segment, decoded by gopacket.
type sent struct {
	at     time.Time
	dstMAC net.HardwareAddr
	src    netip.Addr
	dst    netip.Addr
	msg    *dhcpv4.DHCPv4
}

func (s sent) String() string {
	return fmt.Sprintf("%v %v %v→%v xid %v", s.at.Sub(epoch), s.msg.MessageType(), s.src, s.dst, s.msg.TransactionID)
}

// server answers client messages that reach it. Replies are whole frames.
type server interface {
	addr() netip.Addr
	mac() net.HardwareAddr
	handle(t *testing.T, req *dhcpv4.DHCPv4) [][]byte
}

// segment is the ISP's Ethernet segment: the client's FrameConn on one
// side, servers on the other. Every client frame is decoded with gopacket
// (checksums verified) before servers see it; servers build their replies
// with gopacket; the client's FrameConn parses them. Delivery is
// synchronous: when the client's Send returns, all replies are queued.
type segment struct {
	t     *testing.T
	clock *fakeClock
	fc    *FrameConn

	mu      sync.Mutex
	servers []server
	down    bool // link down: Send and Recv fail
	log     []sent
}

func newSegment(t *testing.T, clock *fakeClock) *segment {
	s := &segment{t: t, clock: clock}
	s.fc = NewFrameConn(clientMAC, s.fromClient, s.resolve)
	return s
}

func (s *segment) attach(srv server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servers = append(s.servers, srv)
}

func (s *segment) detach(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servers = slices.DeleteFunc(s.servers, func(x server) bool { return x.addr() == ip })
}

func (s *segment) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *segment) resolve(ip netip.Addr) (net.HardwareAddr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.servers {
		if srv.addr() == ip {
			return srv.mac(), nil
		}
	}
	// The data plane would ARP, and send anyway to the gateway's MAC;
	// here an unreachable server gets an unanswered frame.
	return net.HardwareAddr{0x02, 0xde, 0xad, 0, 0, 1}, nil
}

// sends returns the client frames seen so far.
func (s *segment) sends() []sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func (s *segment) clearLog() {
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

func (s *segment) fromClient(frame []byte) error {
	s.t.Helper()
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return errors.New("link down")
	}
	s.mu.Unlock()

	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if eth == nil || ip == nil || udp == nil || p.ErrorLayer() != nil {
		s.t.Errorf("client frame does not decode: %v", p)
		return nil
	}
	if _, r := ip.VerifyChecksum(); !r.Valid {
		s.t.Errorf("client frame: bad IPv4 checksum %#x, want %#x", r.Actual, r.Correct)
	}
	udp.SetNetworkLayerForChecksum(ip)
	if _, r := udp.VerifyChecksum(); !r.Valid || udp.Checksum == 0 {
		s.t.Errorf("client frame: bad UDP checksum %#x, want %#x", r.Actual, r.Correct)
	}
	if udp.SrcPort != 68 || udp.DstPort != 67 || !slices.Equal(eth.SrcMAC, clientMAC) {
		s.t.Errorf("client frame: ports %d→%d from %v", udp.SrcPort, udp.DstPort, eth.SrcMAC)
	}
	msg, err := dhcpv4.FromBytes(udp.Payload)
	if err != nil {
		s.t.Errorf("client message does not parse: %v", err)
		return nil
	}
	src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
	dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
	if dst == bcastIP != slices.Equal(eth.DstMAC, broadcastMAC) {
		s.t.Errorf("client frame: IPv4 destination %v in Ethernet frame to %v", dst, eth.DstMAC)
	}

	s.mu.Lock()
	s.log = append(s.log, sent{at: s.clock.Now(), dstMAC: slices.Clone(eth.DstMAC), src: src, dst: dst, msg: msg})
	var targets []server
	for _, srv := range s.servers {
		if dst == bcastIP || dst == srv.addr() {
			targets = append(targets, srv)
		}
	}
	s.mu.Unlock()

	for _, srv := range targets {
		for _, f := range srv.handle(s.t, msg) {
			if !s.fc.Deliver(f) {
				s.t.Errorf("server %v: reply frame not taken by FrameConn", srv.addr())
			}
		}
	}
	return nil
}

// replyFrame builds a server→client frame with gopacket.
func replyFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, dstPort int, payload []byte) []byte {
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: 67, DstPort: layers.UDPPort(dstPort)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload))
	if err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// ---------------------------------------------------------------- servers

// dhcpdServer is our own LAN server package playing the ISP: Handle is a
// pure function of the request; replies go where ReplyDestination says.
type dhcpdServer struct {
	ip  netip.Addr
	hw  net.HardwareAddr
	srv *dhcpd.Server
}

func ispConfig(ip netip.Addr, lease time.Duration) dhcpd.Config {
	return dhcpd.Config{
		ServerIP:   ip,
		Subnet:     ispSubnet,
		RangeStart: netip.MustParseAddr("203.0.113.100"),
		RangeEnd:   netip.MustParseAddr("203.0.113.199"),
		LeaseTime:  lease,
		Router:     serverA,
		DNS:        ispDNS,
	}
}

func newDHCPD(t *testing.T, clock *fakeClock, ip netip.Addr, lease time.Duration) *dhcpdServer {
	t.Helper()
	srv, err := dhcpd.New(ispConfig(ip, lease), dhcpd.Options{Now: clock.Now, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return &dhcpdServer{ip: ip, hw: net.HardwareAddr{0x02, 0x15, 0x90, 0, 0, ip.As4()[3]}, srv: srv}
}

func (d *dhcpdServer) addr() netip.Addr      { return d.ip }
func (d *dhcpdServer) mac() net.HardwareAddr { return d.hw }

func (d *dhcpdServer) handle(t *testing.T, req *dhcpv4.DHCPv4) [][]byte {
	reply, err := d.srv.Handle(req)
	if reply == nil {
		if err != nil {
			t.Logf("dhcpd %v: no reply: %v", d.ip, err)
		}
		return nil
	}
	dest := dhcpd.ReplyDestination(req, reply)
	dstMAC, dstIP := broadcastMAC, bcastIP
	switch dest.Kind {
	case dhcpd.DestUnicast:
		dstMAC, dstIP = req.ClientHWAddr, dest.IP
	case dhcpd.DestUnicastHW:
		dstMAC, dstIP = dest.HW, dest.IP
	case dhcpd.DestRelay:
		t.Errorf("dhcpd %v: relay destination for a direct client", d.ip)
		return nil
	}
	return [][]byte{replyFrame(d.hw, dstMAC, d.ip, dstIP, dest.Port, reply.ToBytes())}
}

// scripted answers with whatever its function returns, as broadcast
// frames from ip.
type scripted struct {
	ip netip.Addr
	f  func(req *dhcpv4.DHCPv4) [][]byte // DHCP payloads
}

func (s *scripted) addr() netip.Addr { return s.ip }
func (s *scripted) mac() net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x66, 0, 0, 0, s.ip.As4()[3]}
}

func (s *scripted) handle(_ *testing.T, req *dhcpv4.DHCPv4) [][]byte {
	var out [][]byte
	for _, p := range s.f(req) {
		out = append(out, replyFrame(s.mac(), broadcastMAC, s.ip, bcastIP, 68, p))
	}
	return out
}

// ---------------------------------------------------------------- harness

// harnessTransport is the client's Transport: the segment's FrameConn,
// failing while the link is down. It tells the harness when the client
// has taken a message, so that settle knows the client is busy.
type harnessTransport struct{ h *harness }

func (t harnessTransport) Send(msg []byte, to, from netip.Addr) error {
	return t.h.seg.fc.Send(msg, to, from)
}

func (t harnessTransport) Recv(ctx context.Context) ([]byte, error) {
	seg := t.h.seg
	seg.mu.Lock()
	down := seg.down
	seg.mu.Unlock()
	if down {
		t.h.mu.Lock()
		t.h.waitOn = nil
		t.h.mu.Unlock()
		return nil, errors.New("link down")
	}
	// Blocking now: the client waits on ctx (its deadline timer is set).
	t.h.mu.Lock()
	t.h.waitOn = ctx
	t.h.mu.Unlock()
	b, err := seg.fc.Recv(ctx)
	if err == nil {
		t.h.mu.Lock()
		t.h.taken++
		t.h.waitOn = nil
		t.h.mu.Unlock()
	}
	return b, err
}

type harness struct {
	t     *testing.T
	clock *fakeClock
	seg   *segment
	dir   string
	cfg   DHCPConfig
	c     *DHCP

	mu     sync.Mutex
	waitOn context.Context // what the client waits on; nil while busy
	taken  uint64          // messages the client has taken from the FrameConn
	evs    []Event

	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clock := newFakeClock()
	h := &harness{t: t, clock: clock, seg: newSegment(t, clock), dir: t.TempDir()}
	h.cfg = DHCPConfig{
		HWAddr:   clientMAC,
		Hostname: "passgate",
		StateDir: h.dir,
		Clock:    clock,
		Rand:     rand.New(rand.NewPCG(1, 2)),
		Logf:     t.Logf,
	}
	h.cfg.Transport = harnessTransport{h}
	return h
}

// start makes a client from h.cfg and runs it until the test ends or stop.
func (h *harness) start() {
	h.t.Helper()
	c, err := NewDHCP(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	c.waitHook = func(ctx context.Context) {
		h.mu.Lock()
		h.waitOn = ctx
		h.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- c.Run(ctx, h.record) }()
	h.t.Cleanup(func() { h.stop() })
	h.settle()
}

func (h *harness) record(e Event) {
	h.mu.Lock()
	h.evs = append(h.evs, e)
	h.mu.Unlock()
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
	h.cancel = nil
	h.mu.Lock()
	h.waitOn = nil
	h.mu.Unlock()
}

// settle waits until the client is blocked waiting on its clock with
// nothing queued: from then on only the test can make it move.
func (h *harness) settle() {
	h.t.Helper()
	limit := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		w, taken := h.waitOn, h.taken
		h.mu.Unlock()
		if w != nil && w.Err() == nil && len(h.seg.fc.in) == 0 && h.seg.fc.Stats().Delivered == taken {
			return
		}
		if time.Now().After(limit) {
			h.t.Fatalf("client did not settle (state %v)", h.c.Status().State)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// advance moves the clock by d, firing timers one deadline at a time and
// letting the client settle after each.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	target := h.clock.Now().Add(d)
	for {
		h.settle()
		next, ok := h.clock.next()
		if !ok || next.After(target) {
			break
		}
		h.clock.fireUntil(next)
	}
	h.clock.fireUntil(target)
	h.settle()
}

// advanceTo advances to epoch+at.
func (h *harness) advanceTo(at time.Duration) {
	h.t.Helper()
	h.advance(epoch.Add(at).Sub(h.clock.Now()))
}

// events returns and forgets the events so far.
func (h *harness) events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.evs
	h.evs = nil
	return e
}

// expectEvents checks the events since the last call have the given types.
func (h *harness) expectEvents(want ...string) []Event {
	h.t.Helper()
	evs := h.events()
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%T", e)[len("wan."):])
	}
	if !slices.Equal(got, want) {
		h.t.Fatalf("events %v, want %v (%+v)", got, want, evs)
	}
	return evs
}

// inject queues a raw DHCP message for the client, as if received.
func (h *harness) inject(msg []byte) {
	h.t.Helper()
	f := replyFrame(net.HardwareAddr{0x02, 0x66, 0, 0, 0, 0x99}, broadcastMAC, netip.MustParseAddr("203.0.113.99"), bcastIP, 68, msg)
	if !h.seg.fc.Deliver(f) {
		h.t.Fatal("injected frame not taken")
	}
	h.settle()
}

func msgTypes(ss []sent) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.msg.MessageType().String())
	}
	return out
}

func opt(m *dhcpv4.DHCPv4, code dhcpv4.OptionCode) []byte { return m.Options.Get(code) }
