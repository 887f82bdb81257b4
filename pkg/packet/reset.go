package packet

import "encoding/binary"

// TCP resets (RFC 9293 §3.10.7.1): the answer to a segment a firewall
// rejects (as iptables' reject-with tcp-reset). A segment with ACK set is
// answered with a RST whose sequence number is that ACK; one without (a
// SYN) with a RST|ACK acknowledging it: sequence 0, acknowledgement its
// sequence plus its length (data, SYN and FIN each count). A RST is
// never answered.

// TCPResetLen4 and TCPResetLen6 are the lengths of the resets built here
// (no options, no data).
const (
	TCPResetLen4 = IPv4HeaderLen + TCPHeaderLen
	TCPResetLen6 = IPv6HeaderLen + TCPHeaderLen
)

// putReset writes the TCP header answering seg (segLen bytes from its
// TCP header on) into b, without the checksum; false when seg is a reset.
func putReset(b []byte, seg TCP, segLen int) bool {
	fl := seg.Flags()
	if fl&TCPRst != 0 {
		return false
	}
	binary.BigEndian.PutUint16(b[0:], seg.DstPort())
	binary.BigEndian.PutUint16(b[2:], seg.SrcPort())
	var seq, ack uint32
	out := uint8(TCPRst)
	if fl&TCPAck != 0 {
		seq = seg.Ack()
	} else {
		n := uint32(segLen - seg.DataOffset())
		if fl&TCPSyn != 0 {
			n++
		}
		if fl&TCPFin != 0 {
			n++
		}
		ack, out = seg.Seq()+n, TCPRst|TCPAck
	}
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12], b[13] = (TCPHeaderLen/4)<<4, out
	clear(b[14:TCPHeaderLen]) // window, checksum, urgent pointer
	return true
}

// PutTCPReset4 writes into buf (TCPResetLen4 bytes suffice) the reset
// that answers orig, from its destination to its source, and returns it;
// nil when none may be sent: orig is not TCP, is a later fragment, is
// shorter than its TCP header, or is itself a reset. It neither copies
// nor allocates beyond buf.
func PutTCPReset4(buf []byte, orig IPv4) []byte {
	if len(buf) < TCPResetLen4 || len(orig) < IPv4HeaderLen || orig.Protocol() != ProtoTCP || orig.FragOffset() != 0 {
		return nil
	}
	hl, tl := orig.HeaderLen(), min(orig.TotalLen(), len(orig))
	if hl < IPv4HeaderLen || tl-hl < TCPHeaderLen {
		return nil
	}
	seg := TCP(orig[hl:tl])
	if seg.DataOffset() < TCPHeaderLen || seg.DataOffset() > len(seg) {
		return nil
	}
	b := buf[:TCPResetLen4]
	t := b[IPv4HeaderLen:]
	if !putReset(t, seg, len(seg)) {
		return nil
	}
	src, dst := orig.Dst(), orig.Src()
	IPv4(b).PutHeader(IPv4Header{TTL: 64, Protocol: ProtoTCP, Src: src, Dst: dst})
	TCP(t).SetChecksum(Fold(Sum(t, PseudoHeaderSum(src, dst, ProtoTCP, TCPHeaderLen))))
	return b
}

// PutTCPReset6 is PutTCPReset4 for IPv6: off is where orig's TCP header
// starts (after any extension headers), and it must end orig, which is
// cut to its payload length.
func PutTCPReset6(buf []byte, orig IPv6, off int) []byte {
	if len(buf) < TCPResetLen6 || len(orig) < IPv6HeaderLen || off < IPv6HeaderLen || len(orig)-off < TCPHeaderLen {
		return nil
	}
	seg := TCP(orig[off:])
	if seg.DataOffset() < TCPHeaderLen || seg.DataOffset() > len(seg) {
		return nil
	}
	b := buf[:TCPResetLen6]
	t := b[IPv6HeaderLen:]
	if !putReset(t, seg, len(seg)) {
		return nil
	}
	h := IPv6Header{NextHeader: ProtoTCP, HopLimit: 64}
	copy(h.Src[:], orig[24:40])
	copy(h.Dst[:], orig[8:24])
	IPv6(b).PutHeader(h)
	TCP(t).SetChecksum(Fold(Sum(t, PseudoHeaderSum6(b[8:24], b[24:40], ProtoTCP, TCPHeaderLen))))
	return b
}
