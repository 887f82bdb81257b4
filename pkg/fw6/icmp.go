package fw6

import (
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// bucket is a token bucket in its "virtual scheduling" form (GCRA): tat is
// when the bucket will next be full. Burst messages may go at once, then
// one per interval.
type bucket struct{ tat time.Duration }

func (b *bucket) allow(now, interval time.Duration, burst int) bool {
	if b.tat < now {
		b.tat = now
	}
	if b.tat-now > time.Duration(burst-1)*interval {
		return false
	}
	b.tat += interval
	return true
}

// icmpErrorHopLimit is the hop limit of the errors the router sends.
const icmpErrorHopLimit = 64

// icmpError answers the packet q (as it was received) with an ICMPv6 error
// built into the engine's reply buffer, or drops it when RFC 4443 §2.4 (e)
// forbids an error, when the rate limit (§2.4 (f)) is reached, or when the
// router has no address to send it from. r is why q is not forwarded.
func (e *Engine) icmpError(q *pkt, dir Dir, typ, code uint8, param uint32, r Reason) verdict {
	switch classify(q.src) {
	case clUnspecified, clMulticast, clLoopback, clForbidden:
		return drop(r) // not a unique unicast source (§2.4 (e.4))
	}
	if classify(q.dst) == clMulticast && typ != packet.ICMPv6PacketTooBig &&
		(typ != packet.ICMPv6ParamProblem || code != packet.ICMPv6UnrecognizedOption) {
		return drop(r) // §2.4 (e.2)
	}
	if q.ch.Proto == packet.ProtoICMPv6 && !q.ch.LaterFragment() && q.ch.Offset < len(q.p) && packet.ICMPv6IsError(q.p[q.ch.Offset]) {
		return drop(r) // never an error about an error (§2.4 (e.1))
	}
	if q.ch.LaterFragment() {
		return drop(r) // its first fragment had the error, if any
	}
	b := &e.errs
	if typ == packet.ICMPv6PacketTooBig {
		b = &e.ptb
	}
	if !b.allow(e.nowD, e.errIval, e.cfg.ICMPErrorBurst) {
		e.cnt.ICMPErrorsLimited++
		return drop(r)
	}
	from, ok := e.errSource(dir, q.src)
	if !ok {
		return drop(r)
	}
	e.pkt = buildError(e.reply[:], q.p, typ, code, param, from, q.src)
	e.cnt.ICMPErrorsSent++
	return verdict(Reply) | verdict(r)<<8
}

// buildError writes an ICMPv6 error about orig from "from" to "to" into
// buf: as much of orig as fits in the minimum MTU (RFC 4443 §2.4 (c)).
func buildError(buf []byte, orig []byte, typ, code uint8, param uint32, from, to addr) []byte {
	n := min(len(orig), packet.IPv6MinMTU-packet.IPv6HeaderLen-packet.ICMPv6HeaderLen)
	b := buf[:packet.IPv6HeaderLen+packet.ICMPv6HeaderLen+n]
	packet.IPv6(b).PutHeader(packet.IPv6Header{NextHeader: packet.ProtoICMPv6, HopLimit: icmpErrorHopLimit,
		Src: from.bytes(), Dst: to.bytes()})
	packet.ICMPv6(b[packet.IPv6HeaderLen:]).PutError(typ, code, param, orig[:n], b[8:24], b[24:40])
	return b
}

// errSource picks the router's address an error to "to" is sent from (RFC
// 4443 §2.2: an address of the router, chosen as for any packet it sends).
// Toward the LAN: the router's address in the sender's prefix, else any
// global LAN address, else its link-local one (the sender is on-link).
// Toward the WAN: a global WAN address, else a global LAN address (a WAN
// link without global addresses is common with prefix delegation); never
// a link-local one, which a remote sender could not be answered from. To
// the router's own stack: any of its addresses but the one it sent from.
func (e *Engine) errSource(dir Dir, to addr) (addr, bool) {
	switch dir {
	case FromLAN:
		var global, ll addr
		var haveGlobal, haveLL bool
		for _, r := range e.rLAN {
			switch classify(r) {
			case clLinkLocal:
				if !haveLL {
					ll, haveLL = r, true
				}
				continue
			}
			for i := range e.lan {
				if e.lan[i].contains(r) && e.lan[i].contains(to) {
					return r, true
				}
			}
			if !haveGlobal {
				global, haveGlobal = r, true
			}
		}
		if haveGlobal {
			return global, true
		}
		return ll, haveLL
	case FromSelf:
		for _, set := range []addrSet{e.rGlobal, e.rLAN, e.rWAN} {
			for _, r := range set {
				if r != to {
					return r, true
				}
			}
		}
		return addr{}, false
	}
	if len(e.rGlobal) > 0 {
		return e.rGlobal[0], true
	}
	return addr{}, false
}

// Error answers the IPv6 packet b, which came from dir, with an ICMPv6
// error of type typ and code (param: the MTU of Packet Too Big, the
// pointer of Parameter Problem) under the engine's rules: none about an
// error, a non-unicast source or a later fragment (RFC 4443 §2.4 (e)),
// within the rate limit (§2.4 (f)), from the router's address on that
// side. It is for the data plane's own refusals — a neighbour that does
// not resolve gets Destination Unreachable code 3 (RFC 4443 §3.1). The
// result is Reply with the error (valid until the next call into the
// engine), or Drop.
func (e *Engine) Error(b []byte, dir Dir, typ, code uint8, param uint32) Result {
	var q pkt
	r := Result{Verdict: Drop}
	if _, ok := e.parse(b, &q, dir); !ok || q.bad {
		return r // not about a packet the engine would not forward anyway
	}
	v := e.icmpError(&q, dir, typ, code, param, ReasonNone)
	r.Verdict = v.verdict()
	r.Packet = e.pkt
	return r
}
