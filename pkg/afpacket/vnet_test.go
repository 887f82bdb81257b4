//go:build linux

package afpacket

import (
	"testing"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/link/linktest"
)

func TestVnetRoundTrip(t *testing.T) {
	for _, o := range []link.Offload{
		{},
		{NeedsCsum: true, CsumStart: 34, CsumOffset: 6},
		{NeedsCsum: true, CsumStart: 38, CsumOffset: 16, GSO: link.GSOTCPv4, GSOSize: 1448, ECN: true},
		{NeedsCsum: true, CsumStart: 34, CsumOffset: 6, GSO: link.GSOUDPL4, GSOSize: 1200},
	} {
		var b [vnetLen]byte
		encodeVnet(b[:], o)
		if got := decodeVnet(b[:]); got != o {
			t.Errorf("%+v came back as %+v", o, got)
		}
	}
}

// FuzzOffloadFromStatus: a frame received without virtio_net_hdr whose
// ring status says its checksum is partial is examined from its own
// (untrusted) headers; whatever they say, the result is a valid offload for
// the frame or none.
func FuzzOffloadFromStatus(f *testing.F) {
	udp, _ := linktest.UDPPartial(link.PipeMAC("a"), link.PipeMAC("b"), 100, 1)
	tcp, _ := linktest.TCPSuper(link.PipeMAC("a"), link.PipeMAC("b"), 1448, 5000, 1)
	f.Add(udp, 1500)
	f.Add(tcp, 1500)
	f.Add(tcp[:60], 1500)
	f.Fuzz(func(t *testing.T, frame []byte, mtu int) {
		mtu = 68 + int(uint(mtu)%9000)
		o := offloadFromStatus(frame, mtu)
		if !o.IsZero() && !o.Valid(len(frame)) {
			t.Fatalf("offload %+v invalid for a %d-byte frame", o, len(frame))
		}
		// A segment (IP and TCP headers, at least 20 bytes each, and
		// GSOSize bytes) must fit the MTU.
		if o.GSO != link.GSONone && int(o.CsumStart)-14+20+int(o.GSOSize) > mtu {
			t.Fatalf("segments of %d bytes for MTU %d", o.GSOSize, mtu)
		}
	})
}
