package wan

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// hostile is one bad reply: how to spoil a good one, and the counter that
// must count it.
type hostile struct {
	name  string
	make  func(req *dhcpv4.DHCPv4) []byte
	count func(Counters) uint64
}

func spoil(good func(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4, f func(m *dhcpv4.DHCPv4)) func(req *dhcpv4.DHCPv4) []byte {
	return func(req *dhcpv4.DHCPv4) []byte {
		m := good(req)
		f(m)
		return m.ToBytes()
	}
}

func hostileReplies(good func(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4, wrongType dhcpv4.MessageType) []hostile {
	del := func(code dhcpv4.OptionCode) func(m *dhcpv4.DHCPv4) {
		return func(m *dhcpv4.DHCPv4) { m.Options.Del(code) }
	}
	set := func(code dhcpv4.OptionCode, v ...byte) func(m *dhcpv4.DHCPv4) {
		return func(m *dhcpv4.DHCPv4) { m.UpdateOption(dhcpv4.OptGeneric(code, v)) }
	}
	yi := func(a string) func(m *dhcpv4.DHCPv4) {
		return func(m *dhcpv4.DHCPv4) { m.YourIPAddr = net.ParseIP(a).To4() }
	}
	return []hostile{
		{"garbage", func(*dhcpv4.DHCPv4) []byte { return []byte("hello, router") }, func(k Counters) uint64 { return k.Malformed }},
		{"empty", func(*dhcpv4.DHCPv4) []byte { return nil }, func(k Counters) uint64 { return k.Malformed }},
		{"truncated", func(req *dhcpv4.DHCPv4) []byte { return good(req).ToBytes()[:200] }, func(k Counters) uint64 { return k.Malformed }},
		{"bad cookie", func(req *dhcpv4.DHCPv4) []byte { b := good(req).ToBytes(); b[236] = 0; return b }, func(k Counters) uint64 { return k.Malformed }},
		{"option overruns", func(req *dhcpv4.DHCPv4) []byte {
			b := good(req).ToBytes()[:240]
			return append(b, 53, 200, 2)
		}, func(k Counters) uint64 { return k.Malformed }},
		{"BOOTREQUEST", spoil(good, func(m *dhcpv4.DHCPv4) { m.OpCode = dhcpv4.OpcodeBootRequest }), func(k Counters) uint64 { return k.NotReply }},
		{"wrong xid", spoil(good, func(m *dhcpv4.DHCPv4) { m.TransactionID[3]++ }), func(k Counters) uint64 { return k.WrongXID }},
		{"wrong chaddr", spoil(good, func(m *dhcpv4.DHCPv4) { m.ClientHWAddr = net.HardwareAddr{2, 0, 0, 0, 0, 0x77} }), func(k Counters) uint64 { return k.WrongHWAddr }},
		{"short chaddr", spoil(good, func(m *dhcpv4.DHCPv4) { m.ClientHWAddr = m.ClientHWAddr[:4] }), func(k Counters) uint64 { return k.WrongHWAddr }},
		{"wrong type for state", spoil(good, set(dhcpv4.OptionDHCPMessageType, byte(wrongType))), func(k Counters) uint64 { return k.Unexpected }},
		{"no message type", spoil(good, del(dhcpv4.OptionDHCPMessageType)), func(k Counters) uint64 { return k.Unexpected }},
		{"INFORM", spoil(good, set(dhcpv4.OptionDHCPMessageType, byte(dhcpv4.MessageTypeInform))), func(k Counters) uint64 { return k.Unexpected }},
		{"two-byte type", spoil(good, set(dhcpv4.OptionDHCPMessageType, 2, 5)), func(k Counters) uint64 { return k.Unexpected }},
		{"no server id", spoil(good, del(dhcpv4.OptionServerIdentifier)), func(k Counters) uint64 { return k.BadServerID }},
		{"server id 0.0.0.0", spoil(good, set(dhcpv4.OptionServerIdentifier, 0, 0, 0, 0)), func(k Counters) uint64 { return k.BadServerID }},
		{"server id 3 bytes", spoil(good, set(dhcpv4.OptionServerIdentifier, 10, 0, 0)), func(k Counters) uint64 { return k.BadServerID }},
		{"yiaddr 0", spoil(good, yi("0.0.0.0")), func(k Counters) uint64 { return k.BadAddress }},
		{"yiaddr broadcast", spoil(good, yi("255.255.255.255")), func(k Counters) uint64 { return k.BadAddress }},
		{"yiaddr multicast", spoil(good, yi("239.1.2.3")), func(k Counters) uint64 { return k.BadAddress }},
		{"yiaddr loopback", spoil(good, yi("127.0.0.1")), func(k Counters) uint64 { return k.BadAddress }},
		{"yiaddr network", spoil(good, yi("203.0.113.0")), func(k Counters) uint64 { return k.BadAddress }},
		{"yiaddr subnet broadcast", spoil(good, yi("203.0.113.255")), func(k Counters) uint64 { return k.BadAddress }},
		{"no lease time", spoil(good, del(dhcpv4.OptionIPAddressLeaseTime)), func(k Counters) uint64 { return k.BadLeaseTime }},
		{"lease time 0", spoil(good, set(dhcpv4.OptionIPAddressLeaseTime, 0, 0, 0, 0)), func(k Counters) uint64 { return k.BadLeaseTime }},
		{"lease time 3 s", spoil(good, set(dhcpv4.OptionIPAddressLeaseTime, 0, 0, 0, 3)), func(k Counters) uint64 { return k.BadLeaseTime }},
		{"lease time 2 bytes", spoil(good, set(dhcpv4.OptionIPAddressLeaseTime, 1, 0)), func(k Counters) uint64 { return k.BadLeaseTime }},
		{"mask not contiguous", spoil(good, set(dhcpv4.OptionSubnetMask, 255, 0, 255, 0)), func(k Counters) uint64 { return k.BadSubnetMask }},
		{"mask zero", spoil(good, set(dhcpv4.OptionSubnetMask, 0, 0, 0, 0)), func(k Counters) uint64 { return k.BadSubnetMask }},
		{"mask 3 bytes", spoil(good, set(dhcpv4.OptionSubnetMask, 255, 255, 255)), func(k Counters) uint64 { return k.BadSubnetMask }},
	}
}

// TestHostileRepliesIgnored answers every DISCOVER and REQUEST with a
// barrage of bad replies before the good one: each must be ignored and
// counted under its reason, and the good one must still win.
func TestHostileRepliesIgnored(t *testing.T) {
	h := newHarness(t)
	offer := func(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 { return offerFor(req, serverA, addr100) }
	ack := func(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 { return ackFor(req, serverA, addr100) }
	badOffers := hostileReplies(offer, dhcpv4.MessageTypeAck)
	badAcks := hostileReplies(ack, dhcpv4.MessageTypeOffer)
	h.seg.attach(&scripted{ip: serverA, f: func(req *dhcpv4.DHCPv4) [][]byte {
		var out [][]byte
		switch req.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			for _, b := range badOffers {
				out = append(out, b.make(req))
			}
			out = append(out, nakFor(req, serverA).ToBytes()) // NAK in SELECTING: unexpected
			// Good, with tolerable oddities: a bad router option, junk
			// among the DNS servers, an absurd MTU, an infinite
			// lease and T1 beyond the lease.
			out = append(out, offerFor(req, serverA, addr100,
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionRouter, []byte{1, 2, 3, 4, 5})),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionDomainNameServer, []byte{0, 0, 0, 0, 255, 255, 255, 255, 9, 9, 9, 9})),
				dhcpv4.WithOption(optMTU(20)),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionIPAddressLeaseTime, []byte{0xff, 0xff, 0xff, 0xff})),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionRenewTimeValue, []byte{0xff, 0xff, 0xff, 0xfe})),
			).ToBytes())
		case dhcpv4.MessageTypeRequest:
			for _, b := range badAcks {
				out = append(out, b.make(req))
			}
			out = append(out, ackFor(req, netip.MustParseAddr("203.0.113.9"), addr100).ToBytes()) // not the selected server
			out = append(out, spoil(func(r *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 { return nakFor(r, serverA) },
				func(m *dhcpv4.DHCPv4) { m.TransactionID[0]++ })(req)) // NAK for another transaction
			out = append(out, ackFor(req, serverA, addr100,
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionRouter, []byte{1, 2, 3, 4, 5})),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionDomainNameServer, []byte{0, 0, 0, 0, 255, 255, 255, 255, 9, 9, 9, 9})),
				dhcpv4.WithOption(optMTU(20)),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionIPAddressLeaseTime, []byte{0xff, 0xff, 0xff, 0xff})),
				dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionRenewTimeValue, []byte{0xff, 0xff, 0xff, 0xfe})),
			).ToBytes())
		}
		return out
	}})
	h.start()
	evs := h.expectEvents("LeaseAcquired")
	l := evs[0].(LeaseAcquired)
	want := Lease{Addr: netip.PrefixFrom(addr100, 24), DNS: []netip.Addr{netip.MustParseAddr("9.9.9.9")},
		LeaseTime: MaxLeaseTime, T1: MaxLeaseTime / 2, T2: MaxLeaseTime * 7 / 8, Server: serverA}
	if l.Addr != want.Addr || l.Gateway.IsValid() || len(l.DNS) != 1 || l.DNS[0] != want.DNS[0] || l.MTU != 0 ||
		l.LeaseTime != want.LeaseTime || l.T1 != want.T1 || l.T2 != want.T2 || l.Server != serverA {
		t.Errorf("lease %+v\nwant %+v", l.Lease, want)
	}

	k := h.c.Status().Counters
	var want2 Counters
	// Tally the expected counters by applying each case's selector to a
	// counter set with one reason lit at a time.
	reasons := []func(*Counters) *uint64{
		func(c *Counters) *uint64 { return &c.Malformed },
		func(c *Counters) *uint64 { return &c.NotReply },
		func(c *Counters) *uint64 { return &c.WrongXID },
		func(c *Counters) *uint64 { return &c.WrongHWAddr },
		func(c *Counters) *uint64 { return &c.Unexpected },
		func(c *Counters) *uint64 { return &c.BadServerID },
		func(c *Counters) *uint64 { return &c.BadAddress },
		func(c *Counters) *uint64 { return &c.BadLeaseTime },
		func(c *Counters) *uint64 { return &c.BadSubnetMask },
	}
	for _, list := range [][]hostile{badOffers, badAcks} {
		for _, b := range list {
			hits := 0
			for _, r := range reasons {
				var probe Counters
				*r(&probe) = 1
				if b.count(probe) == 1 {
					*r(&want2)++
					hits++
				}
			}
			if hits != 1 {
				t.Fatalf("case %q selects %d counters", b.name, hits)
			}
		}
	}
	want2.Unexpected++  // NAK in SELECTING
	want2.BadServerID++ // ACK from a server we did not select
	want2.WrongXID++    // NAK for another transaction
	want2.Ignored = want2.Malformed + want2.NotReply + want2.WrongXID + want2.WrongHWAddr + want2.Unexpected +
		want2.BadServerID + want2.BadAddress + want2.BadLeaseTime + want2.BadSubnetMask
	got := k
	got.Sent, got.Received, got.Offers, got.Acks, got.Retransmits = 0, 0, 0, 0, 0
	if got != want2 {
		t.Errorf("counters\n got %+v\nwant %+v", got, want2)
	}
	if k.Offers != 1 || k.Acks != 1 || k.Received != k.Ignored+2 {
		t.Errorf("counters %+v", k)
	}
	if st := h.c.Status(); st.State != "bound" {
		t.Errorf("state %v", st.State)
	}
	if fs := h.seg.fc.Stats(); fs.Dropped != 0 || fs.Damaged != 0 {
		t.Errorf("frame stats %+v", fs)
	}
}

// TestHostileWhileBound: in BOUND, RENEWING and REBINDING no stray message
// (even a NAK or an ACK with another address, for a stale transaction)
// disturbs the lease.
func TestHostileWhileBound(t *testing.T) {
	h := newHarness(t)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	var lastReq *dhcpv4.DHCPv4
	h.seg.attach(&scripted{ip: netip.MustParseAddr("203.0.113.66"), f: func(req *dhcpv4.DHCPv4) [][]byte {
		lastReq = req
		return nil
	}})
	first := h.seg.sends()[1].msg // the REQUEST of DORA: a stale transaction now
	for _, m := range []*dhcpv4.DHCPv4{
		nakFor(first, serverA),
		ackFor(first, serverA, addr101),
		offerFor(first, serverA, addr101),
	} {
		h.inject(m.ToBytes())
	}
	h.expectEvents()
	h.seg.detach(serverA)
	h.advanceTo(53 * time.Minute) // rebinding: broadcasts reach the scripted server
	if lastReq == nil || !lastReq.ClientIPAddr.Equal(addr100.AsSlice()) {
		t.Fatalf("no rebinding request seen")
	}
	for _, m := range []*dhcpv4.DHCPv4{
		offerFor(lastReq, serverA, addr101),                                              // OFFER while rebinding
		ackFor(lastReq, serverA, addr101, dhcpv4.WithTransactionID(first.TransactionID)), // stale xid
	} {
		h.inject(m.ToBytes())
	}
	h.expectEvents()
	st := h.c.Status()
	if st.State != "rebinding" || st.Lease == nil || st.Lease.Addr.Addr() != addr100 {
		t.Errorf("status %+v", st)
	}
	if st.Counters.Unexpected != 4 || st.Counters.WrongXID != 1 {
		t.Errorf("counters %+v", st.Counters)
	}
}

func TestParseReplyDefaults(t *testing.T) {
	req, _ := dhcpv4.NewDiscovery(clientMAC)
	for _, tc := range []struct {
		name   string
		mods   []dhcpv4.Modifier
		prefix netip.Prefix
		t1, t2 time.Duration
	}{
		{"no mask, class C", []dhcpv4.Modifier{func(m *dhcpv4.DHCPv4) { m.Options.Del(dhcpv4.OptionSubnetMask) }},
			netip.MustParsePrefix("203.0.113.100/24"), 30 * time.Minute, 52*time.Minute + 30*time.Second},
		{"server T1/T2", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(20 * time.Minute)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(40 * time.Minute))},
			netip.MustParsePrefix("203.0.113.100/24"), 20 * time.Minute, 40 * time.Minute},
		{"T2 beyond lease", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(2 * time.Hour))},
			netip.MustParsePrefix("203.0.113.100/24"), 30 * time.Minute, 52*time.Minute + 30*time.Second},
		{"T1 after T2", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(50 * time.Minute)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(40 * time.Minute))},
			netip.MustParsePrefix("203.0.113.100/24"), 30 * time.Minute, 40 * time.Minute},
		{"/32", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(32, 32)))},
			netip.MustParsePrefix("203.0.113.100/32"), 30 * time.Minute, 52*time.Minute + 30*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, why := parseReply(ackFor(req, serverA, addr100, tc.mods...).ToBytes(), clientMAC)
			if why != dropNone {
				t.Fatalf("dropped: %v", why)
			}
			if r.lease.Addr != tc.prefix || r.lease.T1 != tc.t1 || r.lease.T2 != tc.t2 {
				t.Errorf("got %v T1 %v T2 %v", r.lease.Addr, r.lease.T1, r.lease.T2)
			}
		})
	}
}
