package wan

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/passgate/passgate/pkg/dhcpd"
)

var (
	addr100 = netip.MustParseAddr("203.0.113.100")
	addr101 = netip.MustParseAddr("203.0.113.101")
)

// bound runs DORA against a dhcpd server A with the given lease time and
// returns the LeaseAcquired.
func (h *harness) bound(a *dhcpdServer) LeaseAcquired {
	h.t.Helper()
	h.seg.attach(a)
	h.start()
	evs := h.expectEvents("LeaseAcquired")
	return evs[0].(LeaseAcquired)
}

func TestDORA(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	la := h.bound(a)

	want := Lease{
		Addr:      netip.PrefixFrom(addr100, 24),
		Gateway:   serverA,
		DNS:       ispDNS,
		LeaseTime: time.Hour,
		T1:        30 * time.Minute,
		T2:        52*time.Minute + 30*time.Second,
		Server:    serverA,
		Obtained:  epoch,
	}
	if la.Addr != want.Addr || la.Gateway != want.Gateway || !slices.Equal(la.DNS, want.DNS) ||
		la.LeaseTime != want.LeaseTime || la.T1 != want.T1 || la.T2 != want.T2 || la.Server != want.Server ||
		!la.Obtained.Equal(want.Obtained) || la.MTU != 0 {
		t.Errorf("lease %+v\nwant %+v", la.Lease, want)
	}

	ss := h.seg.sends()
	if got := msgTypes(ss); !slices.Equal(got, []string{"DISCOVER", "REQUEST"}) {
		t.Fatalf("sent %v", got)
	}
	disc, req := ss[0], ss[1]
	for _, s := range ss {
		if s.src != netip.IPv4Unspecified() || s.dst != bcastIP || !bytes.Equal(s.dstMAC, broadcastMAC) {
			t.Errorf("%v: want broadcast from 0.0.0.0", s)
		}
		if got := string(opt(s.msg, dhcpv4.OptionHostName)); got != "passgate" {
			t.Errorf("%v: hostname %q", s, got)
		}
		if got := opt(s.msg, dhcpv4.OptionClientIdentifier); !bytes.Equal(got, append([]byte{1}, clientMAC...)) {
			t.Errorf("%v: client id %x", s, got)
		}
		prl := s.msg.ParameterRequestList()
		for _, c := range []dhcpv4.OptionCode{dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer,
			dhcpv4.OptionIPAddressLeaseTime, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue, dhcpv4.OptionInterfaceMTU} {
			if !prl.Has(c) {
				t.Errorf("%v: parameter request list %v lacks %v", s, prl, c)
			}
		}
		if s.msg.IsBroadcast() {
			t.Errorf("%v: broadcast flag set", s)
		}
	}
	if disc.msg.Options.Has(dhcpv4.OptionRequestedIPAddress) {
		t.Errorf("first DISCOVER asks for %v", disc.msg.RequestedIPAddress())
	}
	if req.msg.TransactionID != disc.msg.TransactionID {
		t.Errorf("REQUEST xid %v, DISCOVER %v", req.msg.TransactionID, disc.msg.TransactionID)
	}
	if !req.msg.RequestedIPAddress().Equal(addr100.AsSlice()) || !req.msg.ServerIdentifier().Equal(serverA.AsSlice()) ||
		!req.msg.ClientIPAddr.IsUnspecified() {
		t.Errorf("REQUEST: requested %v server %v ciaddr %v", req.msg.RequestedIPAddress(), req.msg.ServerIdentifier(), req.msg.ClientIPAddr)
	}

	st := h.c.Status()
	if st.State != "bound" || st.Lease == nil || st.Lease.Addr != want.Addr {
		t.Errorf("status %+v", st)
	}
	if st.Counters.Offers != 1 || st.Counters.Acks != 1 || st.Counters.Ignored != 0 || st.Counters.Sent != 2 {
		t.Errorf("counters %+v", st.Counters)
	}
	ls := a.srv.Leases()
	if len(ls) != 1 || ls[0].IP != addr100 || ls[0].Hostname != "passgate" || ls[0].State != dhcpd.StateBound {
		t.Errorf("server leases %+v", ls)
	}
	mem := readMemory(t, h.dir)
	if mem.Address != want.Addr || mem.Server != serverA || !mem.Expiry.Equal(epoch.Add(time.Hour)) || mem.Released {
		t.Errorf("remembered %+v", mem)
	}
}

func readMemory(t *testing.T, dir string) memory {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, LeaseFileName))
	if err != nil {
		t.Fatal(err)
	}
	var m memory
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRenewAtT1Unicast(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.seg.clearLog()

	h.advanceTo(30*time.Minute - time.Second)
	if ss := h.seg.sends(); len(ss) != 0 {
		t.Fatalf("sent before T1: %v", ss)
	}
	h.advanceTo(30 * time.Minute)
	ss := h.seg.sends()
	if len(ss) != 1 {
		t.Fatalf("at T1 sent %v", ss)
	}
	r := ss[0]
	if r.msg.MessageType() != dhcpv4.MessageTypeRequest || r.dst != serverA || r.src != addr100 ||
		!bytes.Equal(r.dstMAC, a.hw) || !r.msg.ClientIPAddr.Equal(addr100.AsSlice()) ||
		r.msg.Options.Has(dhcpv4.OptionRequestedIPAddress) || r.msg.Options.Has(dhcpv4.OptionServerIdentifier) {
		t.Errorf("renewal %v: ciaddr %v options %v", r, r.msg.ClientIPAddr, r.msg.Options)
	}
	evs := h.expectEvents("LeaseRenewed")
	l := evs[0].(LeaseRenewed)
	if l.Addr.Addr() != addr100 || !l.Obtained.Equal(epoch.Add(30*time.Minute)) || l.Server != serverA {
		t.Errorf("renewed %+v", l.Lease)
	}
	if st := h.c.Status(); st.State != "bound" {
		t.Errorf("state %v", st.State)
	}

	// The next renewal is T1 after the renewal.
	h.seg.clearLog()
	h.advanceTo(60*time.Minute - time.Second)
	if ss := h.seg.sends(); len(ss) != 0 {
		t.Fatalf("sent early: %v", ss)
	}
	h.advanceTo(60 * time.Minute)
	if ss := h.seg.sends(); len(ss) != 1 || ss[0].dst != serverA {
		t.Fatalf("second renewal: %v", ss)
	}
	h.expectEvents("LeaseRenewed")
}

func TestRebindToAnotherServer(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.seg.clearLog()
	h.seg.detach(serverA) // A is gone: renewals go unanswered

	h.advanceTo(52*time.Minute + 10*time.Second)
	// RENEWING retransmits after half the time left to T2 (52m30s), at
	// least 60 s apart, never past T2.
	wantAt := []time.Duration{
		30 * time.Minute,
		41*time.Minute + 15*time.Second,
		46*time.Minute + 52500*time.Millisecond,
		49*time.Minute + 41250*time.Millisecond,
		51*time.Minute + 5625*time.Millisecond,
		52*time.Minute + 5625*time.Millisecond,
	}
	ss := h.seg.sends()
	var at []time.Duration
	for _, s := range ss {
		at = append(at, s.at.Sub(epoch))
		if s.dst != serverA || s.msg.MessageType() != dhcpv4.MessageTypeRequest {
			t.Errorf("renewal %v not unicast to A", s)
		}
	}
	if !slices.Equal(at, wantAt) {
		t.Errorf("renewals at %v, want %v", at, wantAt)
	}
	if len(ss) > 1 && (ss[0].msg.NumSeconds != 0 || ss[1].msg.NumSeconds != 675) {
		t.Errorf("secs %d, %d; want 0, 675 (since the start of renewal)", ss[0].msg.NumSeconds, ss[1].msg.NumSeconds)
	}
	if xids := uniqueXIDs(ss); xids != len(ss) {
		t.Errorf("%d renewals share transaction IDs (%d distinct)", len(ss), xids)
	}
	if st := h.c.Status(); st.State != "renewing" || st.Counters.Retransmits != 5 {
		t.Errorf("status %v, %d retransmits", st.State, st.Counters.Retransmits)
	}
	h.expectEvents()

	// B, another server, answers the broadcast at T2.
	b := newDHCPD(t, h.clock, serverB, 2*time.Hour)
	h.seg.attach(b)
	h.seg.clearLog()
	h.advanceTo(52*time.Minute + 30*time.Second)
	ss = h.seg.sends()
	if len(ss) != 1 || ss[0].dst != bcastIP || ss[0].src != addr100 || !ss[0].msg.ClientIPAddr.Equal(addr100.AsSlice()) ||
		ss[0].msg.Options.Has(dhcpv4.OptionServerIdentifier) {
		t.Fatalf("rebinding: %v", ss)
	}
	evs := h.expectEvents("LeaseRenewed")
	l := evs[0].(LeaseRenewed)
	if l.Addr.Addr() != addr100 || l.Server != serverB || l.LeaseTime != 2*time.Hour {
		t.Errorf("rebound %+v", l.Lease)
	}
	if mem := readMemory(t, h.dir); mem.Server != serverB {
		t.Errorf("remembered server %v", mem.Server)
	}
	// Renewals now go to B.
	h.seg.clearLog()
	h.advanceTo(52*time.Minute + 30*time.Second + time.Hour)
	if ss := h.seg.sends(); len(ss) != 1 || ss[0].dst != serverB {
		t.Fatalf("renewal after rebinding: %v", ss)
	}
	h.expectEvents("LeaseRenewed")
}

func uniqueXIDs(ss []sent) int {
	m := map[dhcpv4.TransactionID]bool{}
	for _, s := range ss {
		m[s.msg.TransactionID] = true
	}
	return len(m)
}

func TestExpiryLosesLease(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.seg.detach(serverA)
	h.seg.clearLog()

	h.advanceTo(time.Hour - time.Second)
	h.expectEvents()
	if st := h.c.Status(); st.State != "rebinding" {
		t.Fatalf("state %v before expiry", st.State)
	}
	var rebinds []time.Duration
	for _, s := range h.seg.sends() {
		if s.dst == bcastIP {
			rebinds = append(rebinds, s.at.Sub(epoch))
		}
	}
	wantRebinds := []time.Duration{
		52*time.Minute + 30*time.Second,
		56*time.Minute + 15*time.Second,
		58*time.Minute + 7500*time.Millisecond,
		59*time.Minute + 7500*time.Millisecond,
	}
	if !slices.Equal(rebinds, wantRebinds) {
		t.Errorf("rebinding at %v, want %v", rebinds, wantRebinds)
	}

	h.seg.clearLog()
	h.advanceTo(time.Hour)
	evs := h.expectEvents("LeaseLost")
	if l := evs[0].(LeaseLost); l.Reason != LostExpired || l.Addr.Addr() != addr100 {
		t.Errorf("lost %+v", l)
	}
	ss := h.seg.sends()
	if len(ss) != 1 || ss[0].msg.MessageType() != dhcpv4.MessageTypeDiscover ||
		!ss[0].msg.RequestedIPAddress().Equal(addr100.AsSlice()) {
		t.Fatalf("after expiry sent %v (want DISCOVER for the old address)", ss)
	}
	if st := h.c.Status(); st.State != "selecting" || st.Lease != nil {
		t.Errorf("status %+v", st)
	}

	// The server comes back: the next retransmission gets the address again.
	h.seg.attach(a)
	h.advance(6 * time.Second)
	evs = h.expectEvents("LeaseAcquired")
	if l := evs[0].(LeaseAcquired); l.Addr.Addr() != addr100 {
		t.Errorf("reacquired %v", l.Addr)
	}
}

// renumber moves dhcpd server d to another subnet, as an ISP renumbering
// its customers: leases in the old subnet are NAKed at their next renewal.
func (d *dhcpdServer) renumber(t *testing.T, server netip.Addr, subnet netip.Prefix, start, end netip.Addr) {
	t.Helper()
	cfg := d.srv.Config()
	cfg.ServerIP, cfg.Router, cfg.Subnet, cfg.RangeStart, cfg.RangeEnd = server, server, subnet, start, end
	if err := d.srv.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	d.ip = server
}

func TestNAKRestarts(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	newServer := netip.MustParseAddr("198.51.100.1")
	a.renumber(t, newServer, netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.20"))
	// Our renewal is unicast to the old server address; the segment
	// still routes it to A.
	h.seg.attach(&alias{ip: serverA, to: a})
	h.seg.clearLog()

	h.advanceTo(30 * time.Minute)
	evs := h.expectEvents("LeaseLost", "LeaseAcquired")
	if l := evs[0].(LeaseLost); l.Reason != LostNAK || l.Addr.Addr() != addr100 {
		t.Errorf("lost %+v", l)
	}
	got := evs[1].(LeaseAcquired)
	if got.Addr != netip.MustParsePrefix("198.51.100.10/24") || got.Server != newServer || got.Gateway != newServer {
		t.Errorf("new lease %+v", got.Lease)
	}
	ss := h.seg.sends()
	if types := msgTypes(ss); !slices.Equal(types, []string{"REQUEST", "DISCOVER", "REQUEST"}) {
		t.Fatalf("sent %v", types)
	}
	if ss[1].msg.Options.Has(dhcpv4.OptionRequestedIPAddress) {
		t.Errorf("DISCOVER after NAK asks for %v", ss[1].msg.RequestedIPAddress())
	}
	if st := h.c.Status(); st.Counters.Naks != 1 || st.State != "bound" {
		t.Errorf("status %+v", st)
	}
}

// alias makes a server reachable under a second address.
type alias struct {
	ip netip.Addr
	to server
}

func (a *alias) addr() netip.Addr      { return a.ip }
func (a *alias) mac() net.HardwareAddr { return a.to.mac() }
func (a *alias) handle(t *testing.T, req *dhcpv4.DHCPv4) [][]byte {
	if req.ClientIPAddr.IsUnspecified() {
		return nil // only unicasts reach us under this name
	}
	return a.to.handle(t, req)
}

func TestNAKLoopBacksOff(t *testing.T) {
	h := newHarness(t)
	var srv *scripted
	srv = &scripted{ip: serverA, f: func(req *dhcpv4.DHCPv4) [][]byte {
		switch req.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			return [][]byte{offerFor(req, serverA, addr100).ToBytes()}
		case dhcpv4.MessageTypeRequest:
			return [][]byte{nakFor(req, serverA).ToBytes()}
		}
		return nil
	}}
	h.seg.attach(srv)
	h.start()
	h.advance(3 * time.Minute)
	ss := h.seg.sends()
	var discovers []time.Duration
	for _, s := range ss {
		if s.msg.MessageType() == dhcpv4.MessageTypeDiscover {
			discovers = append(discovers, s.at.Sub(epoch))
		}
	}
	// Restarts: at once after the first NAK, then after 4, 8, 16, 32,
	// 64, 64 s (±1 s).
	if len(discovers) < 6 || len(discovers) > 9 {
		t.Fatalf("%d DISCOVERs in 3 minutes: %v", len(discovers), discovers)
	}
	if discovers[1] != 0 {
		t.Errorf("first restart after %v", discovers[1])
	}
	for i := 2; i < len(discovers); i++ {
		base := FirstRetransmit << (i - 2)
		if base > MaxRetransmit {
			base = MaxRetransmit
		}
		if d := discovers[i] - discovers[i-1]; d < base-time.Second || d > base+time.Second {
			t.Errorf("restart %d after %v, want %v±1s", i, d, base)
		}
	}
	h.expectEvents()
}

func TestRenewalWithChangedAddress(t *testing.T) {
	h := newHarness(t)
	isp := newServer4(t, serverA)
	isp.set(addr100, 1492)
	h.seg.attach(isp)
	h.start()
	evs := h.expectEvents("LeaseAcquired")
	first := evs[0].(LeaseAcquired)
	if first.Addr != netip.PrefixFrom(addr100, 24) || first.MTU != 1492 || first.Gateway != serverA || first.Server != serverA {
		t.Fatalf("lease %+v", first.Lease)
	}

	isp.set(addr101, 1500)
	h.advanceTo(30 * time.Minute)
	evs = h.expectEvents("LeaseChanged")
	ch := evs[0].(LeaseChanged)
	if ch.Old.Addr.Addr() != addr100 || ch.Addr.Addr() != addr101 || ch.MTU != 1500 {
		t.Errorf("changed %+v", ch)
	}
	if st := h.c.Status(); st.Lease == nil || st.Lease.Addr.Addr() != addr101 || st.State != "bound" {
		t.Errorf("status %+v", st)
	}
	if mem := readMemory(t, h.dir); mem.Address.Addr() != addr101 {
		t.Errorf("remembered %v", mem.Address)
	}
	// The next renewal comes from the new address.
	h.seg.clearLog()
	h.advanceTo(time.Hour)
	if ss := h.seg.sends(); len(ss) != 1 || ss[0].src != addr101 || !ss[0].msg.ClientIPAddr.Equal(addr101.AsSlice()) {
		t.Errorf("renewal after change: %v", ss)
	}
	h.expectEvents("LeaseRenewed")
}

// occupy makes another client take the next free address of d.
func occupy(t *testing.T, d *dhcpdServer, mac net.HardwareAddr) netip.Addr {
	t.Helper()
	disc, _ := dhcpv4.NewDiscovery(mac)
	offer, err := d.srv.Handle(disc)
	if err != nil || offer == nil {
		t.Fatalf("occupy: %v", err)
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	ack, err := d.srv.Handle(req)
	if err != nil || ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("occupy: %v %v", ack, err)
	}
	a, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	return a
}

func TestInitRebootKeepsAddress(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	if got := occupy(t, a, net.HardwareAddr{2, 0, 0, 0, 0, 9}); got != addr100 {
		t.Fatalf("other client got %v", got)
	}
	if la := h.bound(a); la.Addr.Addr() != addr101 {
		t.Fatalf("first lease %v", la.Addr)
	}
	h.stop()
	h.seg.clearLog()

	// routerd restarts 10 minutes later; the ISP's server has lost its
	// state, so a DISCOVER would be offered .100 — INIT-REBOOT asks for .101.
	h.seg.detach(serverA)
	fresh := newDHCPD(t, h.clock, serverA, time.Hour)
	h.seg.attach(fresh)
	h.clock.fireUntil(epoch.Add(10 * time.Minute))
	h.start()
	evs := h.expectEvents("LeaseAcquired")
	if l := evs[0].(LeaseAcquired); l.Addr.Addr() != addr101 || !l.Obtained.Equal(epoch.Add(10*time.Minute)) {
		t.Errorf("after restart %+v", l.Lease)
	}
	ss := h.seg.sends()
	if len(ss) != 1 {
		t.Fatalf("sent %v", ss)
	}
	r := ss[0].msg
	if r.MessageType() != dhcpv4.MessageTypeRequest || !r.RequestedIPAddress().Equal(addr101.AsSlice()) ||
		r.Options.Has(dhcpv4.OptionServerIdentifier) || !r.ClientIPAddr.IsUnspecified() || ss[0].dst != bcastIP {
		t.Errorf("INIT-REBOOT request %v options %v", ss[0], r.Options)
	}
}

func TestInitRebootSilentServerFallsBackToDiscover(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.stop()
	h.seg.clearLog()

	// A server that ignores INIT-REBOOT for leases it does not know
	// (dnsmasq without --dhcp-authoritative does that).
	h.seg.detach(serverA)
	h.seg.attach(&filter{to: a, drop: func(m *dhcpv4.DHCPv4) bool {
		return m.MessageType() == dhcpv4.MessageTypeRequest && !m.Options.Has(dhcpv4.OptionServerIdentifier) && m.ClientIPAddr.IsUnspecified()
	}})
	h.start()
	h.expectEvents()
	if st := h.c.Status(); st.State != "init-reboot" {
		t.Fatalf("state %v", st.State)
	}
	h.advance(20 * time.Second)
	evs := h.expectEvents("LeaseAcquired")
	if l := evs[0].(LeaseAcquired); l.Addr.Addr() != addr100 {
		t.Errorf("lease %v", l.Addr)
	}
	ss := h.seg.sends()
	if types := msgTypes(ss); !slices.Equal(types, []string{"REQUEST", "REQUEST", "DISCOVER", "REQUEST"}) {
		t.Fatalf("sent %v", types)
	}
	if d := ss[1].at.Sub(ss[0].at); d < 3*time.Second || d > 5*time.Second {
		t.Errorf("INIT-REBOOT retransmitted after %v", d)
	}
	if d := ss[2].at.Sub(ss[1].at); d < 7*time.Second || d > 9*time.Second {
		t.Errorf("DISCOVER %v after the last INIT-REBOOT", d)
	}
	if !ss[2].msg.RequestedIPAddress().Equal(addr100.AsSlice()) {
		t.Errorf("DISCOVER asks for %v", ss[2].msg.RequestedIPAddress())
	}
}

// filter passes requests to a server unless drop says otherwise.
type filter struct {
	to   server
	drop func(*dhcpv4.DHCPv4) bool
}

func (f *filter) addr() netip.Addr      { return f.to.addr() }
func (f *filter) mac() net.HardwareAddr { return f.to.mac() }
func (f *filter) handle(t *testing.T, req *dhcpv4.DHCPv4) [][]byte {
	if f.drop(req) {
		return nil
	}
	return f.to.handle(t, req)
}

func TestInitRebootNAK(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.stop()
	h.seg.clearLog()
	newServer := netip.MustParseAddr("198.51.100.1")
	a.renumber(t, newServer, netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.20"))
	h.start()
	evs := h.expectEvents("LeaseAcquired")
	if l := evs[0].(LeaseAcquired); l.Addr.Addr() != netip.MustParseAddr("198.51.100.10") {
		t.Errorf("lease %v", l.Addr)
	}
	ss := h.seg.sends()
	if types := msgTypes(ss); !slices.Equal(types, []string{"REQUEST", "DISCOVER", "REQUEST"}) {
		t.Fatalf("sent %v", types)
	}
	if ss[1].msg.Options.Has(dhcpv4.OptionRequestedIPAddress) {
		t.Errorf("DISCOVER after NAK asks for %v", ss[1].msg.RequestedIPAddress())
	}
}

func TestReleaseOnStop(t *testing.T) {
	h := newHarness(t)
	h.cfg.ReleaseOnStop = true
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.seg.clearLog()
	h.stop()
	evs := h.expectEvents("LeaseLost")
	if l := evs[0].(LeaseLost); l.Reason != LostReleased || l.Addr.Addr() != addr100 {
		t.Errorf("lost %+v", l)
	}
	ss := h.seg.sends()
	if len(ss) != 1 {
		t.Fatalf("sent %v", ss)
	}
	r := ss[0]
	if r.msg.MessageType() != dhcpv4.MessageTypeRelease || r.dst != serverA || r.src != addr100 ||
		!r.msg.ClientIPAddr.Equal(addr100.AsSlice()) || !r.msg.ServerIdentifier().Equal(serverA.AsSlice()) {
		t.Errorf("release %v", r)
	}
	if ls := a.srv.Leases(); len(ls) != 0 {
		t.Errorf("server still has %+v", ls)
	}
	if mem := readMemory(t, h.dir); !mem.Released || mem.Address.Addr() != addr100 {
		t.Errorf("remembered %+v", mem)
	}
	if st := h.c.Status(); st.State != "stopped" || st.Lease != nil || st.Counters.Releases != 1 {
		t.Errorf("status %+v", st)
	}

	// After a release the next start asks for the address in a DISCOVER.
	h.seg.clearLog()
	h.start()
	h.expectEvents("LeaseAcquired")
	ss = h.seg.sends()
	if len(ss) == 0 || ss[0].msg.MessageType() != dhcpv4.MessageTypeDiscover ||
		!ss[0].msg.RequestedIPAddress().Equal(addr100.AsSlice()) {
		t.Errorf("after release sent %v", ss)
	}
}

func TestStopWithoutReleaseKeepsLease(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.seg.clearLog()
	h.stop()
	h.expectEvents()
	if ss := h.seg.sends(); len(ss) != 0 {
		t.Errorf("sent %v", ss)
	}
	if ls := a.srv.Leases(); len(ls) != 1 {
		t.Errorf("server leases %+v", ls)
	}
}

func TestDeclineWhenProbeFindsConflict(t *testing.T) {
	h := newHarness(t)
	var probed []netip.Addr
	h.cfg.Probe = func(_ context.Context, a netip.Addr) bool {
		probed = append(probed, a)
		return a == addr100
	}
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.seg.attach(a)
	h.start()
	h.expectEvents()
	ss := h.seg.sends()
	if types := msgTypes(ss); !slices.Equal(types, []string{"DISCOVER", "REQUEST", "DECLINE"}) {
		t.Fatalf("sent %v", types)
	}
	d := ss[2].msg
	if !d.RequestedIPAddress().Equal(addr100.AsSlice()) || !d.ServerIdentifier().Equal(serverA.AsSlice()) || ss[2].dst != bcastIP {
		t.Errorf("decline %v options %v", ss[2], d.Options)
	}
	h.advance(DeclineWait - time.Second)
	if n := len(h.seg.sends()); n != 3 {
		t.Fatalf("sent again within %v", DeclineWait)
	}
	h.advance(time.Second)
	evs := h.expectEvents("LeaseAcquired")
	if l := evs[0].(LeaseAcquired); l.Addr.Addr() != addr101 {
		t.Errorf("lease %v after decline", l.Addr)
	}
	if !slices.Equal(probed, []netip.Addr{addr100, addr101}) {
		t.Errorf("probed %v", probed)
	}
	if st := h.c.Status(); st.Counters.Declines != 1 {
		t.Errorf("counters %+v", st.Counters)
	}
}

func TestRetransmissionSchedule(t *testing.T) {
	h := newHarness(t)
	h.start() // nobody answers
	h.advance(5 * time.Minute)
	ss := h.seg.sends()
	if len(ss) < 8 {
		t.Fatalf("only %d DISCOVERs in 5 minutes", len(ss))
	}
	xid := ss[0].msg.TransactionID
	var gaps []time.Duration
	for i, s := range ss {
		if s.msg.MessageType() != dhcpv4.MessageTypeDiscover || s.msg.TransactionID != xid {
			t.Errorf("send %d: %v", i, s)
		}
		if want := uint16(s.at.Sub(epoch) / time.Second); s.msg.NumSeconds != want {
			t.Errorf("send %d: secs %d, want %d", i, s.msg.NumSeconds, want)
		}
		if i == 0 {
			continue
		}
		gap := s.at.Sub(ss[i-1].at)
		gaps = append(gaps, gap)
		base := MaxRetransmit
		if i-1 < 4 {
			base = FirstRetransmit << (i - 1)
		}
		if gap < base-time.Second || gap > base+time.Second {
			t.Errorf("retransmission %d after %v, want %v±1s", i, gap, base)
		}
	}
	// The jitter is random, not a constant offset.
	jit := map[time.Duration]bool{}
	for i, g := range gaps {
		base := min(FirstRetransmit<<min(i, 4), MaxRetransmit)
		jit[g-base] = true
	}
	if len(jit) < len(gaps)-1 {
		t.Errorf("jitter repeats: gaps %v", gaps)
	}
	if st := h.c.Status(); st.State != "selecting" || st.Counters.Retransmits != uint64(len(ss)-1) {
		t.Errorf("status %+v", st)
	}
}

func TestRequestingGivesUp(t *testing.T) {
	h := newHarness(t)
	h.seg.attach(&scripted{ip: serverA, f: func(req *dhcpv4.DHCPv4) [][]byte {
		if req.MessageType() == dhcpv4.MessageTypeDiscover {
			return [][]byte{offerFor(req, serverA, addr100).ToBytes()}
		}
		return nil // never ACKs
	}})
	h.start()
	h.advance(70 * time.Second)
	ss := h.seg.sends()
	if types := msgTypes(ss); len(types) < 6 || !slices.Equal(types[:6], []string{"DISCOVER", "REQUEST", "REQUEST", "REQUEST", "REQUEST", "DISCOVER"}) {
		t.Fatalf("sent %v", types)
	}
	for i := 2; i <= 4; i++ {
		base := FirstRetransmit << (i - 2)
		if gap := ss[i].at.Sub(ss[i-1].at); gap < base-time.Second || gap > base+time.Second {
			t.Errorf("REQUEST %d after %v, want %v±1s", i, gap, base)
		}
	}
	if !ss[5].msg.RequestedIPAddress().Equal(addr100.AsSlice()) || ss[5].msg.TransactionID == ss[0].msg.TransactionID {
		t.Errorf("restart DISCOVER %v asks for %v", ss[5], ss[5].msg.RequestedIPAddress())
	}
	h.expectEvents()
}

func TestLinkLossNeverStops(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	h.seg.setDown(true)
	h.advanceTo(2 * time.Hour)
	evs := h.expectEvents("LeaseLost")
	if l := evs[0].(LeaseLost); l.Reason != LostExpired {
		t.Errorf("lost %+v", l)
	}
	st := h.c.Status()
	if st.Counters.SendErrors == 0 || st.Counters.RecvErrors == 0 {
		t.Errorf("no errors counted: %+v", st.Counters)
	}
	t.Logf("after two hours without link: %+v", st.Counters)
	// Recv failing at once must not become a busy loop: it is retried
	// with pauses of up to RecvErrorBackoff.
	if max := uint64(2*time.Hour/RecvErrorBackoff) * 3; st.Counters.RecvErrors > max {
		t.Errorf("%d Recv errors in two hours (want at most %d)", st.Counters.RecvErrors, max)
	}
	h.seg.setDown(false)
	h.advance(2 * MaxRetransmit)
	evs = h.expectEvents("LeaseAcquired")
	if l := evs[0].(LeaseAcquired); l.Addr.Addr() != addr100 {
		t.Errorf("reacquired %v", l.Addr)
	}
}

func TestRunTwiceIsAnError(t *testing.T) {
	h := newHarness(t)
	h.start()
	if err := h.c.Run(context.Background(), nil); err == nil {
		t.Error("second concurrent Run succeeded")
	}
}

func TestNewDHCPValidates(t *testing.T) {
	tr := harnessTransport{}
	for _, cfg := range []DHCPConfig{
		{HWAddr: clientMAC},
		{Transport: tr},
		{Transport: tr, HWAddr: net.HardwareAddr{1, 0, 0, 0, 0, 1}},
		{Transport: tr, HWAddr: net.HardwareAddr{0, 0, 0, 0, 0, 0}},
		{Transport: tr, HWAddr: clientMAC, Hostname: "bad name"},
		{Transport: tr, HWAddr: clientMAC, ClientID: []byte{1}},
	} {
		if _, err := NewDHCP(cfg); err == nil {
			t.Errorf("NewDHCP(%+v) accepted", cfg)
		}
	}
	c, err := NewDHCP(DHCPConfig{Transport: tr, HWAddr: clientMAC})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.State != "stopped" {
		t.Errorf("state %v before Run", st.State)
	}
}

// TestSystemClock runs DORA on the real clock (the default).
func TestSystemClock(t *testing.T) {
	h := newHarness(t)
	h.cfg.Clock = nil
	h.cfg.Rand = nil
	la := h.bound(newDHCPD(t, h.clock, serverA, time.Hour))
	if la.Addr.Addr() != addr100 || time.Since(la.Obtained) > time.Minute {
		t.Errorf("lease %+v", la.Lease)
	}
	if got := la.String(); got != "203.0.113.100/24 gateway 203.0.113.1 dns [198.51.100.53 198.51.100.54] server 203.0.113.1 lease 1h0m0s" {
		t.Errorf("String() = %q", got)
	}
	for r, want := range map[LostReason]string{LostExpired: "expired", LostNAK: "refused by server (NAK)", LostReleased: "released", 9: "LostReason(9)"} {
		if r.String() != want {
			t.Errorf("%d: %q", r, r.String())
		}
	}
}
