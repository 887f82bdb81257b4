package nat

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

// The troubleshooter's MTU evidence: a tunnel packet too big for the WAN
// (Fragmentation Needed sent) and tunnel packets in fragments, each
// recorded once per tunnel with a count; other traffic is not recorded.
func TestMTUEvents(t *testing.T) {
	r := newRig(t, func(c *Config) { c.WANMTU = 1400 })
	big := bytes.Repeat([]byte{1}, 1420)
	for range 3 {
		r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 4500, DP: 4500, DF: true, Payload: big}), Reply)
	}
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 443, DF: true, Payload: big}), Reply) // not a tunnel
	// An inbound ESP packet in two fragments (the first 1380 bytes long).
	esp := make([]byte, 1380)
	packet.IPv4(esp).PutHeader(packet.IPv4Header{TTL: 60, Protocol: packet.ProtoESP, Src: a4(srv2), Dst: a4(extIP)})
	binary.BigEndian.PutUint16(esp[6:], 0x2000) // MF, offset 0
	packet.IPv4(esp).UpdateHeaderChecksum()
	r.send(Inbound, esp)

	ev := r.e.MTUEvents()
	if len(ev) != 2 {
		t.Fatalf("events %+v, want the tunnel's too-big and the ESP fragments", ev)
	}
	for _, x := range ev {
		switch x.Kind {
		case TooBig:
			if x.Host != a4(hostA) || x.Server != a4(srv) || x.Port != 4500 || x.Count != 3 || x.MTU != 1400 || x.Size != 1448 {
				t.Errorf("too big: %+v", x)
			}
		case Fragmented:
			if !x.Inbound || x.Server != a4(srv2) || x.Proto != packet.ProtoESP || x.Size != 1380 || x.Count != 1 {
				t.Errorf("fragmented: %+v", x)
			}
		default:
			t.Errorf("event %+v", x)
		}
	}
	// The ring keeps the most recent tunnels.
	for i := range 40 {
		r.advance(1e9)
		r.send(Outbound, udpPkt(t, pk{Src: hostB, Dst: "198.51.100." + itoa(20+i), SP: 500, DP: 500, DF: true, Payload: big}))
	}
	if ev := r.e.MTUEvents(); len(ev) != maxMTUEvents {
		t.Errorf("%d events kept, want %d", len(ev), maxMTUEvents)
	}
}
