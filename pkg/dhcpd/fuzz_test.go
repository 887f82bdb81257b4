package dhcpd

import (
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// fuzzServer is a server with some history: a bound client, a bound static
// client, a pending offer and a declined address, so fuzzed messages meet
// every kind of state.
func fuzzServer(t testing.TB) *harness {
	h := &harness{clock: newClock()}
	s, err := New(testConfig(), Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	run := func(c *client, m *dhcpv4.DHCPv4) {
		r, _ := s.Handle(m)
		switch typeOf(r) {
		case offer:
			c.offer = r
		case ack:
			c.ack = r
		}
	}
	a, st, b, d := newClient("02:00:00:00:00:0a"), &client{mac: staticMAC}, newClient("02:00:00:00:00:0b"), newClient("02:00:00:00:00:0d")
	for _, c := range []*client{a, st, d} {
		run(c, c.discover())
		run(c, c.selecting())
	}
	run(d, d.decline())
	run(b, b.discover())
	return h
}

func FuzzHandlePacket(f *testing.F) {
	c := newClient("02:00:00:00:00:0a")
	c.offer = &dhcpv4.DHCPv4{YourIPAddr: toNetIP(ip("192.168.1.100"))}
	c.ack = c.offer
	n := newClient("02:00:00:00:00:0e")
	n.clientID = []byte{0xff, 0, 1, 2, 3}
	n.hostname = "fuzz"
	for _, m := range []*dhcpv4.DHCPv4{
		c.discover(), n.discover(withRequested(ip("192.168.1.104"))),
		c.selecting(), c.selectingOther(), c.initReboot(ip("192.168.1.100")), c.initReboot(ip("10.0.0.1")),
		c.renew(), c.rebind(), c.decline(), c.release(), c.inform(ip("192.168.1.70")),
		(&client{mac: staticMAC}).discover(),
	} {
		f.Add(m.ToBytes())
	}
	f.Add([]byte{})
	f.Add(rawDiscover()[:240])

	f.Fuzz(func(t *testing.T, b []byte) {
		h := fuzzServer(t)
		for round := 0; round < 2; round++ {
			reply, err := h.s.HandlePacket(b)
			if reply != nil {
				if err != nil {
					t.Fatalf("reply together with error %v", err)
				}
				checkFuzzReply(t, h.s, b, reply)
			}
			checkInvariants(t, h.s)
			// The same message again once offers have lapsed.
			h.clock.Advance(DefaultOfferHold + time.Second)
		}
	})
}

func checkFuzzReply(t *testing.T, s *Server, b []byte, reply *dhcpv4.DHCPv4) {
	t.Helper()
	req, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatalf("reply to a message that does not parse: %v", err)
	}
	wire, err := dhcpv4.FromBytes(reply.ToBytes())
	if err != nil {
		t.Fatalf("reply does not re-parse: %v", err)
	}
	if wire.OpCode != dhcpv4.OpcodeBootReply || wire.TransactionID != req.TransactionID {
		t.Fatalf("bad reply header: %s", wire.Summary())
	}
	switch wire.MessageType() {
	case offer, ack, nak:
	default:
		t.Fatalf("reply of type %v", wire.MessageType())
	}
	if len(reply.ToBytes()) > dhcpv4.MaxMessageSize {
		t.Fatalf("reply of %d bytes exceeds the 576 every client accepts", len(reply.ToBytes()))
	}
	y := yiaddr(wire)
	cfg := s.Config()
	if y.IsValid() && !y.IsUnspecified() && !inRange(y, cfg.RangeStart, cfg.RangeEnd) {
		isStatic := false
		for _, st := range cfg.Static {
			isStatic = isStatic || (st.IP == y && st.MAC.String() == req.ClientHWAddr.String())
		}
		if !isStatic {
			t.Fatalf("yiaddr %v is neither in the pool nor the client's static address", y)
		}
	}
	_ = ReplyDestination(req, reply)
}
