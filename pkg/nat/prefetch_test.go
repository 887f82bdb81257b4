package nat

import (
	"encoding/binary"
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

// TestPrefetchSessionFindsTheKeysRecord fills a table to its highest
// load, where many keys sit beyond their home slot, and checks that the
// record PrefetchSession would prefetch for each packet is the one the
// translation then reads: always when the key's slot is in its home
// slot's cache line and no slot before it there has the same tag, and
// never a slot beyond that line (a prefetch must not wait on memory).
func TestPrefetchSessionFindsTheKeysRecord(t *testing.T) {
	const max = 4096
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		e := benchEngine(t, max)
		out, in := flowSet(t, e, proto, max*15/16)
		tb := e.t
		offHome, found := 0, 0
		for k := range out {
			for _, dir := range []Dir{Outbound, Inbound} {
				p, sp, dp := flowPacket(out, in, k, dir)
				var want uint32
				var hash uint64
				idx := tb.out
				if dir == Outbound {
					want = tb.lookupOut(p.Protocol(), p.Src(), sp, p.Dst(), dp)
					hash = tb.hashOut(p.Protocol(), p.Src(), sp, p.Dst(), dp)
				} else {
					_, want = tb.inSlot(p.Protocol(), dp, p.Src())
					hash = tb.hashIn(p.Protocol(), dp, p.Src())
					idx = tb.in
				}
				if want == none {
					t.Fatalf("flow %d %v: no session", k, dir)
				}
				// Where the key's slot is, and whether an earlier slot of
				// the home line carries the same tag.
				home := hash & tb.mask
				pos, shadowed := home, false
				for tb.slotIdx(idx[pos]) != want {
					if idx[pos]&^tb.idxMask == tb.tag(hash) {
						shadowed = true
					}
					pos = (pos + 1) & tb.mask
				}
				inLine := pos/slotsPerLine == home/slotsPerLine && pos >= home
				got := tb.hinted(e.PrefetchSlot(p, dir))
				switch {
				case inLine && !shadowed && got != want:
					t.Fatalf("flow %d %v: key in slot %d (home %d): prefetch names session %d, want %d", k, dir, pos, home, got, want)
				case !inLine && got == want:
					t.Fatalf("flow %d %v: key in slot %d beyond its home line (home %d), yet found", k, dir, pos, home)
				}
				if pos != home {
					offHome++
				}
				if got == want {
					found++
				}
			}
		}
		// The point of the tag: at this load many keys are off their
		// home slot, and nearly all are still found.
		total := 2 * len(out)
		if offHome < total/10 || found < total*9/10 {
			t.Errorf("proto %d: %d of %d keys off their home slot, %d found by the hint", proto, offHome, total, found)
		}
		t.Logf("proto %d: %d of %d keys off their home slot, %d found by the hint", proto, offHome, total, found)
	}
}

// TestPrefetchIgnoresBadHints: a hint from another table, or made up,
// prefetches nothing that is not a slot of this table.
func TestPrefetchIgnoresBadHints(t *testing.T) {
	e := benchEngine(t, 64)
	flowSet(t, e, packet.ProtoUDP, 32)
	bad := []Hint{0, 2, 1<<32 | 1, Hint(len(e.t.out))<<hintSlotShift | hintValid, ^Hint(0), ^Hint(1),
		Hint(e.t.hwm)<<32 | hintSession | hintValid, Hint(len(e.t.in))<<hintSlotShift | hintInbound | hintValid}
	for _, h := range bad {
		if i := e.t.hinted(h); i != none && i >= e.t.hwm {
			t.Errorf("hint %#x: session %d, beyond the %d in use", uint64(h), i, e.t.hwm)
		}
	}
	// The batch forms take them too, and name no session beyond those.
	hints := append([]Hint(nil), bad...)
	e.PrefetchSlots(hints)
	e.PrefetchSessions(hints)
	for k, h := range hints {
		if h != 0 && (h&hintSession == 0 || uint32(h>>32) >= e.t.hwm) {
			t.Errorf("hint %#x became %#x", uint64(bad[k]), uint64(h))
		}
	}
}

// flowPacket is flow k's packet of flowSet in dir, with its ports.
func flowPacket(out, in [][]byte, k int, dir Dir) (p packet.IPv4, sp, dp uint16) {
	p = packet.IPv4(out[k])
	if dir == Inbound {
		p = packet.IPv4(in[k])
	}
	l4 := p[p.HeaderLen():]
	return p, binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
}
