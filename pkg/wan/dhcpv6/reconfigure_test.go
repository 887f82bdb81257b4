package dhcpv6

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"testing"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
)

var testKey = []byte("0123456789abcdef")

// authOption is an RKAP Authentication option as RFC 8415 §21.11 and
// §20.4 lay it out, built here byte by byte: protocol 3, algorithm 1
// (HMAC-MD5), RDM 0, the replay counter, then the type and 16 bytes.
func authOption(proto, alg, rdm byte, replay uint64, typ byte, value []byte) []byte {
	b := []byte{proto, alg, rdm, 0, 0, 0, 0, 0, 0, 0, 0, typ}
	binary.BigEndian.PutUint64(b[3:], replay)
	return append(b, value...)
}

// keyedISP is an ISP that agrees to Reconfigure: every Reply carries the
// reconfigure key.
func keyedISP(t *testing.T) *isp {
	srv := newISP(t, "isp", 1)
	srv.mutate = func(resp *d6.Message) {
		if resp.MessageType == d6.MessageTypeReply {
			resp.AddOption(&d6.OptionGeneric{OptionCode: optAuth, OptionData: authOption(3, 1, 0, 100, 1, testKey)})
		}
	}
	return srv
}

// rcOpt is one top-level option of a Reconfigure under construction.
type rcOpt struct {
	code uint16
	data []byte
}

// reconfigureMsg builds a Reconfigure (type 10) with opts in order; the
// Authentication option, if any, is signed last: HMAC-MD5 under key over
// the whole message with the digest zeroed (RFC 8415 §20.4.2). sign false
// leaves the digest as given.
func reconfigureMsg(opts []rcOpt, key []byte, sign bool) []byte {
	b := []byte{byte(d6.MessageTypeReconfigure), 0, 0, 0}
	digestAt := -1
	for _, o := range opts {
		b = binary.BigEndian.AppendUint16(b, o.code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(o.data)))
		if o.code == optAuth && len(o.data) == authOptionLen && digestAt < 0 {
			digestAt = len(b) + 12
		}
		b = append(b, o.data...)
	}
	if sign && digestAt >= 0 {
		clear(b[digestAt : digestAt+16])
		mac := hmac.New(md5.New, key)
		mac.Write(b)
		copy(b[digestAt:], mac.Sum(nil))
	}
	return b
}

// validReconfigure is what a server holding the binding sends.
func validReconfigure(s *sim, srv *isp, typ d6.MessageType, replay uint64) []rcOpt {
	return []rcOpt{
		{uint16(d6.OptionServerID), srv.duid},
		{uint16(d6.OptionClientID), s.c.duid},
		{uint16(d6.OptionReconfMessage), []byte{byte(typ)}},
		{optAuth, authOption(3, 1, 0, replay, 2, make([]byte, 16))},
	}
}

func acceptingConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.AcceptReconfigure = true
	return cfg
}

// RFC 7084 WAA-4: with AcceptReconfigure the client offers Reconfigure
// Accept in Solicit, Request, Renew and Rebind (never in Release);
// without it, in none.
func TestRFC7084_WAA4_ReconfigureAccept(t *testing.T) {
	for _, accept := range []bool{false, true} {
		srv := keyedISP(t)
		cfg := testConfig(t)
		cfg.AcceptReconfigure = accept
		s := newSim(t, cfg, srv).start()
		s.bound()
		srv.set(func(s *isp) { s.silent[d6.MessageTypeRenew] = true })
		s.until(func() bool { return len(s.sends(d6.MessageTypeRebind)) > 0 }, 3*time.Hour)
		seen := map[d6.MessageType]bool{}
		for _, m := range s.log {
			has := m.msg.GetOneOption(d6.OptionReconfAccept) != nil
			seen[m.msg.MessageType] = true
			if has != accept {
				t.Errorf("accept %v: %v has Reconfigure Accept %v", accept, m.msg.MessageType, has)
			}
		}
		for _, typ := range []d6.MessageType{d6.MessageTypeSolicit, d6.MessageTypeRequest, d6.MessageTypeRenew, d6.MessageTypeRebind} {
			if !seen[typ] {
				t.Errorf("accept %v: no %v sent", accept, typ)
			}
		}
	}
}

// RFC 8415 §18.2.11: a Reconfigure signed with the key from the Reply
// makes the bound client Renew (or Rebind) at once, whatever its
// transaction ID; the Reply's new lifetimes are taken.
func TestRFC8415_18_2_11_ReconfigureRenew(t *testing.T) {
	for _, typ := range []d6.MessageType{d6.MessageTypeRenew, d6.MessageTypeRebind} {
		srv := keyedISP(t)
		s := newSim(t, acceptingConfig(t), srv).start()
		s.bound()
		s.advance(10 * time.Minute)
		srv.set(func(s *isp) { s.preferred, s.valid = 5000*time.Second, 9000*time.Second })
		s.clearLog()
		s.deliver(reconfigureMsg(validReconfigure(s, srv, typ, 101), testKey, true), srv.addr)
		if got := s.sends(typ); len(got) != 1 {
			t.Fatalf("%v: after a valid Reconfigure sent %v, want one %v", typ, s.log, typ)
		}
		if s.m.st != stateBound || s.m.lease.ValidLifetime != 9000*time.Second || s.counters().ReconfigureAccepted != 1 {
			t.Errorf("%v: state %v, lease %v, counters %+v", typ, s.m.st, s.m.lease, s.counters())
		}
		if got := s.eventTypes(); len(got) != 1 || got[0] != "dhcpv6.PrefixRenewed" {
			t.Errorf("%v: events %v, want one renewal", typ, got)
		}
	}
}

// RFC 8415 §20.4 and §18.2.11, the attacker's side: every Reconfigure
// below is refused, sends nothing, leaves the lease as it was and is
// counted.
func TestRFC8415_20_4_ReconfigureAuthentication(t *testing.T) {
	type tc struct {
		name  string
		build func(s *sim, srv *isp) []byte
		cfg   func(*Config)
	}
	valid := func(s *sim, srv *isp) []rcOpt { return validReconfigure(s, srv, d6.MessageTypeRenew, 101) }
	with := func(f func([]rcOpt) []rcOpt) func(s *sim, srv *isp) []byte {
		return func(s *sim, srv *isp) []byte { return reconfigureMsg(f(valid(s, srv)), testKey, true) }
	}
	auth := func(proto, alg, rdm byte, replay uint64, typ byte) func(s *sim, srv *isp) []byte {
		return with(func(o []rcOpt) []rcOpt {
			o[3].data = authOption(proto, alg, rdm, replay, typ, make([]byte, 16))
			return o
		})
	}
	cases := []tc{
		{"Reconfigure Accept off", func(s *sim, srv *isp) []byte { return reconfigureMsg(valid(s, srv), testKey, true) },
			func(c *Config) { c.AcceptReconfigure = false }},
		{"wrong key", func(s *sim, srv *isp) []byte {
			return reconfigureMsg(valid(s, srv), []byte("fedcba9876543210"), true)
		}, nil},
		{"digest over another message", func(s *sim, srv *isp) []byte {
			b := reconfigureMsg(valid(s, srv), testKey, true)
			b[1] ^= 0xff // the transaction ID, after signing
			return b
		}, nil},
		{"unsigned", func(s *sim, srv *isp) []byte { return reconfigureMsg(valid(s, srv), testKey, false) }, nil},
		{"wrong client ID", with(func(o []rcOpt) []rcOpt { o[1].data = []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 9}; return o }), nil},
		{"no client ID", with(func(o []rcOpt) []rcOpt { return append(o[:1:1], o[2:]...) }), nil},
		{"another server", with(func(o []rcOpt) []rcOpt { o[0].data = []byte{0, 2, 0, 0, 9, 0xbf, 'e', 'v', 'i', 'l'}; return o }), nil},
		{"replayed counter", auth(3, 1, 0, 100, 2), nil},
		{"lower counter", auth(3, 1, 0, 5, 2), nil},
		{"no Reconfigure Message", with(func(o []rcOpt) []rcOpt { return append(o[:2:2], o[3]) }), nil},
		{"two Reconfigure Messages", with(func(o []rcOpt) []rcOpt {
			return append(o[:3:3], rcOpt{uint16(d6.OptionReconfMessage), []byte{5}}, o[3])
		}), nil},
		{"Information-request", with(func(o []rcOpt) []rcOpt { o[2].data = []byte{11}; return o }), nil},
		{"msg-type 99", with(func(o []rcOpt) []rcOpt { o[2].data = []byte{99}; return o }), nil},
		{"two Authentication options", with(func(o []rcOpt) []rcOpt { return append(o, o[3]) }), nil},
		{"no Authentication option", with(func(o []rcOpt) []rcOpt { return o[:3] }), nil},
		{"RDM 1", auth(3, 1, 1, 101, 2), nil},
		{"algorithm 2", auth(3, 2, 0, 101, 2), nil},
		{"protocol 2 (delayed authentication)", auth(2, 1, 0, 101, 2), nil},
		{"a key instead of a digest", auth(3, 1, 0, 101, 1), nil},
		{"truncated Authentication option", with(func(o []rcOpt) []rcOpt { o[3].data = o[3].data[:20]; return o }), nil},
		{"cut off", func(s *sim, srv *isp) []byte { b := reconfigureMsg(valid(s, srv), testKey, true); return b[:len(b)-3] }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := keyedISP(t)
			cfg := acceptingConfig(t)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			s := newSim(t, cfg, srv).start()
			before := s.bound().String()
			s.advance(10 * time.Minute)
			s.clearLog()
			s.deliver(c.build(s, srv), srv.addr)
			if len(s.log) != 0 || s.m.st != stateBound || s.m.lease.String() != before || s.counters().Reconfigure != 1 || s.counters().ReconfigureAccepted != 0 {
				t.Errorf("sent %v, state %v, counters %+v", s.log, s.m.st, s.counters())
			}
		})
	}
}

// No key yet (a server that did not agree), during an exchange, and a
// flood of valid ones: refused or limited.
func TestReconfigureStateAndRate(t *testing.T) {
	// A server that sends no key.
	srv := newISP(t, "isp", 1)
	s := newSim(t, acceptingConfig(t), srv).start()
	s.bound()
	s.clearLog()
	s.deliver(reconfigureMsg(validReconfigure(s, srv, d6.MessageTypeRenew, 101), testKey, true), srv.addr)
	if len(s.log) != 0 || s.counters().Reconfigure != 1 {
		t.Errorf("without a key: sent %v, counters %+v", s.log, s.counters())
	}

	// During a Renew the server does not answer.
	srv = keyedISP(t)
	s = newSim(t, acceptingConfig(t), srv).start()
	s.bound()
	srv.set(func(s *isp) { s.silent[d6.MessageTypeRenew] = true })
	s.until(func() bool { return s.m.st == stateRenewing }, 2*time.Hour)
	s.clearLog()
	s.deliver(reconfigureMsg(validReconfigure(s, srv, d6.MessageTypeRenew, 101), testKey, true), srv.addr)
	if len(s.log) != 0 || s.counters().Reconfigure != 1 {
		t.Errorf("during a Renew: sent %v, counters %+v", s.log, s.counters())
	}

	// A flood of valid Reconfigures within a second: one Renew.
	srv = keyedISP(t)
	s = newSim(t, acceptingConfig(t), srv).start()
	s.bound()
	s.advance(time.Minute)
	s.clearLog()
	for i := range 1000 {
		s.deliver(reconfigureMsg(validReconfigure(s, srv, d6.MessageTypeRenew, uint64(101+i)), testKey, true), srv.addr)
		s.now = s.now.Add(time.Millisecond)
	}
	if got := s.sends(d6.MessageTypeRenew); len(got) != 1 || s.counters().ReconfigureAccepted != 1 {
		t.Errorf("a flood: %d Renews, counters %+v", len(got), s.counters())
	}
	// After ReconfigureMinInterval the next one is taken.
	s.now = s.now.Add(ReconfigureMinInterval)
	s.deliver(reconfigureMsg(validReconfigure(s, srv, d6.MessageTypeRenew, 5000), testKey, true), srv.addr)
	if s.counters().ReconfigureAccepted != 2 {
		t.Errorf("after the interval: counters %+v", s.counters())
	}
}

// FuzzReconfigure: arbitrary messages to a bound client holding a key
// never panic and never start an exchange unless they pass the HMAC
// check, which the fuzzer cannot forge.
func FuzzReconfigure(f *testing.F) {
	f.Add(reconfigureMsg([]rcOpt{{2, []byte{0, 2, 0, 0, 0x09, 0xbf, 'i', 's', 'p', 1}}, {19, []byte{5}}, {11, authOption(3, 1, 0, 200, 2, make([]byte, 16))}}, testKey, false))
	f.Add([]byte{10, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 0 {
			b[0] = byte(d6.MessageTypeReconfigure)
		}
		srv := keyedISP(t)
		s := newSim(t, acceptingConfig(t), srv).start()
		s.bound()
		s.clearLog()
		_, _, why := checkReconfigure(b, s.c.duid, s.m.key)
		s.m.receive(s.now, b, srv.addr)
		if why != "" && (s.m.st != stateBound || s.counters().ReconfigureAccepted != 0) {
			t.Fatalf("refused (%s) but acted: state %v", why, s.m.st)
		}
	})
}

// A Rebind that a Reconfigure started before T2 stays a Rebind when it is
// retransmitted (the server does not answer the first).
func TestReconfigureRebindRetransmittedAsRebind(t *testing.T) {
	srv := keyedISP(t)
	s := newSim(t, acceptingConfig(t), srv).start()
	s.bound()
	s.advance(time.Minute)
	srv.set(func(s *isp) { s.silent[d6.MessageTypeRebind] = true })
	s.clearLog()
	s.deliver(reconfigureMsg(validReconfigure(s, srv, d6.MessageTypeRebind, 101), testKey, true), srv.addr)
	s.advance(30 * time.Second)
	if rb, rn := s.sends(d6.MessageTypeRebind), s.sends(d6.MessageTypeRenew); len(rb) < 2 || len(rn) != 0 {
		t.Errorf("after a Reconfigure(Rebind) unanswered: %d Rebinds, %d Renews; want Rebinds only", len(rb), len(rn))
	}
}

// A Reconfigure that was taken cannot be replayed after the Renew's Reply
// brings the same key with a lower counter.
func TestReconfigureReplayAfterSameKey(t *testing.T) {
	srv := keyedISP(t) // every Reply: the same key, counter 100
	s := newSim(t, acceptingConfig(t), srv).start()
	s.bound()
	s.advance(time.Minute)
	msg := reconfigureMsg(validReconfigure(s, srv, d6.MessageTypeRenew, 150), testKey, true)
	s.deliver(msg, srv.addr)
	if s.counters().ReconfigureAccepted != 1 {
		t.Fatalf("the first was not taken: %+v", s.counters())
	}
	s.now = s.now.Add(2 * ReconfigureMinInterval)
	s.clearLog()
	s.deliver(msg, srv.addr)
	if len(s.log) != 0 || s.counters().ReconfigureAccepted != 1 {
		t.Errorf("the same Reconfigure replayed: sent %v, counters %+v", s.log, s.counters())
	}
}
