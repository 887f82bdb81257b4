package passthrough

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
	"github.com/passgate/passgate/pkg/packet"
)

// Replay of real VPN traffic recorded on both ports of a Linux NAT
// (testdata/captures, copied from shared/testdata/captures; its README
// describes every case). The clients' frames from the LAN file and the
// server's frames from the WAN file are fed through passgate in the order
// they were recorded. What passgate sends to the server is compared with
// what the kernel sent by meaning: same packets, payloads and SPIs
// untouched (bar PPTP call IDs, which passgate may alias differently),
// valid checksums, zero UDP checksums kept, consistent ports per flow.
// The server's packets are re-addressed to passgate's own port and alias
// choices before they are fed in, and what passgate delivers to a client
// must then be byte-identical to what the kernel delivered.

const (
	capLANRouterMAC = "de:92:ff:a5:7c:cc"
	capWANRouterMAC = "96:2d:dc:a5:cb:04"
)

type capFrame struct {
	ts         time.Time
	ip         []byte
	fromRouter bool
}

func readCapture(t *testing.T, path, routerMAC string) []capFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("capture %s: %v", path, err)
	}
	mac, _ := net.ParseMAC(routerMAC)
	var out []capFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		eth := packet.Ethernet(data)
		if len(eth) < packet.EthernetHeaderLen || eth.EtherType() != packet.EtherTypeIPv4 {
			continue // ARP is local to each side
		}
		out = append(out, capFrame{ts: ci.Timestamp, ip: append([]byte(nil), eth.Payload()...), fromRouter: bytes.Equal(eth.Src(), mac)})
	}
	return out
}

// matchKey identifies a packet's counterpart on the other side of the NAT
// (captures README: protocol, IP ID, direction and L4 length are unique).
type matchKey struct {
	proto uint8
	id    uint16
	l4len int
}

func keyOf(b []byte) matchKey {
	p := packet.IPv4(b)
	return matchKey{p.Protocol(), p.ID(), p.TotalLen() - p.HeaderLen()}
}

type replay struct {
	t         *testing.T
	r         *rig
	refOut    map[matchKey][][]byte // what the kernel sent to the server
	refIn     map[matchKey][][]byte // what the kernel delivered to clients
	ports     map[[2]uint16]uint16  // (proto, kernel's external port) → ours
	aliases   map[uint16]uint16     // kernel's PPTP alias → ours
	ourPorts  map[string]uint16     // client flow → our external port (consistency)
	unmatched [][]byte              // our outbound packets with no kernel counterpart
	out, in   int
}

func TestReplayCaptures(t *testing.T) {
	cases := []string{"pptp-2clients", "ikev2-natt-2clients", "raw-esp-2clients", "raw-esp-1client", "l2tp-ipsec", "openvpn-2clients", "wireguard-2clients"}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			rp := runReplay(t, name)
			switch name {
			case "raw-esp-2clients":
				// The kernel dropped lan2's three ESP packets; passgate
				// forwards them, and routes each server SPI to its client.
				if len(rp.unmatched) != 3 {
					t.Fatalf("%d packets without a kernel counterpart, want lan2's 3 ESP", len(rp.unmatched))
				}
				for _, u := range rp.unmatched {
					p := packet.IPv4(u)
					if p.Protocol() != packet.ProtoESP || packet.ESP(p.Payload()).SPI() != 0x0fdd62cf || p.Src() != a4mustIP(extIP) {
						t.Fatalf("unexpected unmatched packet: proto %d", p.Protocol())
					}
				}
				rp.r.espIn(server, 0x841306d7, 1, lan2)
				rp.r.espIn(server, 0xcaca5d34, 4, lan1)
			case "pptp-2clients":
				if len(rp.aliases) != 2 {
					t.Fatalf("aliases %v", rp.aliases)
				}
				seen := map[uint16]bool{}
				for _, ours := range rp.aliases {
					if seen[ours] || ours == 0 {
						t.Fatalf("aliases not distinct: %v", rp.aliases)
					}
					seen[ours] = true
				}
			}
			if len(rp.unmatched) > 0 && name != "raw-esp-2clients" {
				t.Fatalf("%d packets without a kernel counterpart", len(rp.unmatched))
			}
			t.Logf("%s: %d outbound and %d inbound packets replayed", name, rp.out, rp.in)
		})
	}
}

func a4mustIP(s string) uint32 { return packet.AddrTo4(mustAddr(s)) }

func runReplay(t *testing.T, name string) *replay {
	dir := filepath.Join("testdata", "captures")
	lan := readCapture(t, filepath.Join(dir, name+".lan.pcap"), capLANRouterMAC)
	wan := readCapture(t, filepath.Join(dir, name+".wan.pcap"), capWANRouterMAC)
	rp := &replay{t: t, r: newRig(t, nil), refOut: map[matchKey][][]byte{}, refIn: map[matchKey][][]byte{},
		ports: map[[2]uint16]uint16{}, aliases: map[uint16]uint16{}, ourPorts: map[string]uint16{}}
	type input struct {
		capFrame
		dir nat.Dir
	}
	var inputs []input
	for _, f := range wan {
		if f.fromRouter {
			rp.refOut[keyOf(f.ip)] = append(rp.refOut[keyOf(f.ip)], f.ip)
		} else {
			inputs = append(inputs, input{f, nat.Inbound})
		}
	}
	for _, f := range lan {
		if f.fromRouter {
			rp.refIn[keyOf(f.ip)] = append(rp.refIn[keyOf(f.ip)], f.ip)
		} else {
			inputs = append(inputs, input{f, nat.Outbound})
		}
	}
	slices.SortStableFunc(inputs, func(a, b input) int { return a.ts.Compare(b.ts) })
	start := inputs[0].ts
	for _, in := range inputs {
		rp.r.now = time.Hour + in.ts.Sub(start)
		rp.r.e.Tick(rp.r.now)
		if in.dir == nat.Outbound {
			rp.outbound(in.ip)
		} else {
			rp.inbound(in.ip)
		}
	}
	return rp
}

func (rp *replay) outbound(orig []byte) {
	t := rp.t
	t.Helper()
	res := rp.r.e.Translate(append([]byte(nil), orig...), nat.Outbound)
	if res.Verdict != nat.Forward {
		t.Fatalf("outbound %v dropped: %v", keyOf(orig), res.Reason)
	}
	rp.out++
	ours := res.Packet
	d := nattest.Oracle(t, ours)
	// Several kernel packets may share the key (IP ID 0 on SYNs): the
	// counterpart is the one to the same destination port whose source port
	// is the one the kernel uses for this flow, else the first unused one.
	k := keyOf(ours)
	cands := rp.refOut[k]
	pick := -1
	for i, c := range cands {
		cp := packet.IPv4(c)
		if cp.Dst() != packet.IPv4(ours).Dst() {
			continue
		}
		if p := packet.IPv4(ours).Protocol(); p == packet.ProtoTCP || p == packet.ProtoUDP {
			if be16(cp.Payload(), 2) != be16(packet.IPv4(ours).Payload(), 2) {
				continue
			}
			if our, seen := rp.ports[[2]uint16{uint16(p), be16(cp.Payload(), 0)}]; seen && our != be16(packet.IPv4(ours).Payload(), 0) {
				continue
			}
		}
		pick = i
		break
	}
	if pick < 0 {
		rp.unmatched = append(rp.unmatched, append([]byte(nil), ours...))
		return
	}
	ref := cands[pick]
	rp.refOut[k] = append(cands[:pick:pick], cands[pick+1:]...)
	p, q := packet.IPv4(ours), packet.IPv4(ref)
	if d.Src() != extIP || p.Dst() != q.Dst() || p.TTL() != q.TTL() || p.TOS() != q.TOS() || p.DF() != q.DF() || len(p) != len(q) {
		t.Fatalf("outbound header differs from the kernel's: %v", keyOf(ours))
	}
	po, qo := p.Payload(), q.Payload()
	switch p.Protocol() {
	case packet.ProtoUDP, packet.ProtoTCP:
		if be16(po, 2) != be16(qo, 2) {
			t.Fatalf("destination port changed")
		}
		flow := fmt.Sprintf("%d %x:%d", p.Protocol(), packet.IPv4(orig).Src(), be16(packet.IPv4(orig).Payload(), 0))
		if prev, ok := rp.ourPorts[flow]; ok && prev != be16(po, 0) {
			t.Fatalf("flow %s moved from external port %d to %d", flow, prev, be16(po, 0))
		}
		rp.ourPorts[flow] = be16(po, 0)
		rp.ports[[2]uint16{uint16(p.Protocol()), be16(qo, 0)}] = be16(po, 0)
		hl := 8
		if p.Protocol() == packet.ProtoTCP {
			hl = int(po[12]>>4) * 4
			if be32(po, 4) != be32(qo, 4) || be32(po, 8) != be32(qo, 8) {
				t.Fatalf("TCP sequence numbers changed")
			}
		} else if (be16(po, 6) == 0) != (be16(qo, 6) == 0) {
			t.Fatalf("zero UDP checksum not kept (ours %#x, kernel %#x)", be16(po, 6), be16(qo, 6))
		}
		rp.comparePayload(po[hl:], qo[hl:], p.Protocol() == packet.ProtoTCP && be16(po, 2) == PortPPTP)
	default: // GRE, ESP: the whole payload is untouched
		if !bytes.Equal(po, qo) {
			t.Fatalf("protocol %d payload changed", p.Protocol())
		}
	}
}

// comparePayload requires identical payloads, except PPTP call-ID fields
// that carry an alias (each side's own choice), which are recorded.
func (rp *replay) comparePayload(ours, ref []byte, pptp bool) {
	if bytes.Equal(ours, ref) {
		if pptp {
			rp.noteAliases(ours, ref)
		}
		return
	}
	if !pptp || len(ours) != len(ref) {
		rp.t.Fatalf("payload changed")
	}
	rp.noteAliases(ours, ref)
	a, b := append([]byte(nil), ours...), append([]byte(nil), ref...)
	for off := 0; off+16 <= len(a); off += int(be16(a, off)) {
		if ct := be16(a, off+8); ct == pptpOCRQ || ct == pptpICRP || ct == pptpCCRQ {
			copy(a[off+12:off+14], b[off+12:off+14])
		}
		if be16(a, off) == 0 {
			break
		}
	}
	if !bytes.Equal(a, b) {
		rp.t.Fatalf("PPTP control message differs beyond its call ID")
	}
}

func (rp *replay) noteAliases(ours, ref []byte) {
	for off := 0; off+16 <= len(ours) && be16(ours, off) != 0; off += int(be16(ours, off)) {
		if ct := be16(ours, off+8); ct == pptpOCRQ || ct == pptpICRP {
			rp.aliases[be16(ref, off+12)] = be16(ours, off+12)
		}
	}
}

// inbound re-addresses a server packet to passgate's choices and checks the
// result against what the kernel delivered.
func (rp *replay) inbound(orig []byte) {
	t := rp.t
	t.Helper()
	b := append([]byte(nil), orig...)
	p := packet.IPv4(b)
	l4 := p.Payload()
	switch p.Protocol() {
	case packet.ProtoUDP, packet.ProtoTCP:
		kernel := be16(l4, 2)
		ours, ok := rp.ports[[2]uint16{uint16(p.Protocol()), kernel}]
		if !ok {
			t.Fatalf("inbound to port %d before any outbound packet of that flow", kernel)
		}
		binary.BigEndian.PutUint16(l4[2:], ours)
		if p.Protocol() == packet.ProtoTCP && be16(l4, 0) == PortPPTP {
			hl := int(l4[12]>>4) * 4
			m := l4[hl:]
			for off := 0; off+16 <= len(m) && be16(m, off) != 0; off += int(be16(m, off)) {
				switch be16(m, off+8) {
				case pptpOCRP:
					binary.BigEndian.PutUint16(m[off+14:], rp.aliases[be16(m, off+14)])
				case pptpICCN, pptpWEN, pptpSLI:
					binary.BigEndian.PutUint16(m[off+12:], rp.aliases[be16(m, off+12)])
				}
			}
		}
		fixL4Checksum(p)
	case packet.ProtoGRE:
		if a, ok := rp.aliases[be16(l4, 6)]; ok {
			binary.BigEndian.PutUint16(l4[6:], a)
		}
	}
	res := rp.r.e.Translate(b, nat.Inbound)
	if res.Verdict != nat.Forward {
		t.Fatalf("inbound %v dropped: %v", keyOf(b), res.Reason)
	}
	rp.in++
	nattest.Oracle(t, res.Packet)
	k := keyOf(res.Packet)
	cands := rp.refIn[k]
	for i, ref := range cands {
		if packet.IPv4(ref).Dst() != packet.IPv4(res.Packet).Dst() {
			continue // another client's packet with the same key
		}
		if !bytes.Equal(res.Packet, ref) {
			t.Fatalf("inbound %v differs from what the kernel delivered:\nours   % x\nkernel % x", k, res.Packet, ref)
		}
		rp.refIn[k] = append(cands[:i:i], cands[i+1:]...)
		return
	}
	t.Fatalf("inbound %v to %v: the kernel delivered no such packet", k, packet.AddrFrom4(packet.IPv4(res.Packet).Dst()))
}

// fixL4Checksum recomputes a TCP/UDP checksum (a zero UDP checksum stays).
func fixL4Checksum(p packet.IPv4) {
	l4 := p.Payload()
	off := 16
	if p.Protocol() == packet.ProtoUDP {
		if be16(l4, 6) == 0 {
			return
		}
		off = 6
	}
	l4[off], l4[off+1] = 0, 0
	c := packet.Fold(packet.Sum(l4, packet.PseudoHeaderSum(p.Src(), p.Dst(), p.Protocol(), len(l4))))
	if c == 0 && p.Protocol() == packet.ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}

func be32(b []byte, off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }
