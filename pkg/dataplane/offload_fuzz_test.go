package dataplane

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// FuzzOffloaded feeds frames with arbitrary offloads (as a port with
// PACKET_VNET_HDR might hand them over, or a hostile guest on a virtio
// port) to the data plane from both sides. Whatever comes in, nothing
// panics, and every TCP or UDP packet whose checksum the data plane
// finished (it came in partial) leaves with a right one: completed here
// for the LAN port, which takes no offloads, or right once the port
// completes or segments it (WAN, which does).
func FuzzOffloaded(f *testing.F) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	lanMAC, wanMAC := mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")
	seed := func(b []byte, o link.Offload, fromWAN bool) {
		flags := uint8(0)
		if o.NeedsCsum {
			flags |= 1
		}
		if o.ECN {
			flags |= 2
		}
		f.Add(b, o.CsumStart, o.CsumOffset, uint8(o.GSO), o.GSOSize, flags, fromWAN)
	}
	tt := f
	tcp, to, _ := superTCP(tt, hostMAC, lanMAC, host, remote, 40000, 443, 1, 1000, 5000, true, nil)
	seed(tcp, to, false)
	tcp, to, _ = superTCP(tt, hostMAC, lanMAC, host, remote, 40000, 443, 1, 1000, 5000, false, nil)
	seed(tcp, to, false)
	udp, uo, _ := superUDP(tt, hostMAC, lanMAC, host, remote, 4433, 443, 1200, 4, 10)
	seed(udp, uo, false)
	small := udpFrame(tt, hostMAC, lanMAC, host, remote, 1, 2, "x")
	seed(small, makePartial(small), false)
	down, do, _ := superTCP(tt, gwMAC, wanMAC, remote, extIP, 443, 1024, 1, 1448, 3000, true, nil)
	seed(down, do, true)

	lanTest, lanRouter, _ := link.NewPipe(link.PipeConfig{NameA: "lan-seg", NameB: "eth0", MACB: lanMAC, Offloads: true, Capacity: 4096})
	wanTest, wanRouter, _ := link.NewPipe(link.PipeConfig{NameA: "isp", NameB: "eth1", MACB: wanMAC, Offloads: true, Capacity: 4096})
	kTest, kRouter, _ := link.NewPipe(link.PipeConfig{NameA: "k", NameB: "self0", Capacity: 4096})
	cfg := nat.DefaultConfig(netip.MustParsePrefix("192.168.1.1/24"))
	cfg.MaxSessions = 1024
	e, err := nat.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	d, err := New(Config{LAN: noOffloads{lanRouter}, WAN: wanRouter, Self: kRouter, LANAddr: netip.MustParsePrefix("192.168.1.1/24"),
		NextHopMAC: nhMAC, Engine: e, Clock: func() time.Duration { return time.Second }})
	if err != nil {
		f.Fatal(err)
	}
	d.SetWAN(netip.MustParsePrefix(extIP+"/24"), netip.MustParseAddr(gwIP))
	d.mu.Lock()
	d.wanARP.learn(packet.AddrTo4(netip.MustParseAddr(gwIP)), gwMAC, time.Second)
	d.lanARP.learn(packet.AddrTo4(netip.MustParseAddr(host)), hostMAC, time.Second)
	d.mu.Unlock()
	buf := make([]link.Frame, 4096)
	drain := func(t *testing.T, l *link.PipeEnd, partial bool) {
		for l.Queued() > 0 {
			n, _ := l.ReadBatch(buf)
			for _, fr := range buf[:n] {
				if partial {
					checkFinished(t, fr)
				}
			}
		}
	}

	f.Fuzz(func(t *testing.T, frame []byte, start, off uint16, gso uint8, size uint16, flags uint8, fromWAN bool) {
		if len(frame) > link.MaxGSOFrame {
			return
		}
		o := link.Offload{NeedsCsum: flags&1 != 0, CsumStart: start, CsumOffset: off, GSO: link.GSOType(gso), GSOSize: size, ECN: flags&2 != 0}
		fr := link.Frame{Data: append([]byte(nil), frame...), Offload: o}
		fr.Len = len(fr.Data)
		if len(fr.Data) >= 14 {
			dst := lanMAC
			if fromWAN {
				dst = wanMAC
			}
			copy(fr.Data, dst)
		}
		// Only a checksum at the transport header is the packet's own;
		// one elsewhere is finished where the sender said (as the kernel
		// would) and says nothing about the packet's. The sender's partial
		// checksum is taken to be what a sender puts there (the
		// pseudo-header sum, UDP's length the IP payload's): the data plane
		// may rely on that, as the kernel does, the rest is arbitrary.
		finished := false
		if o.Valid(len(frame)) && len(frame) >= 34 && binary.BigEndian.Uint16(frame[12:]) == packet.EtherTypeIPv4 {
			if ihl, _, total, ok := l4Shape(fr.Data, o); ok {
				finished = true
				ip := packet.IPv4(fr.Data[14 : 14+total])
				if ip.Protocol() == packet.ProtoUDP {
					binary.BigEndian.PutUint16(ip[ihl+4:], uint16(total-ihl))
				}
				setPartial(ip, ihl)
			}
		}
		d.mu.Lock()
		if fromWAN {
			d.fromWAN(fr, time.Second, 0, 0)
		} else {
			d.fromLAN(fr, time.Second, 0, 0)
		}
		d.flush()
		d.mu.Unlock()
		drain(t, lanTest, finished)
		drain(t, wanTest, finished)
		drain(t, kTest, finished)
	})
}

// checkFinished fails unless the TCP or UDP checksum of an unfragmented
// IPv4 frame is right: as it is, or after the port finishes its offload.
func checkFinished(t *testing.T, fr link.Frame) {
	t.Helper()
	frames := [][]byte{fr.Data}
	switch {
	case fr.Offload.GSO != link.GSONone:
		frames = nil
		if segment(fr.Data, fr.Offload, func(n int) []byte { return make([]byte, n) }, func(s []byte) { frames = append(frames, s) }) == 0 {
			t.Fatalf("the data plane sent a super-packet it cannot segment itself: %+v", fr.Offload)
		}
	case fr.Offload.NeedsCsum:
		c := append([]byte(nil), fr.Data...)
		if !fillChecksum(c, fr.Offload) {
			t.Fatalf("offload %+v does not fit the %d-byte frame sent", fr.Offload, len(c))
		}
		frames = [][]byte{c}
	}
	for _, f := range frames {
		if len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != packet.EtherTypeIPv4 {
			continue
		}
		ip := packet.IPv4(f[14:])
		if ip.Check() != packet.IPv4OK || ip.IsFragment() {
			continue
		}
		ihl, total := ip.HeaderLen(), ip.TotalLen()
		l4 := ip[ihl:total]
		switch ip.Protocol() {
		case packet.ProtoTCP, packet.ProtoUDP:
		default:
			continue
		}
		if ip.Protocol() == packet.ProtoUDP && len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			continue // no checksum
		}
		if packet.Fold(packet.Sum(l4, packet.PseudoHeaderSum(ip.Src(), ip.Dst(), ip.Protocol(), len(l4)))) != 0 {
			t.Fatalf("frame sent with a wrong %d checksum (offload %+v): % x", ip.Protocol(), fr.Offload, f[:min(len(f), 80)])
		}
	}
}
