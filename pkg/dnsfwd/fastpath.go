package dnsfwd

import (
	"encoding/binary"
	"time"

	"github.com/miekg/dns"
)

// The cached answer's fast path. A cache hit done the long way unpacks the
// stored answer, fits it to the query (finish) and packs it again, about
// 2 µs. Instead, the first hit of each kind of query keeps the finished
// answer in wire form — a variant — with the offsets of its TTLs; later
// hits of that kind copy it and patch the ID, the RD bit, the question's
// spelling and the TTLs.
//
// A kind is what finish's result depends on beyond the cache key: whether
// the query had EDNS0 and whether it set AD. A variant is kept only when
// it is small enough for any client (512 bytes: no truncation decision
// depends on the client's buffer size) and was not truncated. Stale
// answers never take the fast path.

// variant is one finished answer in wire form.
type variant struct {
	wire    []byte
	ttlOffs []uint16 // where each record's TTL is (OPT's excluded)
	ttls    []uint32 // their values at built
	built   time.Time
}

// variantIndex is the kind of query req is.
func variantIndex(req *dns.Msg) int {
	i := 0
	if req.IsEdns0() != nil {
		i |= 1
	}
	if req.AuthenticatedData {
		i |= 2
	}
	return i
}

// newVariant builds a variant from a finished answer, or nil when the
// answer must not take the fast path.
func newVariant(r *dns.Msg, now time.Time) *variant {
	if r.Truncated {
		return nil
	}
	wire, err := r.Pack()
	if err != nil || len(wire) > dns.MinMsgSize {
		return nil
	}
	offs, ok := ttlOffsets(wire)
	if !ok {
		return nil
	}
	v := &variant{wire: wire, ttlOffs: offs, built: now}
	for _, o := range offs {
		v.ttls = append(v.ttls, binary.BigEndian.Uint32(wire[o:]))
	}
	return v
}

// ttlOffsets walks a packed message and returns the offset of every
// record's TTL, OPT's left out (its "TTL" holds EDNS flags).
func ttlOffsets(w []byte) ([]uint16, bool) {
	if len(w) < 12 {
		return nil, false
	}
	qd := int(binary.BigEndian.Uint16(w[4:]))
	rrs := int(binary.BigEndian.Uint16(w[6:])) + int(binary.BigEndian.Uint16(w[8:])) + int(binary.BigEndian.Uint16(w[10:]))
	off := 12
	for range qd {
		var ok bool
		if off, ok = skipName(w, off); !ok || off+4 > len(w) {
			return nil, false
		}
		off += 4
	}
	var out []uint16
	for range rrs {
		var ok bool
		if off, ok = skipName(w, off); !ok || off+10 > len(w) {
			return nil, false
		}
		if binary.BigEndian.Uint16(w[off:]) != dns.TypeOPT {
			out = append(out, uint16(off+4))
		}
		off += 10 + int(binary.BigEndian.Uint16(w[off+8:]))
		if off > len(w) {
			return nil, false
		}
	}
	return out, off == len(w)
}

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(w []byte, off int) (int, bool) {
	for off < len(w) {
		l := int(w[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(w)
		case l&0xc0 != 0:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}

// reply writes the variant, fitted to req at now, into out: req's ID, RD
// bit and spelling of the question, the TTLs counted down. ok is false
// when req's question does not fit the variant (then the long way).
func (v *variant) reply(req *dns.Msg, now time.Time, out []byte) ([]byte, bool) {
	b := append(out[:0], v.wire...)
	binary.BigEndian.PutUint16(b, req.Id)
	b[2] &^= 0x01
	if req.RecursionDesired {
		b[2] |= 0x01
	}
	end, err := dns.PackDomainName(dns.Fqdn(req.Question[0].Name), b, 12, nil, false)
	if err != nil || end+4 > len(b) || b[end] != byte(req.Question[0].Qtype>>8) || b[end+1] != byte(req.Question[0].Qtype) {
		return nil, false
	}
	elapsed := uint32(max(now.Sub(v.built), 0) / time.Second)
	for i, o := range v.ttlOffs {
		binary.BigEndian.PutUint32(b[o:], v.ttls[i]-min(elapsed, v.ttls[i]))
	}
	return b, true
}
