package nat

import (
	"net/netip"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// offloadRig opens a TCP connection hostA:40000 → srv:443 through the
// engine and returns the external port.
func offloadRig(t *testing.T) (*rig, uint16) {
	t.Helper()
	r := newRig(t, nil)
	d := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"}), Forward)
	ext := d.SPort()
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: ext, Flags: "SA"}), Forward)
	return r, ext
}

func (r *rig) data(dir Dir, ext uint16, flags string) Result {
	r.t.Helper()
	if dir == Outbound {
		return r.send(Outbound, tcpPkt(r.t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: flags, Payload: []byte("x")}))
	}
	return r.send(Inbound, tcpPkt(r.t, pk{Src: srv, Dst: extIP, SP: 443, DP: ext, Flags: flags, Payload: []byte("y")}))
}

var idA = FlowID{Proto: packet.ProtoTCP, IntIP: packet.AddrTo4(netip.MustParseAddr(hostA)), IntPort: 40000,
	RemIP: packet.AddrTo4(netip.MustParseAddr(srv)), RemPort: 443}

// A direction is offered once the fast path has forwarded its
// offloadAfter-th packet, never before, and not again once marked.
func TestOffloadCandidateAfterEnoughPackets(t *testing.T) {
	r, ext := offloadRig(t)
	for dir, name := range map[Dir]string{Outbound: "out", Inbound: "in"} {
		sent := 1 // the SYN, or the SYN-ACK
		for ; sent < offloadAfter-1; sent++ {
			if r.data(dir, ext, "A").Verdict != Forward {
				t.Fatalf("%s: packet %d not forwarded", name, sent)
			}
			if o, ok := r.e.OffloadCandidate(); ok {
				t.Fatalf("%s: offered after %d packets: %+v", name, sent+1, o)
			}
		}
		r.data(dir, ext, "A")
		o, ok := r.e.OffloadCandidate()
		if !ok {
			t.Fatalf("%s: not offered after %d packets", name, offloadAfter)
		}
		want := Offload{ID: idA, Dir: dir, ExtIP: packet.AddrTo4(netip.MustParseAddr(extIP)), ExtPort: ext}
		if o != want {
			t.Fatalf("%s: offered %+v, want %+v", name, o, want)
		}
		if !r.e.MarkOffloaded(o.ID, o.Dir) {
			t.Fatalf("%s: MarkOffloaded refused an established session", name)
		}
		r.data(dir, ext, "A")
		if o, ok := r.e.OffloadCandidate(); ok {
			t.Fatalf("%s: offered again once marked: %+v", name, o)
		}
	}
	if got := r.e.OffloadEnded(); len(got) != 0 {
		t.Fatalf("ended without an end: %+v", got)
	}
}

// Only the fast path's packets are offered: the general path (forced
// here) forwards the same segments without an offer, and a later
// Translate takes back an earlier offer.
func TestOffloadCandidateOnlyFromFastPath(t *testing.T) {
	r, ext := offloadRig(t)
	r.e.slowOnly = true
	for i := 0; i < 2*offloadAfter; i++ {
		r.data(Outbound, ext, "A")
		if o, ok := r.e.OffloadCandidate(); ok {
			t.Fatalf("general path's packet offered: %+v", o)
		}
	}
	r.e.slowOnly = false
	r.data(Outbound, ext, "A")
	if _, ok := r.e.OffloadCandidate(); !ok {
		t.Fatal("fast-path packet after enough packets not offered")
	}
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5353, DP: 53}), Forward) // a new session: the general path
	if o, ok := r.e.OffloadCandidate(); ok {
		t.Fatalf("offer survived a later Translate: %+v", o)
	}
}

// Every way a session ends or leaves the established state lists its
// offloaded directions once, and only those.
func TestOffloadEnded(t *testing.T) {
	cases := []struct {
		name string
		end  func(r *rig, ext uint16)
		gone bool // the session itself is removed
	}{
		{"fin from the LAN", func(r *rig, ext uint16) { r.data(Outbound, ext, "FA") }, false},
		{"fin from the WAN", func(r *rig, ext uint16) { r.data(Inbound, ext, "FA") }, false},
		{"rst from the LAN", func(r *rig, ext uint16) { r.data(Outbound, ext, "R") }, false},
		{"rst from the WAN", func(r *rig, ext uint16) { r.data(Inbound, ext, "RA") }, false},
		{"flush", func(r *rig, _ uint16) { r.e.Flush(nil) }, true},
		{"new wan address", func(r *rig, _ uint16) { r.e.SetExternal(netip.MustParseAddr("203.0.113.99")) }, true},
		{"expiry", func(r *rig, _ uint16) {
			for i := 0; i < 3; i++ {
				r.advance(8000 * time.Second)
			}
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ext := offloadRig(t)
			for i := 0; i < offloadAfter; i++ {
				r.data(Inbound, ext, "A")
			}
			if !r.e.MarkOffloaded(idA, Inbound) {
				t.Fatal("MarkOffloaded refused")
			}
			c.end(r, ext)
			got := r.e.OffloadEnded()
			if len(got) != 1 || got[0] != (OffloadEnd{ID: idA, In: true}) {
				t.Fatalf("ended %+v, want the inbound direction of %+v", got, idA)
			}
			if again := r.e.OffloadEnded(); len(again) != 0 {
				t.Fatalf("listed twice: %+v", again)
			}
			if r.e.MarkOffloaded(idA, Outbound) {
				t.Fatal("MarkOffloaded took a session that is gone or no longer established")
			}
			if gone := r.e.lookupID(idA) == none; gone != c.gone {
				t.Fatalf("session gone %v, want %v", gone, c.gone)
			}
		})
	}
}

// The kernel's figures keep an offloaded session alive and counted.
func TestFoldOffloaded(t *testing.T) {
	r, ext := offloadRig(t)
	if r.e.FoldOffloaded(idA, Outbound, r.now, 1, 1) {
		t.Fatal("folded into a direction that is not offloaded")
	}
	for i := 0; i < offloadAfter; i++ {
		r.data(Outbound, ext, "A")
	}
	r.e.MarkOffloaded(idA, Outbound)
	before := r.sessions()[0]
	idle := 7000 * time.Second // under the established timeout (7440 s)
	r.advance(idle)
	if !r.e.FoldOffloaded(idA, Outbound, r.now-time.Second, 1000, 1_500_000) {
		t.Fatal("fold refused")
	}
	r.advance(idle) // 14,000 s after the last packet routerd saw, 7,001 after the kernel's
	ss := r.sessions()
	if len(ss) != 1 {
		t.Fatalf("the session expired although the kernel forwarded its packets: %d sessions", len(ss))
	}
	if got, want := ss[0].PacketsOut-before.PacketsOut, uint64(1000); got != want {
		t.Fatalf("packets out grew by %d, want %d", got, want)
	}
	if got, want := ss[0].BytesOut-before.BytesOut, uint64(1_500_000); got != want {
		t.Fatalf("bytes out grew by %d, want %d", got, want)
	}
	if c := r.e.Counters().Offloaded; c != 1000 {
		t.Fatalf("Offloaded counter %d, want 1000", c)
	}
	// A fold without packets does not refresh the session: 7,442 s
	// after the kernel's last packet it expires.
	r.e.FoldOffloaded(idA, Outbound, r.now, 0, 0)
	r.advance(441 * time.Second)
	if ss := r.sessions(); len(ss) != 0 {
		t.Fatalf("an idle offloaded session did not expire: %+v", ss)
	}
	if got := r.e.OffloadEnded(); len(got) != 1 || !got[0].Out || got[0].In {
		t.Fatalf("expiry listed %+v, want the outbound direction", got)
	}
}
