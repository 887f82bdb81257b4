package dhcpv6

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// Tests of RFC 8415 client behaviour, named after the section they prove.

// §15, §18.2.1: the first Solicit waits a random 0..SOL_MAX_DELAY; then RT
// starts strictly above IRT (1..1.1 s), doubles with ±10%, and stays within
// SOL_MAX_RT ±10%; retransmissions keep the transaction ID and count the
// elapsed time.
func TestRFC8415_15_SolicitRetransmission(t *testing.T) {
	for seed := range uint64(20) {
		cfg := testConfig(t)
		cfg.Rand = newRand(seed)
		s := newSim(t, cfg).start() // nobody answers
		s.advance(6 * time.Hour)
		sol := s.sends(d6.MessageTypeSolicit)
		if d := sol[0].at.Sub(epoch); d < 0 || d >= SolMaxDelay {
			t.Errorf("seed %d: first Solicit after %v, want [0, 1s)", seed, d)
		}
		prev := time.Duration(0)
		for i := 1; i < len(sol); i++ {
			rt := sol[i].at.Sub(sol[i-1].at)
			var lo, hi time.Duration
			switch {
			case i == 1:
				lo, hi = SolTimeout+1, SolTimeout*11/10
			default:
				lo, hi = prev*19/10, prev*21/10
			}
			if lo > SolMaxRT*9/10 {
				lo, hi = SolMaxRT*9/10, SolMaxRT*11/10
			}
			hi = min(hi, SolMaxRT*11/10)
			if rt < lo || rt > hi {
				t.Errorf("seed %d: Solicit %d after %v, want %v..%v", seed, i, rt, lo, hi)
			}
			prev = rt
			if sol[i].msg.TransactionID != sol[0].msg.TransactionID {
				t.Errorf("seed %d: retransmission %d changed the transaction ID", seed, i)
			}
			want := min(sol[i].at.Sub(sol[0].at).Round(10*time.Millisecond), 655350*time.Millisecond)
			if got := elapsed(sol[i].msg); got != want {
				t.Errorf("seed %d: Solicit %d elapsed %v, want %v", seed, i, got, want)
			}
		}
		if len(sol) < 14 || len(sol) > 20 {
			t.Errorf("seed %d: %d Solicits in 6 h", seed, len(sol))
		}
	}
}

// §18.2.9: Advertises are collected during the first RT and the most
// preferred server is asked, not the first to answer.
func TestRFC8415_18_2_9_AdvertisePreference(t *testing.T) {
	low, high := newISP(t, "low", 1), newISP(t, "high", 2)
	low.pref, high.pref = 10, 200
	high.prefix = ispPrefix2
	s := newSim(t, testConfig(t), low, high).start()
	l := s.bound()
	if l.Prefix != ispPrefix2 || !bytes.Equal(l.ServerID, high.duid) {
		t.Errorf("bound %v from %x, want %v from the preferred server", l.Prefix, l.ServerID, ispPrefix2)
	}
	req := s.sends(d6.MessageTypeRequest)[0]
	sol := s.sends(d6.MessageTypeSolicit)[0]
	if d := req.at.Sub(sol.at); d <= SolTimeout {
		t.Errorf("Request %v after the Solicit: sent before the first RT ended", d)
	}
	// Equal preference: with an address asked for, the server with one.
	a, b := newISP(t, "a", 1), newISP(t, "b", 2)
	a.address = netip.Addr{}
	b.prefix = ispPrefix2
	cfg := testConfig(t)
	cfg.RequestAddress = true
	s = newSim(t, cfg, a, b).start()
	if l := s.bound(); l.Prefix != ispPrefix2 || l.Address != ispAddr {
		t.Errorf("bound %v, want %v and an address from the server offering one", l, ispPrefix2)
	}
}

// §18.2.9: an Advertise with preference 255 is taken at once.
func TestRFC8415_18_2_9_Preference255TakenAtOnce(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.pref = 255
	s := newSim(t, testConfig(t), srv).start()
	s.bound()
	if d := s.sends(d6.MessageTypeRequest)[0].at.Sub(s.sends(d6.MessageTypeSolicit)[0].at); d != 0 {
		t.Errorf("Request %v after the Solicit, want at once", d)
	}
}

// §18.2.9: once the first RT is over, the first usable Advertise is taken.
func TestRFC8415_18_2_9_AdvertiseAfterFirstRTTakenAtOnce(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.silent[d6.MessageTypeSolicit] = true
	s := newSim(t, testConfig(t), srv).start()
	s.advance(20 * time.Second)
	srv.set(func(s *isp) { delete(s.silent, d6.MessageTypeSolicit) })
	s.bound()
	sol := s.sends(d6.MessageTypeSolicit)
	req := s.sends(d6.MessageTypeRequest)[0]
	if req.at != sol[len(sol)-1].at {
		t.Errorf("Request at %v, last Solicit at %v: want the Advertise taken at once", req.at, sol[len(sol)-1].at)
	}
}

// §18.2.1, §21.14: Rapid Commit binds on a two-message exchange; a server
// without it answers with an Advertise and the exchange goes on; a Reply
// to a Solicit without Rapid Commit is ignored.
func TestRFC8415_18_2_1_RapidCommit(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.rapid = true
	cfg := testConfig(t)
	cfg.RapidCommit = true
	s := newSim(t, cfg, srv).start()
	s.bound()
	if len(s.log) != 1 || s.log[0].msg.GetOneOption(d6.OptionRapidCommit) == nil {
		t.Errorf("sent %v, want one Solicit with Rapid Commit", s.log)
	}

	srv2 := newISP(t, "isp", 1) // no Rapid Commit
	cfg.StateDir = t.TempDir()
	s = newSim(t, cfg, srv2).start()
	s.bound()
	if len(s.sends(d6.MessageTypeRequest)) != 1 {
		t.Errorf("without server support: sent %v, want Solicit then Request", s.log)
	}

	srv3 := newISP(t, "isp", 1) // answers Reply without the option
	srv3.mutate = func(m *d6.Message) { m.MessageType = d6.MessageTypeReply }
	cfg.StateDir = t.TempDir()
	s = newSim(t, cfg, srv3).start()
	s.advance(30 * time.Second)
	if s.m.lease != nil || s.counters().Unexpected == 0 {
		t.Errorf("a Reply without Rapid Commit bound the lease (counters %+v)", s.counters())
	}
}

// §18.2.2, §7.6: Request is retransmitted at most REQ_MAX_RC times (RT
// doubling to REQ_MAX_RT), then the client starts over with a Solicit.
func TestRFC8415_18_2_2_RequestGivesUpAfterREQ_MAX_RC(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.silent[d6.MessageTypeRequest] = true
	s := newSim(t, testConfig(t), srv).start()
	s.until(func() bool { return len(s.sends(d6.MessageTypeSolicit)) > 1 }, time.Hour)
	req := s.sends(d6.MessageTypeRequest)
	if len(req) != ReqMaxRC {
		t.Fatalf("%d Requests, want %d", len(req), ReqMaxRC)
	}
	for i := 1; i < len(req); i++ {
		if rt := req[i].at.Sub(req[i-1].at); rt > ReqMaxRT*11/10 || rt < ReqTimeout*9/10 {
			t.Errorf("Request %d after %v", i, rt)
		}
	}
	sol := s.sends(d6.MessageTypeSolicit)
	if sol[1].msg.TransactionID == sol[0].msg.TransactionID {
		t.Errorf("the new Solicit reuses the old transaction ID")
	}
}

// §18.2.4, §18.2.5: Renew at T1 (with the Server Identifier, to all
// servers), retransmitted from REN_TIMEOUT, until T2; then Rebind (no
// Server Identifier) until the prefix expires; a Rebind answer renews.
func TestRFC8415_18_2_4_RenewAtT1RebindAtT2(t *testing.T) {
	srv := newISP(t, "isp", 1)
	s := newSim(t, testConfig(t), srv).start()
	l := s.bound()
	obtained := l.Obtained
	srv.set(func(s *isp) { s.silent[d6.MessageTypeRenew] = true })
	s.clearLog()
	s.until(func() bool { return len(s.sends(d6.MessageTypeRebind)) > 0 }, 2*time.Hour)

	renew := s.sends(d6.MessageTypeRenew)
	if renew[0].at != obtained.Add(l.T1) {
		t.Errorf("first Renew at %v, want T1 = %v", renew[0].at.Sub(obtained), l.T1)
	}
	if rt := renew[1].at.Sub(renew[0].at); rt < RenTimeout*9/10 || rt > RenTimeout*11/10 {
		t.Errorf("Renew retransmitted after %v, want REN_TIMEOUT ±10%%", rt)
	}
	for _, r := range renew {
		if r.to != AllServers || r.msg.GetOneOption(d6.OptionServerID) == nil {
			t.Errorf("%v: want to all servers with a Server Identifier", r)
		}
		if p, _ := iaPD(r.msg); p != ispPrefix {
			t.Errorf("%v renews %v", r, p)
		}
		if r.msg.TransactionID != renew[0].msg.TransactionID {
			t.Errorf("Renew retransmission changed the transaction ID")
		}
	}
	rebind := s.sends(d6.MessageTypeRebind)[0]
	if rebind.at != obtained.Add(l.T2) {
		t.Errorf("Rebind at %v, want T2 = %v", rebind.at.Sub(obtained), l.T2)
	}
	if got := s.eventTypes(); !slices.Equal(got, []string{"dhcpv6.PrefixRenewed"}) {
		t.Errorf("events %v: the Rebind's Reply should renew", got)
	}
	if s.m.st != stateBound || s.m.lease.Obtained != rebind.at {
		t.Errorf("state %v, lease obtained %v: want bound from the Rebind", s.m.st, s.m.lease.Obtained)
	}
}

// §18.2.5: a prefix nobody extends is lost when its valid lifetime ends,
// and the client Solicits again asking for it.
func TestRFC8415_18_2_5_ExpiryLosesPrefix(t *testing.T) {
	srv := newISP(t, "isp", 1)
	s := newSim(t, testConfig(t), srv).start()
	l := s.bound()
	srv.set(func(s *isp) {
		s.silent[d6.MessageTypeRenew], s.silent[d6.MessageTypeRebind], s.silent[d6.MessageTypeSolicit] = true, true, true
	})
	s.clearLog()
	s.until(func() bool { return s.m.lease == nil }, 3*time.Hour)
	if len(s.events) != 1 {
		t.Fatalf("events %v", s.eventTypes())
	}
	lost, ok := s.events[0].(PrefixLost)
	if !ok || lost.Reason != LostExpired || lost.Prefix != ispPrefix || s.now != l.Expiry() {
		t.Errorf("event %+v at %v, want PrefixLost expired at %v", s.events[0], s.now.Sub(epoch), l.Expiry().Sub(epoch))
	}
	reb := s.sends(d6.MessageTypeRebind)
	if last := reb[len(reb)-1]; last.at.After(l.Expiry()) {
		t.Errorf("Rebind after expiry")
	}
	sol := s.sends(d6.MessageTypeSolicit)
	if len(sol) == 0 {
		t.Fatal("no Solicit after expiry")
	}
	if p, _ := iaPD(sol[0].msg); p != ispPrefix {
		t.Errorf("Solicit asks for %v, want the lost %v", p, ispPrefix)
	}
	if _, err := os.Stat(filepath.Join(s.c.cfg.StateDir, LeaseFileName)); !os.IsNotExist(err) {
		t.Errorf("expired lease still remembered (%v)", err)
	}
}

// §21.4, §21.21: T1 ≤ T2 ≤ preferred; 0 is the client's choice (0.5 and
// 0.8 of the preferred lifetime); T1 > T2 > 0 discards the IA; lifetimes
// are capped.
func TestRFC8415_21_21_T1T2Sanity(t *testing.T) {
	const h = time.Hour
	for _, tc := range []struct {
		name                     string
		t1, t2, preferred, valid time.Duration
		ok                       bool
		wantT1, wantT2           time.Duration
	}{
		{"server's", 30 * time.Minute, 48 * time.Minute, h, 2 * h, true, 30 * time.Minute, 48 * time.Minute},
		{"zero is ours", 0, 0, h, 2 * h, true, 30 * time.Minute, 48 * time.Minute},
		{"T1 only", 20 * time.Minute, 0, h, 2 * h, true, 20 * time.Minute, 48 * time.Minute},
		{"T2 past preferred", 30 * time.Minute, 3 * h, h, 4 * h, true, 30 * time.Minute, 48 * time.Minute},
		{"T1 past T2 after fixing T2", 55 * time.Minute, 0, h, 2 * h, true, 30 * time.Minute, 48 * time.Minute},
		{"T1 > T2", 2 * h, h, 3 * h, 4 * h, false, 0, 0},
		{"too small", time.Second, 2 * time.Second, h, 2 * h, true, MinRenewTime, MinRenewTime},
		{"preferred 0", 0, 0, 0, 100 * time.Second, true, 50 * time.Second, 80 * time.Second},
		{"infinite", 0xffffffff * time.Second, 0xffffffff * time.Second, 0xffffffff * time.Second, 0xffffffff * time.Second, true, MaxLifetime / 2, MaxLifetime * 4 / 5},
	} {
		srv := newISP(t, "isp", 1)
		srv.t1, srv.t2, srv.preferred, srv.valid = tc.t1, tc.t2, tc.preferred, tc.valid
		s := newSim(t, testConfig(t), srv).start()
		s.advance(10 * time.Second)
		l := s.m.lease
		if (l != nil) != tc.ok {
			t.Errorf("%s: lease %v, want taken %v", tc.name, l, tc.ok)
			continue
		}
		if !tc.ok {
			if s.counters().BadIA == 0 {
				t.Errorf("%s: discarded IA not counted", tc.name)
			}
			continue
		}
		if l.T1 != tc.wantT1 || l.T2 != tc.wantT2 {
			t.Errorf("%s: T1 %v T2 %v, want %v %v", tc.name, l.T1, l.T2, tc.wantT1, tc.wantT2)
		}
		if l.ValidLifetime > MaxLifetime || !(MinRenewTime <= l.T1 && l.T1 <= l.T2 && l.T2 < l.ValidLifetime) {
			t.Errorf("%s: lease %v breaks MinRenewTime ≤ T1 ≤ T2 < valid ≤ MaxLifetime", tc.name, l)
		}
	}
}

// §18.2.9, §18.2.10.1: Advertises with NoPrefixAvail are ignored (the
// Solicit goes on at its pace); a Request refused with NoPrefixAvail makes
// the client Solicit again after a pause that doubles.
func TestRFC8415_18_2_10_NoPrefixAvailBacksOff(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.noPrefix = true
	s := newSim(t, testConfig(t), srv).start()
	s.advance(time.Minute)
	if n := len(s.sends(d6.MessageTypeRequest)); n != 0 || s.counters().NoPrefix == 0 {
		t.Errorf("%d Requests after NoPrefixAvail Advertises (counters %+v)", n, s.counters())
	}
	if n := len(s.sends(d6.MessageTypeSolicit)); n > 7 {
		t.Errorf("%d Solicits in a minute", n)
	}

	// Advertise with a prefix, Request refused.
	srv2 := newISP(t, "isp", 1)
	srv2.mutate = func(m *d6.Message) {
		if m.MessageType == d6.MessageTypeReply {
			ia := m.Options.OneIAPD()
			ia.Options = d6.PDOptions{Options: d6.Options{&d6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail}}}
		}
	}
	s = newSim(t, testConfig(t), srv2).start()
	s.advance(10 * time.Minute)
	sol := s.sends(d6.MessageTypeSolicit)
	req := s.sends(d6.MessageTypeRequest)
	if len(req) < 4 || len(req) > 12 {
		t.Fatalf("%d Requests in 10 minutes", len(req))
	}
	// Each new Solicit waits longer after the refusal than the last.
	var pauses []time.Duration
	for _, r := range req {
		for _, x := range sol {
			if x.at.After(r.at) {
				pauses = append(pauses, x.at.Sub(r.at))
				break
			}
		}
	}
	for i := 1; i < len(pauses); i++ {
		if pauses[i] < pauses[i-1]*17/10 {
			t.Errorf("pauses after refusals %v: not doubling", pauses)
			break
		}
	}
	if s.m.lease != nil || len(s.events) != 0 {
		t.Errorf("lease %v events %v", s.m.lease, s.eventTypes())
	}
}

// §18.2.10.1: NoBinding for the IA_PD in a Renew's Reply makes the client
// Request the prefix back.
func TestRFC8415_18_2_10_1_NoBindingRequestsBack(t *testing.T) {
	srv := newISP(t, "isp", 1)
	s := newSim(t, testConfig(t), srv).start()
	s.bound()
	srv.set(func(s *isp) { s.noBinding = true })
	s.clearLog()
	s.until(func() bool { return len(s.events) > 0 }, 2*time.Hour)
	var types []d6.MessageType
	for _, x := range s.log {
		types = append(types, x.msg.MessageType)
	}
	if !slices.Equal(types, []d6.MessageType{d6.MessageTypeRenew, d6.MessageTypeRequest}) {
		t.Errorf("sent %v, want Renew then Request", types)
	}
	if p, _ := iaPD(s.log[1].msg); p != ispPrefix {
		t.Errorf("Request asks for %v, want the held %v", p, ispPrefix)
	}
	if got := s.eventTypes(); !slices.Equal(got, []string{"dhcpv6.PrefixRenewed"}) {
		t.Errorf("events %v", got)
	}
}

// §18.2.10.1: after NoBinding, a Request nobody answers leaves the lease
// to its lifetimes: the client Rebinds with any server until it expires,
// and does not go back to Renewing the server that forgot it.
func TestRFC8415_18_2_10_1_NoBindingUnansweredRebinds(t *testing.T) {
	srv := newISP(t, "isp", 1)
	s := newSim(t, testConfig(t), srv).start()
	l := s.bound()
	srv.set(func(s *isp) {
		s.noBinding, s.silent[d6.MessageTypeRequest], s.silent[d6.MessageTypeRebind] = true, true, true
	})
	s.clearLog()
	s.until(func() bool { return s.m.lease == nil }, 3*time.Hour)
	reb := s.sends(d6.MessageTypeRebind)
	if len(reb) < 3 || !reb[0].at.Before(l.Obtained.Add(l.T2)) {
		t.Fatalf("sent %v: want Rebinds from before T2 (%v) until the lease expired", s.log, l.T2)
	}
	for _, x := range s.log {
		if x.at.After(reb[0].at) && x.msg.MessageType != d6.MessageTypeRebind && x.msg.MessageType != d6.MessageTypeSolicit {
			t.Errorf("%v while rebinding after NoBinding", x)
		}
	}
}

// §18.2.10.1: a renewal that brings another prefix (the old one with
// lifetime 0, or not mentioned) reports PrefixChanged with both.
func TestRFC8415_18_2_10_1_PrefixChangedOnRenew(t *testing.T) {
	for _, withdrawOld := range []bool{true, false} {
		srv := newISP(t, "isp", 1)
		s := newSim(t, testConfig(t), srv).start()
		old := *s.bound()
		srv.set(func(s *isp) {
			s.prefix = ispPrefix2
			if withdrawOld {
				s.withdraw = ispPrefix
			}
		})
		s.clearLog()
		s.until(func() bool { return len(s.events) > 0 }, 2*time.Hour)
		ch, ok := s.events[0].(PrefixChanged)
		if !ok || ch.Prefix != ispPrefix2 || ch.Old.Prefix != old.Prefix || ch.Old.Obtained != old.Obtained {
			t.Errorf("withdraw %v: event %+v, want PrefixChanged %v → %v", withdrawOld, s.events[0], ispPrefix, ispPrefix2)
		}
		// The next Renew asks for the new prefix.
		s.clearLog()
		s.until(func() bool { return len(s.sends(d6.MessageTypeRenew)) > 0 }, 2*time.Hour)
		if p, _ := iaPD(s.sends(d6.MessageTypeRenew)[0].msg); p != ispPrefix2 {
			t.Errorf("next Renew for %v", p)
		}
	}
}

// §18.2.10.1: a prefix the server withdraws (valid lifetime 0, or below
// MinLifetime) with nothing in its place is lost, and the client Solicits.
func TestRFC8415_18_2_10_1_PrefixWithdrawn(t *testing.T) {
	for _, valid := range []time.Duration{0, 5 * time.Second} {
		srv := newISP(t, "isp", 1)
		s := newSim(t, testConfig(t), srv).start()
		s.bound()
		srv.set(func(s *isp) { s.preferred, s.valid = 0, valid })
		s.clearLog()
		s.until(func() bool { return len(s.events) > 0 }, 2*time.Hour)
		lost, ok := s.events[0].(PrefixLost)
		if !ok || lost.Reason != LostWithdrawn || lost.Prefix != ispPrefix {
			t.Errorf("valid %v: event %+v, want PrefixLost withdrawn", valid, s.events[0])
		}
		s.advance(5 * time.Second)
		if sol := s.sends(d6.MessageTypeSolicit); len(sol) == 0 {
			t.Errorf("valid %v: no Solicit after the withdrawal", valid)
		} else if p, _ := iaPD(sol[0].msg); p.Addr().IsValid() && p.Addr() != netip.IPv6Unspecified() {
			t.Errorf("valid %v: Solicit asks for the withdrawn %v", valid, p)
		}
	}
}

// §16, §18.2.10: only Replies for this client, this exchange and (where
// one was named) this server count.
func TestRFC8415_16_RepliesValidated(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.silent[d6.MessageTypeRequest] = true
	s := newSim(t, testConfig(t), srv).start()
	s.until(func() bool { return s.m.st == stateRequesting }, time.Minute)
	req := s.sends(d6.MessageTypeRequest)[0].msg

	good := func() *d6.Message {
		m := &d6.Message{MessageType: d6.MessageTypeReply, TransactionID: req.TransactionID}
		m.AddOption(req.GetOneOption(d6.OptionClientID))
		m.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: srv.duid})
		m.AddOption(&d6.OptIAPD{IaId: iaid, Options: d6.PDOptions{Options: d6.Options{iaPrefix(ispPrefix, time.Hour, 2*time.Hour)}}})
		return m
	}
	for _, tc := range []struct {
		name  string
		mod   func(m *d6.Message)
		count func(k Counters) uint64
	}{
		{"wrong xid", func(m *d6.Message) { m.TransactionID[0] ^= 1 }, func(k Counters) uint64 { return k.WrongXID }},
		{"no client id", func(m *d6.Message) { m.Options.Del(d6.OptionClientID) }, func(k Counters) uint64 { return k.WrongClientID }},
		{"other client id", func(m *d6.Message) {
			m.UpdateOption(&d6.OptionGeneric{OptionCode: d6.OptionClientID, OptionData: []byte{0, 3, 0, 1, 2, 2, 2, 2, 2, 2}})
		}, func(k Counters) uint64 { return k.WrongClientID }},
		{"no server id", func(m *d6.Message) { m.Options.Del(d6.OptionServerID) }, func(k Counters) uint64 { return k.BadServerID }},
		{"other server", func(m *d6.Message) {
			m.UpdateOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: []byte{0, 2, 0, 0, 0, 1, 'x'}})
		}, func(k Counters) uint64 { return k.BadServerID }},
		{"server id too short", func(m *d6.Message) {
			m.UpdateOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: []byte{0, 9}})
		}, func(k Counters) uint64 { return k.BadServerID }},
		{"advertise", func(m *d6.Message) { m.MessageType = d6.MessageTypeAdvertise }, func(k Counters) uint64 { return k.Unexpected }},
		{"relay-reply", func(m *d6.Message) { m.MessageType = d6.MessageTypeRelayReply }, func(k Counters) uint64 { return k.Unexpected }},
		{"solicit", func(m *d6.Message) { m.MessageType = d6.MessageTypeSolicit }, func(k Counters) uint64 { return k.Unexpected }},
	} {
		m := good()
		tc.mod(m)
		before := tc.count(s.counters())
		s.deliver(m.ToBytes(), srv.addr)
		if s.m.st != stateRequesting || s.m.lease != nil {
			t.Fatalf("%s: changed the state to %v", tc.name, s.m.st)
		}
		if tc.count(s.counters()) != before+1 {
			t.Errorf("%s: not counted as such (%+v)", tc.name, s.counters())
		}
	}
	s.deliver(good().ToBytes(), srv.addr)
	if s.m.st != stateBound {
		t.Errorf("the good Reply did not bind (state %v)", s.m.st)
	}
}

// §18.2.10: UnspecFail and UseMulticast in a Reply change nothing and do
// not make the client resend at once (retransmission keeps its pace).
func TestRFC8415_18_2_10_StatusRateLimited(t *testing.T) {
	for _, st := range []iana.StatusCode{iana.StatusUnspecFail, iana.StatusUseMulticast} {
		srv := newISP(t, "isp", 1)
		srv.status = st
		s := newSim(t, testConfig(t), srv).start()
		s.advance(time.Minute)
		req := s.sends(d6.MessageTypeRequest)
		if len(req) == 0 || len(req) > 7 {
			t.Fatalf("%v: %d Requests in a minute", st, len(req))
		}
		for i := 1; i < len(req); i++ {
			if req[i].at.Sub(req[i-1].at) < ReqTimeout*9/10 {
				t.Errorf("%v: Requests %v apart", st, req[i].at.Sub(req[i-1].at))
			}
		}
		if s.m.lease != nil || s.counters().Status == 0 {
			t.Errorf("%v: lease %v, counters %+v", st, s.m.lease, s.counters())
		}
	}
}

// §18.2.11: Reconfigure is never accepted (no Reconfigure Accept was sent,
// and there is no authentication): it is counted and changes nothing.
func TestRFC8415_18_2_11_ReconfigureIgnored(t *testing.T) {
	srv := newISP(t, "isp", 1)
	s := newSim(t, testConfig(t), srv).start()
	s.bound()
	for _, m := range s.log {
		if m.msg.GetOneOption(d6.OptionReconfAccept) != nil {
			t.Errorf("%v offers Reconfigure Accept", m)
		}
	}
	s.clearLog()
	rc := &d6.Message{MessageType: d6.MessageTypeReconfigure}
	rc.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionClientID, OptionData: s.c.duid})
	rc.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: srv.duid})
	rc.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionReconfMessage, OptionData: []byte{byte(d6.MessageTypeRenew)}})
	s.deliver(rc.ToBytes(), srv.addr)
	if len(s.log) != 0 || s.m.st != stateBound || s.counters().Reconfigure != 1 {
		t.Errorf("after Reconfigure: sent %v, state %v, counters %+v", s.log, s.m.st, s.counters())
	}
}

// §18.2.4, §21.12: the server's unicast option is ignored unless allowed;
// allowed, Renew goes to it, and UseMulticast sends the client back to
// all servers.
func TestRFC8415_21_12_ServerUnicast(t *testing.T) {
	unicast := netip.MustParseAddr("2001:db8:1::547")
	for _, allow := range []bool{false, true} {
		srv := newISP(t, "isp", 1)
		srv.addr = unicast
		srv.extra = []d6.Option{&d6.OptionGeneric{OptionCode: d6.OptionUnicast, OptionData: unicast.AsSlice()}}
		cfg := testConfig(t)
		cfg.AllowUnicast = allow
		s := newSim(t, cfg, srv).start()
		s.bound()
		s.clearLog()
		s.until(func() bool { return len(s.sends(d6.MessageTypeRenew)) > 0 }, 2*time.Hour)
		want := AllServers
		if allow {
			want = unicast
		}
		if got := s.sends(d6.MessageTypeRenew)[0].to; got != want {
			t.Errorf("allow %v: Renew to %v, want %v", allow, got, want)
		}
		if allow {
			srv.set(func(s *isp) { s.status = iana.StatusUseMulticast })
			s.clearLog()
			s.until(func() bool { return len(s.sends(d6.MessageTypeRenew)) > 1 }, time.Hour)
			if got := s.sends(d6.MessageTypeRenew)[1].to; got != AllServers {
				t.Errorf("after UseMulticast Renew to %v", got)
			}
		}
	}
}

// §18.2.7: Release on stop names the server and the prefix, ends with
// PrefixLost(released), and the next start asks for the prefix with a
// Solicit rather than a Rebind.
func TestRFC8415_18_2_7_ReleaseOnStop(t *testing.T) {
	srv := newISP(t, "isp", 1)
	cfg := testConfig(t)
	cfg.ReleaseOnStop = true
	r := newRunner(t, cfg, srv)
	if !r.until(func() bool { return len(r.eventList()) > 0 }, 50) {
		t.Fatalf("no lease; sent %v; status %+v", r.link.sent(), r.c.Status())
	}
	r.stop()
	sent := r.link.sent()
	rel := sent[len(sent)-1]
	if rel.msg.MessageType != d6.MessageTypeRelease {
		t.Fatalf("last message %v, want Release", rel)
	}
	if sid := rel.msg.GetOneOption(d6.OptionServerID); sid == nil || !bytes.Equal(sid.ToBytes(), srv.duid) {
		t.Errorf("Release's server id %v", sid)
	}
	if p, _ := iaPD(rel.msg); p != ispPrefix {
		t.Errorf("Release for %v", p)
	}
	ev := r.eventList()
	if lost, ok := ev[len(ev)-1].(PrefixLost); !ok || lost.Reason != LostReleased {
		t.Errorf("events %v, want PrefixLost released last", ev)
	}
	if st := r.c.Status(); st.State != "stopped" || st.Lease != nil || st.Counters.Releases != 1 {
		t.Errorf("status %+v", st)
	}
	// The next start: Solicit with the released prefix as hint.
	s := newSim(t, cfg, newISP(t, "isp", 1)).start()
	s.advance(SolMaxDelay)
	if len(s.log) == 0 || s.log[0].msg.MessageType != d6.MessageTypeSolicit {
		t.Fatalf("after a release the client sent %v, want a Solicit", s.log)
	}
	if p, _ := iaPD(s.log[0].msg); p != ispPrefix {
		t.Errorf("Solicit hints %v, want the released %v", p, ispPrefix)
	}
}

// A silent server does not hold up shutdown: the Release is given up
// after ReleaseWait.
func TestReleaseWaitBounded(t *testing.T) {
	srv := newISP(t, "isp", 1)
	cfg := testConfig(t)
	cfg.ReleaseOnStop = true
	r := newRunner(t, cfg, srv)
	if !r.until(func() bool { return len(r.eventList()) > 0 }, 50) {
		t.Fatal("no lease")
	}
	srv.set(func(s *isp) { s.silent[d6.MessageTypeRelease] = true })
	start := r.clock.Now()
	r.stop()
	var rel []sent
	for _, x := range r.link.sent() {
		if x.msg.MessageType == d6.MessageTypeRelease {
			rel = append(rel, x)
		}
	}
	if len(rel) < 2 || len(rel) > RelMaxRC || r.clock.Now().Sub(start) > ReleaseWait {
		t.Errorf("%d Releases over %v", len(rel), r.clock.Now().Sub(start))
	}
}

// §18.2.12 (and RFC 7084 W-6's purpose): after a restart the remembered
// prefix is confirmed with a Rebind that names it; the ISP keeps it.
func TestRFC8415_18_2_12_RestartConfirmsPrefixWithRebind(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.StateDir = dir
	cfg.RequestAddress = true
	s := newSim(t, cfg, newISP(t, "isp", 1)).start()
	first := *s.bound()

	// Restart (no Release), a little later.
	srv := newISP(t, "isp", 1)
	s2 := newSim(t, cfg, srv)
	s2.now = s.now.Add(10 * time.Minute)
	s2.start()
	if len(s2.log) == 0 {
		t.Fatal("nothing sent at once after the restart")
	}
	rb := s2.log[0]
	if rb.msg.MessageType != d6.MessageTypeRebind || rb.at != s2.now {
		t.Fatalf("first message %v, want an immediate Rebind", rb)
	}
	if p, _ := iaPD(rb.msg); p != first.Prefix {
		t.Errorf("Rebind for %v, want %v", p, first.Prefix)
	}
	if a := rb.msg.Options.OneIANA().Options.OneAddress(); a == nil {
		t.Errorf("Rebind without the remembered address")
	}
	if got := s2.eventTypes(); !slices.Equal(got, []string{"dhcpv6.PrefixAcquired"}) || s2.m.lease.Prefix != first.Prefix {
		t.Errorf("events %v lease %v", got, s2.m.lease)
	}

	// Restart with a server that stays silent to Rebind: after
	// RebootRebind, Solicit asking for the remembered prefix.
	srv3 := newISP(t, "isp", 1)
	srv3.silent[d6.MessageTypeRebind] = true
	s3 := newSim(t, cfg, srv3)
	s3.now = s2.now.Add(time.Minute)
	s3.start()
	start := s3.now
	s3.bound()
	sol := s3.sends(d6.MessageTypeSolicit)
	if sol[0].at.Sub(start) != RebootRebind {
		t.Errorf("Solicit %v after the restart, want %v", sol[0].at.Sub(start), RebootRebind)
	}
	if p, _ := iaPD(sol[0].msg); p != first.Prefix {
		t.Errorf("Solicit hints %v", p)
	}

	// Restart where the ISP renumbered meanwhile: PrefixChanged names the
	// remembered prefix, which LAN hosts may still use.
	srv4 := newISP(t, "isp", 1)
	srv4.prefix = ispPrefix2
	srv4.withdraw = ispPrefix
	s4 := newSim(t, cfg, srv4)
	s4.now = s3.now.Add(time.Minute)
	s4.start()
	s4.bound()
	if len(s4.events) != 1 {
		t.Fatalf("events %v", s4.eventTypes())
	}
	if ch, ok := s4.events[0].(PrefixChanged); !ok || ch.Prefix != ispPrefix2 || ch.Old.Prefix != ispPrefix {
		t.Errorf("event %+v, want PrefixChanged from the remembered prefix", s4.events[0])
	}

	// A remembered lease that has expired is not Rebound: Solicit with it
	// as a hint, and PrefixAcquired.
	s5 := newSim(t, cfg, newISP(t, "isp", 1))
	s5.now = s4.now.Add(3 * time.Hour)
	s5.start()
	s5.bound()
	if s5.log[0].msg.MessageType != d6.MessageTypeSolicit {
		t.Errorf("expired lease: first message %v", s5.log[0])
	}
	if got := s5.eventTypes(); !slices.Equal(got, []string{"dhcpv6.PrefixAcquired"}) {
		t.Errorf("expired lease: events %v", got)
	}
}

// The lease file: written atomically on every change, ignored when
// damaged or another client's, forgotten when the prefix is lost.
func TestLeaseFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.StateDir = dir
	s := newSim(t, cfg, newISP(t, "isp", 1)).start()
	l := s.bound()
	path := filepath.Join(dir, LeaseFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"prefix": "2001:db8:100::/56"`, `"duid": "` + hex.EncodeToString(s.c.duid) + `"`, `"server_id": "` + hex.EncodeToString(l.ServerID) + `"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("lease file lacks %s:\n%s", want, data)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
	for _, bad := range []string{"", "{", `{"version": 9}`, strings.Replace(string(data), hex.EncodeToString(s.c.duid), "0003000102aabbccddee", 1),
		strings.Replace(string(data), "2001:db8:100::/56", "fe80::/56", 1), strings.Repeat(" ", maxStateFile+1)} {
		os.WriteFile(path, []byte(bad), 0o600)
		s2 := newSim(t, cfg, newISP(t, "isp", 1)).start()
		s2.advance(SolMaxDelay)
		if len(s2.log) == 0 || s2.log[0].msg.MessageType != d6.MessageTypeSolicit {
			t.Errorf("lease file %.40q: sent %v, want a plain Solicit", bad, s2.log)
		} else if p, _ := iaPD(s2.log[0].msg); p.Addr() != netip.IPv6Unspecified() {
			t.Errorf("lease file %.40q: hint %v taken from it", bad, p)
		}
	}
}

// Renewals that change only lifetimes do not rewrite the lease file more
// than once per PersistEvery (a server with short lifetimes must not wear
// out the SD card); a changed prefix is written at once.
func TestLeaseFileWritesPaced(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.preferred, srv.valid, srv.t1, srv.t2 = time.Minute, time.Minute, 0, 0
	cfg := testConfig(t)
	s := newSim(t, cfg, srv).start()
	s.bound()
	path := filepath.Join(cfg.StateDir, LeaseFileName)
	first, _ := os.ReadFile(path)
	s.advance(30 * time.Minute)
	if n := len(s.sends(d6.MessageTypeRenew)); n < 50 {
		t.Fatalf("%d renewals in 30 minutes", n)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) {
		t.Errorf("lease file rewritten within PersistEvery")
	}
	s.advance(PersistEvery)
	if now, _ := os.ReadFile(path); bytes.Equal(now, first) {
		t.Errorf("lease file not refreshed after PersistEvery")
	}
	srv.set(func(s *isp) { s.prefix = ispPrefix2 })
	s.until(func() bool { return s.m.lease.Prefix == ispPrefix2 }, time.Hour)
	if now, _ := os.ReadFile(path); !strings.Contains(string(now), ispPrefix2.String()) {
		t.Errorf("new prefix not written at once")
	}
}
