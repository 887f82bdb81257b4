package dataplane

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/packet"
)

// segment cuts super-packet b, an Ethernet frame holding IPv4 or IPv6
// TCP or UDP as o describes it (its checksum partial; IPv6 without
// extension headers), into frames of at most o.GSOSize payload bytes with
// complete checksums, as Linux's GSO does:
//
//   - every segment gets the Ethernet, IP and transport headers and its own
//     IP length; IPv4 segments get an IP ID one more than the previous
//     one's and a complete header checksum;
//   - TCP: the sequence number advances by the payload before it; FIN and
//     PSH stay on the last segment only, CWR on the first only;
//   - UDP: every datagram gets its own length.
//
// Each segment is taken from alloc just before it is handed to emit, so
// emit may use it (and alloc may recycle earlier ones) before the next is
// built; b itself must not come from alloc. It returns the number of
// segments, 0 if b is not such a super-packet.
func segment(b []byte, o link.Offload, alloc func(int) []byte, emit func([]byte)) int {
	const eth = packet.EthernetHeaderLen
	if o.GSOSize == 0 || len(b) < eth+packet.IPv4HeaderLen {
		return 0
	}
	v6 := b[eth]>>4 == 6
	var ihl, total int
	var proto uint8
	if v6 {
		if len(b) < eth+packet.IPv6HeaderLen || (o.GSO != link.GSOTCPv6 && o.GSO != link.GSOUDPL4) {
			return 0
		}
		ip := packet.IPv6(b[eth:])
		ihl, total, proto = packet.IPv6HeaderLen, packet.IPv6HeaderLen+ip.PayloadLen(), ip.NextHeader()
	} else {
		ip := packet.IPv4(b[eth:])
		if (o.GSO != link.GSOTCPv4 && o.GSO != link.GSOUDPL4) || ip.Check() != packet.IPv4OK {
			return 0
		}
		ihl, total, proto = ip.HeaderLen(), ip.TotalLen(), ip.Protocol()
	}
	if len(b) < eth+total {
		return 0
	}
	var thl int
	switch {
	case o.GSO != link.GSOUDPL4 && proto == packet.ProtoTCP && total >= ihl+packet.TCPHeaderLen:
		thl = packet.TCP(b[eth+ihl:]).DataOffset()
	case o.GSO == link.GSOUDPL4 && proto == packet.ProtoUDP:
		thl = packet.UDPHeaderLen
	default:
		return 0
	}
	if thl < 8 || ihl+thl > total {
		return 0
	}
	hdr := eth + ihl + thl
	payload := b[hdr : eth+total]
	if len(payload) == 0 {
		return 0
	}
	mss := int(o.GSOSize)
	var seq uint32
	var flags uint8
	if proto == packet.ProtoTCP {
		t := packet.TCP(b[eth+ihl:])
		seq, flags = t.Seq(), t.Flags()
	}
	id := binary.BigEndian.Uint16(b[eth+4:]) // IPv4 only
	n := 0
	for off := 0; off < len(payload); off += mss {
		k := min(mss, len(payload)-off)
		s := alloc(hdr + k)
		copy(s, b[:hdr])
		copy(s[hdr:], payload[off:off+k])
		var pseudo uint32
		if v6 {
			sip := s[eth:]
			binary.BigEndian.PutUint16(sip[4:], uint16(thl+k))
			pseudo = packet.PseudoHeaderSum6(sip[8:24], sip[24:40], proto, thl+k)
		} else {
			sip := packet.IPv4(s[eth:])
			sip.SetTotalLen(ihl + thl + k)
			binary.BigEndian.PutUint16(sip[4:], id+uint16(n))
			sip.UpdateHeaderChecksum()
			pseudo = packet.PseudoHeaderSum(sip.Src(), sip.Dst(), proto, thl+k)
		}
		l4 := s[eth+ihl:]
		var at int
		if proto == packet.ProtoTCP {
			binary.BigEndian.PutUint32(l4[4:], seq+uint32(off))
			f := flags
			if off+k < len(payload) {
				f &^= packet.TCPFin | packet.TCPPsh
			}
			if off > 0 {
				f &^= tcpCWR
			}
			l4[13] = f
			at = 16
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(thl+k))
			at = 6
		}
		l4[at], l4[at+1] = 0, 0
		c := packet.Fold(packet.Sum(l4, pseudo))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[at:], c)
		emit(s)
		n++
	}
	return n
}

// tcpCWR is the TCP congestion window reduced flag (RFC 3168).
const tcpCWR = 0x80
