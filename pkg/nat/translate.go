package nat

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// Translate processes one IPv4 packet (starting at the IPv4 header) that
// arrived on side dir. The packet is rewritten in place.
func (e *Engine) Translate(b []byte, dir Dir) Result {
	e.more = e.moreBuf[:0]
	e.pkt = nil
	var v verdict
	if dir == Outbound {
		v = e.outbound(b)
	} else {
		v = e.inbound(b)
	}
	r := Result{Verdict: v.verdict(), Reason: v.reason(), Packet: e.pkt}
	if len(e.more) > 0 {
		r.More = e.more
	}
	e.cnt.Verdicts[r.Verdict%numVerdicts]++
	if r.Verdict == Drop {
		e.cnt.Drops[r.Reason%NumReasons]++
	}
	return r
}

// verdict is the internal, two-byte form of a result: the Verdict in the
// low byte and the drop Reason in the high byte. The packet to send is in
// e.pkt (and e.more).
type verdict uint16

func (v verdict) verdict() Verdict { return Verdict(v) }
func (v verdict) reason() Reason   { return Reason(v >> 8) }

func drop(r Reason) verdict { return verdict(Drop) | verdict(r)<<8 }

func isMartian(a uint32) bool {
	return a == 0 || a>>24 == 127 || a>>28 == 0xe || a == 0xffffffff
}

// finish applies the forwarding duties to a translated packet: TTL,
// fragment bookkeeping and fragmentation to the outgoing MTU.
func (e *Engine) finish(p packet.IPv4, r verdict, mtu int, origSrc, origDst uint32, decTTL bool) verdict {
	if r != verdict(Forward) && r != verdict(Hairpin) {
		return r
	}
	if decTTL {
		p.DecTTL()
	}
	if p[6]&0x20 != 0 { // MF: a first fragment
		e.frags.record(e, fragKey{src: origSrc, dst: origDst, id: p.ID(), proto: p.Protocol()},
			p.Src(), p.Dst(), r.verdict(), mtu)
	}
	e.pkt = p
	if len(p) > mtu {
		return e.fragmentResult(r, mtu)
	}
	return r
}

// clampMSS lowers the MSS option of a SYN to mss, updating the checksum.
func clampMSS(t packet.TCP, mss uint16) {
	off := t.MSSOption()
	if off < 0 || binary.BigEndian.Uint16(t[off:]) <= mss {
		return
	}
	c := t.Checksum()
	if off&1 == 0 {
		c = packet.Update16(c, binary.BigEndian.Uint16(t[off:]), mss)
		binary.BigEndian.PutUint16(t[off:], mss)
	} else {
		// The option is not 16-bit aligned: update the two words it straddles.
		w1, w2 := binary.BigEndian.Uint16(t[off-1:]), binary.BigEndian.Uint16(t[off+1:])
		binary.BigEndian.PutUint16(t[off:], mss)
		c = packet.Update16(c, w1, binary.BigEndian.Uint16(t[off-1:]))
		c = packet.Update16(c, w2, binary.BigEndian.Uint16(t[off+1:]))
	}
	t.SetChecksum(c)
}
