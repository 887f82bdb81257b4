package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// Attacks by a hostile or broken server on the WAN, written as the
// attacker would.

// Prefixes a router must not take: too long or short, not unicast, with
// host bits, lifetimes upside down; unique local ones are taken (an
// upstream router may delegate from its ULA prefix).
func TestHostilePrefixesRefused(t *testing.T) {
	for _, tc := range []struct {
		prefix    string
		pref, vld time.Duration
		ok        bool
		what      string
	}{
		{"fd12:3456:789a::/48", time.Hour, 2 * time.Hour, true, "unique local"},
		{"2001:db8:1::/128", time.Hour, 2 * time.Hour, false, "a /128"},
		{"2001:db8:1::/80", time.Hour, 2 * time.Hour, false, "longer than /64"},
		{"2000::/3", time.Hour, 2 * time.Hour, false, "a third of the Internet"},
		{"::/0", time.Hour, 2 * time.Hour, false, "everything"},
		{"fe80::/64", time.Hour, 2 * time.Hour, false, "link-local"},
		{"ff05::/56", time.Hour, 2 * time.Hour, false, "multicast"},
		{"::/56", time.Hour, 2 * time.Hour, false, "unspecified"},
		{"::ffff:0:0/96", time.Hour, 2 * time.Hour, false, "IPv4-mapped (and too long)"},
		{"100::/56", time.Hour, 2 * time.Hour, false, "discard-only (::/3)"},
		{"4000::/56", time.Hour, 2 * time.Hour, false, "reserved"},
		{"2001:db8:1:1::/56", time.Hour, 2 * time.Hour, false, "host bits set"},
		{"2001:db8:1::/56", 3 * time.Hour, 2 * time.Hour, false, "preferred above valid"},
		{"2001:db8:1::/56", time.Second, 20 * time.Second, false, "valid below MinLifetime"},
	} {
		p := netip.MustParsePrefix(tc.prefix)
		srv := newISP(t, "evil", 1)
		srv.mutate = func(m *d6.Message) {
			ia := m.Options.OneIAPD()
			ia.Options = d6.PDOptions{Options: d6.Options{&d6.OptIAPrefix{
				PreferredLifetime: tc.pref, ValidLifetime: tc.vld,
				Prefix: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 128)}}}}
		}
		s := newSim(t, testConfig(t), srv).start()
		s.advance(30 * time.Second)
		if got := s.m.lease != nil; got != tc.ok {
			t.Errorf("%s (%s): taken %v, want %v", tc.what, tc.prefix, got, tc.ok)
		}
		if !tc.ok && len(s.events) != 0 {
			t.Errorf("%s: events %v", tc.what, s.eventTypes())
		}
	}
}

// A server that refuses every Request after advertising, forever, gets a
// Solicit/Request pair at most every SOL_MAX_RT once the pauses have grown:
// the client never loops fast.
func TestHostileServerCannotMakeClientLoopFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  func(s *isp)
	}{
		{"refuses every Request", func(s *isp) {
			s.mutate = func(m *d6.Message) {
				if m.MessageType == d6.MessageTypeReply {
					m.Options.OneIAPD().Options = d6.PDOptions{Options: d6.Options{&d6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail}}}
				}
			}
		}},
		{"NotOnLink to every Request", func(s *isp) { s.status = iana.StatusNotOnLink }},
		{"UnspecFail to everything", func(s *isp) { s.status = iana.StatusUnspecFail }},
		{"1-second lifetimes", func(s *isp) { s.preferred, s.valid, s.t1, s.t2 = time.Second, time.Second, time.Second, time.Second }},
		{"30-second lifetimes (the least taken)", func(s *isp) { s.t1, s.t2, s.preferred, s.valid = 0, 0, 30*time.Second, 30*time.Second }},
		{"SOL_MAX_RT of 1 s", func(s *isp) {
			s.noPrefix = true
			s.extra = []d6.Option{&d6.OptionGeneric{OptionCode: d6.OptionSolMaxRT, OptionData: []byte{0, 0, 0, 1}}}
		}},
	} {
		srv := newISP(t, "evil", 1)
		tc.srv(srv)
		s := newSim(t, testConfig(t), srv).start()
		s.advance(24 * time.Hour)
		n := len(s.log)
		// The honest bound: Solicits back off to SOL_MAX_RT (an hour),
		// Requests to 30 s for 10 tries, renewals no faster than
		// MinRenewTime; a day of it is a few thousand messages at most,
		// where a loop would be millions.
		if n > 9000 {
			t.Errorf("%s: %d messages in a day", tc.name, n)
		}
		var gaps int
		for i := 1; i < len(s.log); i++ {
			if s.log[i].at.Sub(s.log[i-1].at) < 500*time.Millisecond && s.log[i].msg.MessageType == s.log[i-1].msg.MessageType {
				gaps++
			}
		}
		if gaps > 0 {
			t.Errorf("%s: %d repeats of a message within 0.5 s", tc.name, gaps)
		}
		t.Logf("%s: %d messages in a day", tc.name, n)
	}
}

// A flood of Advertises while soliciting keeps one candidate, not all.
func TestHostileAdvertiseFloodKeepsOne(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.silent[d6.MessageTypeSolicit] = true
	s := newSim(t, testConfig(t), srv).start()
	s.advance(SolMaxDelay)
	sol := s.sends(d6.MessageTypeSolicit)[0].msg
	for i := range 5000 {
		adv := &d6.Message{MessageType: d6.MessageTypeAdvertise, TransactionID: sol.TransactionID}
		adv.AddOption(sol.GetOneOption(d6.OptionClientID))
		adv.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: []byte{0, 2, 0, 0, 0, 9, byte(i >> 8), byte(i)}})
		adv.AddOption(d6.OptPreference(uint8(i % 200)))
		adv.AddOption(&d6.OptIAPD{IaId: iaid, Options: d6.PDOptions{Options: d6.Options{iaPrefix(ispPrefix, time.Hour, 2*time.Hour)}}})
		s.m.receive(s.now, adv.ToBytes(), serverLL)
	}
	if s.m.best == nil || s.m.best.pref != 199 {
		t.Errorf("best Advertise %+v, want one with preference 199", s.m.best)
	}
	if len(s.sends(d6.MessageTypeRequest)) != 0 {
		t.Error("a Request before the first RT ended")
	}
}

// Messages are read within bounds: too large, too many options, and a
// compressed domain list (whose decoding would cost time quadratic in its
// size) are not let through.
func TestHostileMessagesBounded(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.silent[d6.MessageTypeRequest] = true
	s := newSim(t, testConfig(t), srv).start()
	s.until(func() bool { return s.m.st == stateRequesting }, time.Minute)
	req := s.sends(d6.MessageTypeRequest)[0].msg
	reply := func(extra ...d6.Option) *d6.Message {
		m := &d6.Message{MessageType: d6.MessageTypeReply, TransactionID: req.TransactionID}
		m.AddOption(req.GetOneOption(d6.OptionClientID))
		m.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: srv.duid})
		m.AddOption(&d6.OptIAPD{IaId: iaid, Options: d6.PDOptions{Options: d6.Options{iaPrefix(ispPrefix, time.Hour, 2*time.Hour)}}})
		for _, o := range extra {
			m.AddOption(o)
		}
		return m
	}

	big := reply(&d6.OptionGeneric{OptionCode: 0x7fff, OptionData: make([]byte, MaxMessageLen)}).ToBytes()
	s.deliver(big, srv.addr)
	var many []d6.Option
	for range maxOptions {
		many = append(many, &d6.OptionGeneric{OptionCode: 0x7ffe})
	}
	s.deliver(reply(many...).ToBytes(), srv.addr)
	if s.m.st != stateRequesting || s.counters().Malformed != 2 {
		t.Fatalf("oversized or over-long messages taken: state %v, %+v", s.m.st, s.counters())
	}

	// A domain list made of one long name and hundreds of pointers to it.
	var dl []byte
	for range 300 {
		dl = append(dl, 1, 'a')
	}
	dl = append(dl, 0)
	for len(dl) < 1100 {
		dl = append(dl, 0xc0, 0)
	}
	start := time.Now()
	s.deliver(reply(&d6.OptionGeneric{OptionCode: d6.OptionDomainSearchList, OptionData: dl}).ToBytes(), srv.addr)
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("a compressed domain list took %v", d)
	}
	if s.m.lease == nil || len(s.m.lease.Domains) != 0 {
		t.Errorf("lease %v: want the prefix taken and the compressed list ignored", s.m.lease)
	}
}

// Truncated and garbled options never panic and never change state.
func TestHostileGarbledReplies(t *testing.T) {
	srv := newISP(t, "isp", 1)
	s := newSim(t, testConfig(t), srv).start()
	s.bound()
	good := srv.received()[len(srv.received())-1]
	srv.set(func(s *isp) { s.silent[d6.MessageTypeRenew] = true })
	s.until(func() bool { return s.m.st == stateRenewing }, 2*time.Hour)
	resp := srv.handle(good, AllServers)[0]
	resp.TransactionID = s.m.xid
	b := resp.ToBytes()
	for i := 4; i < len(b); i++ {
		for _, v := range []byte{0, 0xff, b[i] ^ 0x80} {
			x := bytes.Clone(b)
			x[i] = v
			s.m.receive(s.now, x, srv.addr)
		}
		s.m.receive(s.now, b[:i], srv.addr)
	}
	if s.m.lease == nil || s.m.lease.Prefix != ispPrefix {
		t.Errorf("lease %v after garbage", s.m.lease)
	}
	// A length field pointing past the end.
	x := bytes.Clone(b)
	binary.BigEndian.PutUint16(x[6:], 0xffff)
	s.m.receive(s.now, x, srv.addr)
}
