package passthrough

import (
	"encoding/binary"
	"testing"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
	"github.com/passgate/passgate/pkg/packet"
)

// FuzzPPTPControl feeds arbitrary bytes as the two directions of a PPTP
// control connection, cut into segments where the fuzzer says. Nothing may
// panic; every segment keeps its length and a valid TCP checksum; and the
// only bytes the ALG may change are the low bytes of Call-ID fields.
func FuzzPPTPControl(f *testing.F) {
	stream := func(msgs ...[]byte) []byte {
		var b []byte
		for _, m := range msgs {
			b = append(b, m...)
		}
		return b
	}
	f.Add(stream(pptpMsg(1, 0, 0, 0), pptpMsg(pptpOCRQ, 0x1234, 0, 0), pptpMsg(pptpCCRQ, 0x1234, 0, 0)),
		stream(pptpMsg(2, 0, 0, 0), pptpMsg(pptpOCRP, 9, 0x1234, 1), pptpMsg(pptpCDN, 9, 0, 0)), []byte{13, 7, 200})
	f.Add(stream(pptpMsg(pptpICRP, 5, 6, 1), pptpMsg(pptpSLI, 6, 0, 0)),
		stream(pptpMsg(pptpICRQ, 6, 0, 0), pptpMsg(pptpICCN, 5, 0, 0), pptpMsg(pptpWEN, 5, 0, 0)), []byte{15, 1})
	f.Add([]byte{0, 5, 0, 1}, []byte{0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, out, in []byte, cuts []byte) {
		out, in = out[:min(len(out), 4096)], in[:min(len(in), 4096)]
		allowed := [2]map[int]bool{callIDLowBytes(out), callIDLowBytes(in)}
		r := newRig(t, nil)
		other := openCtrl(r, lan2, 40000)
		other.call(0x1234, 1) // force aliasing for lan1's 0x1234
		c := openCtrl(r, lan1, 40001)
		streams := []struct {
			data []byte
			dir  nat.Dir
		}{{out, nat.Outbound}, {in, nat.Inbound}}
		pos := [2]int{}
		for k := 0; pos[0] < len(out) || pos[1] < len(in); k++ {
			s := k % 2
			if pos[s] >= len(streams[s].data) {
				continue
			}
			n := 1 + int(cutAt(cuts, k))%64
			end := min(pos[s]+n, len(streams[s].data))
			seg := streams[s].data[pos[s]:end]
			pos[s] = end
			var b []byte
			if streams[s].dir == nat.Outbound {
				b = nattest.TCP(t, pk{Src: lan1, Dst: server, SP: 40001, DP: 1723, Flags: "PA", Seq: c.seqOut, Payload: seg})
				c.seqOut += uint32(len(seg))
			} else {
				b = nattest.TCP(t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: "PA", Seq: c.seqIn, Payload: seg})
				c.seqIn += uint32(len(seg))
			}
			res := r.e.Translate(b, streams[s].dir)
			if res.Verdict != nat.Forward {
				t.Fatalf("in-order control segment dropped: %v", res.Reason)
			}
			d := nattest.Oracle(t, res.Packet)
			if len(d.TCP.Payload) != len(seg) {
				t.Fatalf("segment length changed")
			}
			for i := range seg {
				if d.TCP.Payload[i] != seg[i] && !allowed[s][pos[s]-len(seg)+i] {
					t.Fatalf("byte %d of the stream changed, not a Call-ID low byte", pos[s]-len(seg)+i)
				}
			}
		}
	})
}

func cutAt(cuts []byte, k int) byte {
	if len(cuts) == 0 {
		return 255
	}
	return cuts[k%len(cuts)]
}

// callIDLowBytes returns the stream offsets that are byte 13 or 15 of a
// well-formed PPTP control message (walking the length fields).
func callIDLowBytes(stream []byte) map[int]bool {
	m := map[int]bool{}
	for off := 0; off+2 <= len(stream); {
		l := int(binary.BigEndian.Uint16(stream[off:]))
		if l < 12 {
			break
		}
		m[off+13], m[off+15] = true, true
		off += l
	}
	return m
}

// FuzzESPAndIKE drives a sequence of ESP, IKE and NAT-T packets between
// three LAN hosts and two servers. Nothing may panic, and an inbound SPI
// delivered to a host is never later delivered to another one.
func FuzzESPAndIKE(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 0, 1, 2, 1, 2, 3, 1, 2, 9, 1, 0})
	f.Add([]byte{4, 0, 1, 5, 0, 1, 6, 1, 1, 7, 2, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		r := newRig(t, func(_ *nat.Config, c *Config) { c.IKESharePort = len(ops)%2 == 0 })
		owner := map[[2]uint32]uint32{}
		servers := []string{server, server2}
		for i := 0; i+2 < len(ops); i += 3 {
			op, a, spiB := ops[i], ops[i+1], ops[i+2]
			host := lans[int(a)%3]
			srv := servers[int(a>>2)%2]
			spi := uint32(spiB%8) + 1
			var b []byte
			dir := nat.Outbound
			switch op % 6 {
			case 0:
				b = esp(t, host, srv, spi, 1)
			case 1:
				b, dir = esp(t, srv, extIP, spi+100, 1), nat.Inbound
			case 2:
				b = nattest.UDP(t, pk{Src: host, Dst: srv, SP: 500, DP: 500, Payload: ike(uint64(spi), 34, false, int(spiB))})
			case 3:
				b, dir = nattest.UDP(t, pk{Src: srv, Dst: extIP, SP: 500, DP: 500, Payload: ike(uint64(spi), 34, false, 4)}), nat.Inbound
			case 4:
				b = nattest.UDP(t, pk{Src: host, Dst: srv, SP: 4500, DP: 4500, Payload: []byte{0xff}})
			case 5:
				r.advance(r.now % 7 * 1e9) // small clock steps, below every timeout
				continue
			}
			res := r.e.Translate(b, dir)
			if res.Verdict == nat.Forward {
				d := nattest.Oracle(t, res.Packet)
				p := packet.IPv4(res.Packet)
				if op%6 == 1 {
					k := [2]uint32{packet.IPv4(b).Src(), spi + 100}
					if prev, ok := owner[k]; ok && prev != p.Dst() {
						t.Fatalf("SPI %d from %s went to %s after %s", spi+100, srv, d.Dst(), packet.AddrFrom4(prev))
					}
					owner[k] = p.Dst()
				}
			}
		}
		_ = r.p.Sessions()
	})
}
