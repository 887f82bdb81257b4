package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// fuzzStates are the states FuzzReply puts the client in before feeding it.
var fuzzStates = []state{stateSoliciting, stateRequesting, stateBound, stateRenewing, stateRebinding, stateRebooting, stateReleasing}

// fuzzRig brings a client (with a lease file kept in memory only) to a
// state by a normal exchange with a test ISP, then silences the ISP.
func fuzzRig(t *testing.T, st state) *sim {
	srv := newISP(t, "isp", 1)
	cfg := Config{RequestAddress: true, RapidCommit: true, ReleaseOnStop: true}
	s := newSim(t, cfg, srv)
	if st == stateRebooting {
		s.c.ensureDUID()
		s.m = newMachine(s.c, func(e Event) { s.events = append(s.events, e) })
		s.m.remembered = &Lease{Prefix: ispPrefix, PreferredLifetime: time.Hour, ValidLifetime: 2 * time.Hour,
			ServerID: srv.duid, Obtained: s.now.Add(-time.Minute), Address: ispAddr, AddressPreferred: time.Hour, AddressValid: 2 * time.Hour}
		s.m.enterRebooting(s.now)
		srv.set(func(s *isp) { s.silent[d6.MessageTypeRebind] = true })
		s.pump()
		return s
	}
	s.start()
	switch st {
	case stateSoliciting:
		srv.set(func(s *isp) { s.silent[d6.MessageTypeSolicit] = true })
		s.until(func() bool { return s.m.st == stateSoliciting }, time.Minute)
	case stateRequesting:
		srv.set(func(s *isp) { s.silent[d6.MessageTypeRequest] = true })
		s.until(func() bool { return s.m.st == stateRequesting }, time.Minute)
	default:
		s.bound()
		srv.set(func(s *isp) {
			for _, t := range []d6.MessageType{d6.MessageTypeSolicit, d6.MessageTypeRequest, d6.MessageTypeRenew, d6.MessageTypeRebind, d6.MessageTypeRelease} {
				s.silent[t] = true
			}
		})
		switch st {
		case stateRenewing:
			s.until(func() bool { return s.m.st == stateRenewing }, 2*time.Hour)
		case stateRebinding:
			s.until(func() bool { return s.m.st == stateRebinding }, 2*time.Hour)
		case stateReleasing:
			s.m.stop(s.now)
			s.pump()
		}
	}
	if s.m.st != st {
		t.Fatalf("rig reached %v, want %v", s.m.st, st)
	}
	return s
}

// checkInvariants fails t if the client holds anything a server must not
// be able to give it, or reported an impossible event sequence.
func checkInvariants(t *testing.T, s *sim, now time.Time) {
	t.Helper()
	for _, l := range s.logs {
		if strings.Contains(l, "BUG") {
			t.Fatalf("machine panicked: %s", l)
		}
	}
	if l := s.m.lease; l != nil {
		if err := usablePrefix(l.Prefix); err != nil {
			t.Fatalf("holds %v: %v", l.Prefix, err)
		}
		if !(MinRenewTime <= l.T1 && l.T1 <= l.T2 && l.T2 < l.ValidLifetime && l.ValidLifetime <= MaxLifetime &&
			l.PreferredLifetime <= l.ValidLifetime && l.ValidLifetime >= MinLifetime) {
			t.Fatalf("lease breaks the timer invariants: %v", l)
		}
		if l.Address.IsValid() && (!globalOrULA(l.Address) || l.AddressPreferred > l.AddressValid || l.AddressValid > MaxLifetime) {
			t.Fatalf("address %v preferred %v valid %v", l.Address, l.AddressPreferred, l.AddressValid)
		}
		if len(l.DNS) > MaxDNS || len(l.Domains) > MaxDomains {
			t.Fatalf("%d DNS servers, %d domains", len(l.DNS), len(l.Domains))
		}
		for _, d := range l.Domains {
			if !validDomain(d) {
				t.Fatalf("domain %q", d)
			}
		}
		if err := checkDUID(l.ServerID); err != nil {
			t.Fatalf("server id %x: %v", l.ServerID, err)
		}
	}
	if s.m.deadline.Before(now) && s.m.st != stateBound && s.m.st != stateStopped {
		t.Fatalf("deadline %v before now %v in state %v", s.m.deadline, now, s.m.st)
	}
	held := false
	for _, e := range s.events {
		switch e.(type) {
		case PrefixAcquired:
			if held {
				t.Fatal("PrefixAcquired while holding a prefix")
			}
			held = true
		case PrefixRenewed:
			if !held {
				t.Fatal("PrefixRenewed without a prefix")
			}
		case PrefixChanged:
			// Also the first event after a restart that found the
			// remembered prefix replaced.
			held = true
		case PrefixLost:
			if !held {
				t.Fatal("PrefixLost without a prefix")
			}
			held = false
		}
	}
}

// fuzzSeeds are well-formed answers a server could send in each state.
func fuzzSeeds(f *testing.F) {
	t := &testing.T{}
	for i, st := range fuzzStates {
		s := fuzzRig(t, st)
		srv := newISP(t, "isp", 1)
		srv.rapid = true
		srv.pref = 255
		var last *d6.Message
		if len(s.log) > 0 {
			last = s.log[len(s.log)-1].msg
		}
		if last == nil {
			continue
		}
		for _, mut := range []func(*isp){
			func(*isp) {},
			func(s *isp) { s.prefix = ispPrefix2; s.withdraw = ispPrefix },
			func(s *isp) { s.noBinding = true },
			func(s *isp) { s.status = iana.StatusUseMulticast },
			func(s *isp) { s.noPrefix = true },
		} {
			x := newISP(t, "isp", 1)
			x.rapid = true
			mut(x)
			for _, r := range x.handle(last, AllServers) {
				f.Add(byte(i), fuzzFrame(0, r.ToBytes()))
			}
		}
		rc := &d6.Message{MessageType: d6.MessageTypeReconfigure, TransactionID: last.TransactionID}
		rc.AddOption(last.GetOneOption(d6.OptionClientID))
		rc.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: srv.duid})
		f.Add(byte(i), fuzzFrame(1, rc.ToBytes()))
	}
}

// fuzzFrame is one message in FuzzReply's input: flags, length, bytes.
func fuzzFrame(flags byte, msg []byte) []byte {
	b := []byte{flags, 0, 0}
	binary.BigEndian.PutUint16(b[1:], uint16(len(msg)))
	return append(b, msg...)
}

// FuzzReply feeds a client in each state with up to four server messages
// of the fuzzer's making, and checks after each that the client holds
// nothing a server must not be able to give it. Flags per message: bit 0
// puts the current transaction ID in, bit 1 moves time to the next
// deadline first.
func FuzzReply(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		s := fuzzRig(t, fuzzStates[int(which)%len(fuzzStates)])
		for range 4 {
			if len(data) < 3 {
				return
			}
			flags, n := data[0], int(binary.BigEndian.Uint16(data[1:]))
			data = data[3:]
			n = min(n, len(data))
			msg := bytes.Clone(data[:n])
			data = data[n:]
			if flags&2 != 0 && s.m.deadline.After(s.now) && s.m.st != stateStopped {
				s.now = s.m.deadline
				s.m.timeout(s.now)
				s.pump()
			}
			if flags&1 != 0 && len(msg) >= 4 {
				copy(msg[1:4], s.m.xid[:])
			}
			s.m.receive(s.now, msg, netip.MustParseAddr("fe80::1"))
			s.pump()
			checkInvariants(t, s, s.now)
		}
	})
}

// FuzzParseServerFrame: any frame is either refused or yields a message
// inside it, within MaxMessageLen, from a source that can send.
func FuzzParseServerFrame(f *testing.F) {
	local := LinkLocal(clientMAC)
	t := &testing.T{}
	f.Add(serverFrame(t, clientMAC, serverLL, local, 547, 546, []byte{7, 1, 2, 3}))
	f.Add(serverFrame(t, clientMAC, serverLL, local, 547, 546, make([]byte, 300)))
	f.Add(AppendClientFrame(nil, clientMAC, nil, local, AllServers, []byte{1, 2, 3, 4}))
	fc := NewFrameConn(clientMAC, func([]byte) error { return nil }, nil)
	f.Fuzz(func(t *testing.T, frame []byte) {
		msg, from, err := ParseServerFrame(frame, clientMAC, local)
		if err == nil {
			if len(msg) > MaxMessageLen || !from.IsValid() || from.IsMulticast() || from.IsUnspecified() {
				t.Fatalf("accepted %d bytes from %v", len(msg), from)
			}
			if len(frame) < frameOverhead+len(msg) {
				t.Fatalf("message of %d bytes in a frame of %d", len(msg), len(frame))
			}
		}
		fc.Deliver(frame)
		for len(fc.in) > 0 {
			<-fc.in
		}
	})
}
