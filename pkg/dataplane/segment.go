package dataplane

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/packet"
)

// segment cuts super-packet b, an Ethernet frame holding IPv4 TCP or UDP
// as o describes it (its checksum partial), into frames of at most
// o.GSOSize payload bytes with complete checksums, as Linux's GSO does:
//
//   - every segment gets the Ethernet, IP and transport headers, its own IP
//     total length, an IP ID one more than the previous one's, and a
//     complete IP header checksum;
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
	if o.GSO != link.GSOTCPv4 && o.GSO != link.GSOUDPL4 || o.GSOSize == 0 || len(b) < eth+packet.IPv4HeaderLen {
		return 0
	}
	ip := packet.IPv4(b[eth:])
	if ip.Check() != packet.IPv4OK {
		return 0
	}
	ihl, total := ip.HeaderLen(), ip.TotalLen()
	var thl int
	switch {
	case o.GSO == link.GSOTCPv4 && ip.Protocol() == packet.ProtoTCP && total >= ihl+packet.TCPHeaderLen:
		thl = packet.TCP(ip[ihl:]).DataOffset()
	case o.GSO == link.GSOUDPL4 && ip.Protocol() == packet.ProtoUDP:
		thl = packet.UDPHeaderLen
	default:
		return 0
	}
	if thl < 8 || ihl+thl > total {
		return 0
	}
	hdr := eth + ihl + thl
	payload := b[hdr : eth+total]
	if len(payload) == 0 || len(b) < eth+total {
		return 0
	}
	mss := int(o.GSOSize)
	id := ip.ID()
	src, dst, proto := ip.Src(), ip.Dst(), ip.Protocol()
	var seq uint32
	var flags uint8
	if proto == packet.ProtoTCP {
		t := packet.TCP(ip[ihl:])
		seq, flags = t.Seq(), t.Flags()
	}
	n := 0
	for off := 0; off < len(payload); off += mss {
		k := min(mss, len(payload)-off)
		s := alloc(hdr + k)
		copy(s, b[:hdr])
		copy(s[hdr:], payload[off:off+k])
		sip := packet.IPv4(s[eth:])
		sip.SetTotalLen(ihl + thl + k)
		binary.BigEndian.PutUint16(sip[4:], id+uint16(n))
		sip.UpdateHeaderChecksum()
		l4 := sip[ihl:]
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
		c := packet.Fold(packet.Sum(l4, packet.PseudoHeaderSum(src, dst, proto, thl+k)))
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
