package nat

import (
	"github.com/passgate/passgate/pkg/packet"
)

// IPv4 fragments. Only the first fragment carries the transport header, so
// the translation chosen for it is remembered per fragment train, keyed by
// (source, destination, protocol, IP ID) as received, and applied to the
// later fragments. Later fragments that arrive before their first fragment
// are held in a small fixed pool and released when it arrives (RFC 4787
// REQ-14: out-of-order fragments, with bounded memory).

const (
	maxFragTrains  = 4096
	fragTimeout    = 30 // seconds since a train's last fragment
	maxHeldFrags   = 32
	maxHeldFragLen = 2048
)

type fragKey struct {
	src, dst uint32
	id       uint16
	proto    uint8
}

type fragEntry struct {
	newSrc, newDst uint32
	seen           uint32
	verdict        Verdict
	mtu            uint16
}

type heldFrag struct {
	key  fragKey
	used bool
	seen uint32
	n    int
	buf  [maxHeldFragLen]byte
}

type fragTable struct {
	trains map[fragKey]fragEntry
	held   []heldFrag
	nHeld  int
	buf    []byte   // output buffer for fragmentation, allocated on first use
	pieces [][]byte // fragments produced by the last fragmentation
	out    [][]byte // pieces after the first, then released held fragments
}

func (f *fragTable) init() {
	f.trains = make(map[fragKey]fragEntry, 64)
	f.held = make([]heldFrag, maxHeldFrags)
	f.pieces = make([][]byte, 0, 160)
	f.out = make([][]byte, 0, 160+maxHeldFrags)
}

func (f *fragTable) expire(now uint32) {
	if len(f.trains) > 0 {
		for k, v := range f.trains {
			if now-v.seen > fragTimeout {
				delete(f.trains, k)
			}
		}
	}
	if f.nHeld > 0 {
		for i := range f.held {
			if h := &f.held[i]; h.used && now-h.seen > fragTimeout {
				h.used = false
				f.nHeld--
			}
		}
	}
}

// record remembers the translation of a first fragment and releases the
// held later fragments of the same train into e.more.
func (f *fragTable) record(e *Engine, k fragKey, newSrc, newDst uint32, v Verdict, mtu int) {
	if _, ok := f.trains[k]; !ok && len(f.trains) >= maxFragTrains {
		f.expire(e.now)
		if len(f.trains) >= maxFragTrains {
			return // later fragments of this train will be dropped
		}
	}
	ent := fragEntry{newSrc: newSrc, newDst: newDst, seen: e.now, verdict: v, mtu: uint16(mtu)}
	f.trains[k] = ent
	if f.nHeld == 0 {
		return
	}
	for i := range f.held {
		h := &f.held[i]
		if !h.used || h.key != k {
			continue
		}
		h.used = false
		f.nHeld--
		p := packet.IPv4(h.buf[:h.n])
		if p.TTL() <= 1 {
			continue
		}
		rewriteFragment(p, ent)
		e.more = append(e.more, p)
	}
}

func rewriteFragment(p packet.IPv4, ent fragEntry) {
	if p.Src() != ent.newSrc {
		p.SetSrc(ent.newSrc)
	}
	if p.Dst() != ent.newDst {
		p.SetDst(ent.newDst)
	}
	p.DecTTL()
}

// laterFragment handles a fragment with a non-zero offset.
func (e *Engine) laterFragment(p packet.IPv4, mtu int) verdict {
	f := &e.frags
	k := fragKey{src: p.Src(), dst: p.Dst(), id: p.ID(), proto: p.Protocol()}
	if ent, ok := f.trains[k]; ok && e.now-ent.seen <= fragTimeout {
		if p.TTL() <= 1 {
			return drop(ReasonTTL)
		}
		ent.seen = e.now
		f.trains[k] = ent
		rewriteFragment(p, ent)
		e.pkt = p
		if len(p) > int(ent.mtu) {
			return e.fragmentResult(verdict(ent.verdict), int(ent.mtu))
		}
		return verdict(ent.verdict)
	}
	if f.nHeld >= maxHeldFrags || len(p) > maxHeldFragLen {
		return drop(ReasonFragment)
	}
	for i := range f.held {
		if h := &f.held[i]; !h.used {
			h.used, h.key, h.seen, h.n = true, k, e.now, copy(h.buf[:], p)
			f.nHeld++
			e.cnt.FragmentsHeld++
			return verdict(Held)
		}
	}
	return drop(ReasonFragment)
}

// fragmentResult splits e.pkt (already translated) into fragments that
// fit mtu (RFC 791; RFC 4787 REQ-13 for packets without DF) and returns them
// with any released held fragments after them.
func (e *Engine) fragmentResult(r verdict, mtu int) verdict {
	f := &e.frags
	if f.buf == nil {
		f.buf = make([]byte, 96<<10)
	}
	p := packet.IPv4(e.pkt)
	hl := p.HeaderLen()
	payload := p[hl:]
	// Later fragments carry only the options marked "copied" (RFC 791).
	var later [60]byte
	copy(later[:20], p[:20])
	ln := 20
	for i := 20; i < hl; {
		o := p[i]
		if o == 0 {
			break
		}
		if o == 1 {
			i++
			continue
		}
		if i+1 >= hl || p[i+1] < 2 || i+int(p[i+1]) > hl {
			break
		}
		l := int(p[i+1])
		if o&0x80 != 0 {
			ln += copy(later[ln:], p[i:i+l])
		}
		i += l
	}
	for ln%4 != 0 {
		later[ln] = 0
		ln++
	}
	packet.IPv4(later[:]).SetHeaderLen(ln)
	baseOff := p.FragOffset()
	mf := p.MF()
	f.pieces = f.pieces[:0]
	pos := 0
	for off := 0; off < len(payload); {
		hdr := later[:ln]
		if off == 0 {
			hdr = p[:hl]
		}
		n := min((mtu-len(hdr))&^7, len(payload)-off)
		if pos+len(hdr)+n > len(f.buf) {
			return drop(ReasonFragment)
		}
		b := f.buf[pos : pos+len(hdr)+n]
		pos += len(b)
		copy(b, hdr)
		copy(b[len(hdr):], payload[off:off+n])
		off += n
		q := packet.IPv4(b)
		q.SetTotalLen(len(b))
		q.SetFragment(baseOff+off-n, off < len(payload) || mf)
		q.UpdateHeaderChecksum()
		f.pieces = append(f.pieces, b)
	}
	// Released held fragments (already in e.more) go after the pieces.
	e.pkt = f.pieces[0]
	f.out = append(append(f.out[:0], f.pieces[1:]...), e.more...)
	e.more = f.out
	return r
}
