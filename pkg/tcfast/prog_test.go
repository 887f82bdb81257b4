package tcfast

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/nat"
)

// The program tests run both programs with BPF_PROG_TEST_RUN on frames
// built with gopacket. They run in a namespace of their own holding a
// veth pair whose ends have the router's port MACs: the kernel sets an
// input frame's pkt_type from the MAC of the device the context names,
// and the programs take only frames to the port's own MAC.
//
// A socket filter under BPF_PROG_TEST_RUN sees the skb from its network
// header (the kernel pulls the first 14 bytes as the Ethernet header of a
// non-L2 program), where at a packet socket's tap it sees the Ethernet
// header. sockInput therefore puts a 14-byte header in front of the frame,
// with the frame's destination MAC (so that pkt_type comes out as for the
// tc program) and an EtherType that is not IPv4 (the kernel refuses to run
// a program on an IPv4 skb shorter than an IPv4 header): the program then
// reads the frame from its first byte, as on a real port. The tc program
// gets the frame itself, so IPv4 frames shorter than 34 bytes cannot be
// run through it here; TestNamespace sends such frames through a real
// port.

// progFixture holds a FastPath with the two flows of the test network
// installed in both directions, and a pkg/nat engine with the same flows
// established.
type progFixture struct {
	f              *FastPath
	lanIf, wanIf   int
	engine         *nat.Engine
	udpExt, tcpExt uint16 // the external ports the engine chose
}

func newProgFixture(t testing.TB) *progFixture {
	ns := newNS(t, "prog")
	run(t, "ip", "-n", ns, "link", "add", "name", "tcfp0", "address", net.HardwareAddr(lanPortMAC[:]).String(),
		"type", "veth", "peer", "name", "tcfp1", "address", net.HardwareAddr(wanPortMAC[:]).String())
	t.Cleanup(enterNS(t, ns)) // this goroutine's test runs happen in ns; no subtests
	fx := &progFixture{}
	for name, ifp := range map[string]*int{"tcfp0": &fx.lanIf, "tcfp1": &fx.wanIf} {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			t.Fatal(err)
		}
		*ifp = ifi.Index
	}
	f, err := New(Config{MaxFlows: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	fx.f = f
	fx.engine, fx.udpExt, fx.tcpExt = natFlows(t)
	for _, proto := range []uint8{ProtoUDP, ProtoTCP} {
		for _, out := range []bool{true, false} {
			if err := f.put(fx.key(proto, out), fx.entry(proto, out)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return fx
}

func (fx *progFixture) ext(proto uint8) uint16 {
	if proto == ProtoTCP {
		return fx.tcpExt
	}
	return fx.udpExt
}

func hostRemotePorts(proto uint8) (uint16, uint16) {
	if proto == ProtoTCP {
		return tcpHostPort, tcpRemotePort
	}
	return udpHostPort, udpRemotePort
}

// key is the flow's key on arrival: from the LAN (out) or the WAN.
func (fx *progFixture) key(proto uint8, out bool) Key {
	hp, rp := hostRemotePorts(proto)
	var k Key
	var err error
	if out {
		k, err = NewKey(fx.lanIf, proto, netip.AddrPortFrom(hostIP, hp), netip.AddrPortFrom(remoteIP, rp))
	} else {
		k, err = NewKey(fx.wanIf, proto, netip.AddrPortFrom(remoteIP, rp), netip.AddrPortFrom(extIP, fx.ext(proto)))
	}
	if err != nil {
		panic(err)
	}
	return k
}

// entry is what a NAPT router does with the flow's frames.
func (fx *progFixture) entry(proto uint8, out bool) Entry {
	hp, _ := hostRemotePorts(proto)
	if out {
		return Entry{Rewrite: RewriteSource, Addr: extIP.As4(), Port: fx.ext(proto),
			Egress: uint32(fx.wanIf), MTU: 1500, DstMAC: remoteMAC, SrcMAC: wanPortMAC, FromMAC: hostMAC}
	}
	return Entry{Rewrite: RewriteDestination, Addr: hostIP.As4(), Port: hp,
		Egress: uint32(fx.lanIf), MTU: 1500, DstMAC: hostMAC, SrcMAC: lanPortMAC, FromMAC: remoteMAC}
}

// ctx is the context of a frame arriving on port ifindex.
func ctx(ifindex int) skBuff {
	return skBuff{Ifindex: uint32(ifindex), IngressIfindex: uint32(ifindex)}
}

// natFlows makes a pkg/nat engine and establishes the test network's UDP
// and TCP flows in it, returning the external ports it chose.
func natFlows(t testing.TB) (*nat.Engine, uint16, uint16) {
	c := nat.DefaultConfig(lanPrefix)
	c.MaxSessions = 1024
	c.Seed = 7
	e, err := nat.New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.SetExternal(extIP)
	e.Tick(time.Hour)
	send := func(p pkt, dir nat.Dir) []byte {
		ip := append([]byte(nil), p.bytes(t)[ethHdrLen:]...)
		res := e.Translate(ip, dir)
		if res.Verdict != nat.Forward {
			t.Fatalf("engine setup: %v %v", res.Verdict, res.Reason)
		}
		return res.Packet
	}
	udpExt := binary.BigEndian.Uint16(send(basePkt(ProtoUDP, true, 0), nat.Outbound)[ipHdrLen:])
	send(basePkt(ProtoUDP, false, udpExt), nat.Inbound)
	syn := basePkt(ProtoTCP, true, 0)
	syn.tcp.SYN, syn.tcp.ACK, syn.tcp.PSH, syn.tcp.Seq, syn.tcp.Ack, syn.payload = true, false, false, 1000, 0, nil
	tcpExt := binary.BigEndian.Uint16(send(syn, nat.Outbound)[ipHdrLen:])
	synAck := basePkt(ProtoTCP, false, tcpExt)
	synAck.tcp.SYN, synAck.tcp.PSH, synAck.tcp.Seq, synAck.tcp.Ack, synAck.payload = true, false, 5000, 1001, nil
	send(synAck, nat.Inbound)
	ack := basePkt(ProtoTCP, true, tcpExt)
	ack.tcp.PSH, ack.payload = false, nil
	send(ack, nat.Outbound)
	return e, udpExt, tcpExt
}

// runTC runs the tc program once on frame and returns its verdict and
// the frame as it left.
func (fx *progFixture) runTC(t testing.TB, frame []byte, c skBuff) (uint32, []byte) {
	t.Helper()
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256), Context: c}
	ret, err := fx.f.tc.Run(opts)
	if err != nil {
		t.Fatalf("run tc program on %d bytes: %v", len(frame), err)
	}
	return ret, opts.DataOut
}

// sockInput is frame behind a header for the socket filter (see above);
// a frame too short for a destination MAC gets the LAN port's.
func sockInput(frame []byte) []byte {
	eth := make([]byte, ethHdrLen)
	copy(eth, lanPortMAC[:])
	if len(frame) >= 6 {
		copy(eth, frame[:6])
	}
	binary.BigEndian.PutUint16(eth[ethType:], 0x88b5) // IEEE local experimental
	return append(eth, frame...)
}

// tcRunnable says whether BPF_PROG_TEST_RUN runs the tc program on frame
// (see above).
func tcRunnable(frame []byte) bool {
	if len(frame) < ethHdrLen {
		return false
	}
	return len(frame) >= ipHdrEnd || binary.BigEndian.Uint16(frame[ethType:]) != etherTypeIPv4
}

// runSock runs the socket filter once on frame.
func (fx *progFixture) runSock(t testing.TB, frame []byte, c skBuff) uint32 {
	t.Helper()
	ret, err := fx.f.sock.Run(&ebpf.RunOptions{Data: sockInput(frame), Context: c})
	if err != nil {
		t.Fatalf("run socket filter on %d bytes: %v", len(frame), err)
	}
	return ret
}

const sockAccept = 0xffffffff

// progCase is one frame for both programs.
type progCase struct {
	name  string
	frame []byte
	ctx   skBuff
	// For a frame the fast path takes: the flow, the frame it must become,
	// what it adds to the counters, and the direction to compare with
	// pkg/nat's engine (compare false: not comparable, e.g. GSO).
	take    bool
	key     Key
	want    []byte
	zeroUDP bool
	packets uint64
	bytes   uint64
	compare bool
	dir     nat.Dir
}

// TestPrograms runs a table of frames through both programs: every frame
// the fast path takes comes out translated as gopacket's own
// serialisation of the translated frame (every field, both checksums
// recomputed), with the same IPv4 bytes as pkg/nat's engine makes of it,
// and is dropped by the socket filter; every other frame leaves the tc
// program untouched (TC_ACT_OK) and passes the socket filter whole. The
// counters add up.
func TestPrograms(t *testing.T) {
	fx := newProgFixture(t)
	var cases []progCase
	take := func(name string, p pkt, out bool, c skBuff, mod func(*progCase)) {
		proto := uint8(ProtoUDP)
		if p.tcp != nil {
			proto = ProtoTCP
		}
		k := fx.key(proto, out)
		f := p.bytes(t) // gopacket pads frames to 60 bytes, and p.pad adds more
		pc := progCase{name: name, frame: f, ctx: c, take: true, key: k,
			want: p.translated(fx.entry(proto, out)).bytes(t), zeroUDP: p.noUDP, packets: 1,
			bytes: uint64(binary.BigEndian.Uint16(f[ipTotLen:])), compare: true, dir: nat.Outbound}
		if c.GsoSize != 0 {
			pc.bytes, pc.compare = uint64(len(f)-ethHdrLen), false
		}
		if !out {
			pc.dir = nat.Inbound
		}
		if mod != nil {
			mod(&pc)
		}
		cases = append(cases, pc)
	}
	leave := func(name string, frame []byte, c skBuff) {
		cases = append(cases, progCase{name: name, frame: frame, ctx: c})
	}
	lan, wan := ctx(fx.lanIf), ctx(fx.wanIf)
	for _, proto := range []uint8{ProtoUDP, ProtoTCP} {
		pn := map[uint8]string{ProtoUDP: "udp", ProtoTCP: "tcp"}[proto]
		for _, out := range []bool{true, false} {
			dn, c := "in", wan
			if out {
				dn, c = "out", lan
			}
			base := basePkt(proto, out, fx.ext(proto))
			take(pn+" "+dn, base, out, c, nil)
			p := base.clone()
			p.ip.TTL = 2
			take(pn+" "+dn+" ttl 2", p, out, c, nil)
			p = base.clone()
			p.payload = payload(1500 - ipHdrLen - map[uint8]int{ProtoUDP: 8, ProtoTCP: 20}[proto])
			take(pn+" "+dn+" total length = MTU", p, out, c, nil)
			p.payload = append(p.payload, 0)
			leave(pn+" "+dn+" total length > MTU", p.bytes(t), c)
			p = base.clone()
			p.payload, p.pad = payload(2), 60-ethHdrLen-ipHdrLen-2-map[uint8]int{ProtoUDP: 8, ProtoTCP: 20}[proto]
			if p.pad < 0 {
				p.pad = 0
			}
			p.pad += 4
			take(pn+" "+dn+" Ethernet padding", p, out, c, nil)
			p = base.clone()
			p.ip.Flags, p.ip.Id, p.ip.TOS = 0, 0xfffe, 0x03
			take(pn+" "+dn+" no DF, ECN CE", p, out, c, nil)
			// The source MAC is the entry's FromMAC (the LAN host's, or
			// the WAN gateway's), written out here rather than taken
			// from basePkt.
			p = base.clone()
			if out {
				p.eth.SrcMAC = net.HardwareAddr(hostMAC[:])
			} else {
				p.eth.SrcMAC = net.HardwareAddr(remoteMAC[:])
			}
			take(pn+" "+dn+" source MAC = FromMAC", p, out, c, nil)

			for _, cut := range []struct {
				name string
				fn   func(*pkt)
			}{
				{"MF", func(p *pkt) { p.ip.Flags |= layers.IPv4MoreFragments }},
				{"fragment offset", func(p *pkt) { p.ip.FragOffset = 185 }},
				{"options", func(p *pkt) {
					p.ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
				}},
				{"ttl 1", func(p *pkt) { p.ip.TTL = 1 }},
				{"ttl 0", func(p *pkt) { p.ip.TTL = 0 }},
				{"other MAC", func(p *pkt) { p.eth.DstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0x09, 0x09} }},
				{"broadcast MAC", func(p *pkt) { p.eth.DstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }},
				// Another device's frame with the flow's 5-tuple: routerd's
				// source guard and MAC filter must see it. A difference in
				// each of the 4-byte and the 2-byte part.
				{"another device's source MAC", func(p *pkt) { p.eth.SrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0x01, 0x0b} }},
				{"source MAC differs in byte 0", func(p *pkt) { p.eth.SrcMAC[0] ^= 0x04 }},
				{"source MAC differs in byte 3", func(p *pkt) { p.eth.SrcMAC[3] ^= 0x80 }},
				{"source MAC differs in byte 4", func(p *pkt) { p.eth.SrcMAC[4] ^= 0x10 }},
				{"source MAC differs in byte 5", func(p *pkt) { p.eth.SrcMAC[5] ^= 0x01 }},
				{"source MAC of the other direction", func(p *pkt) {
					if bytes.Equal(p.eth.SrcMAC, hostMAC[:]) {
						p.eth.SrcMAC = net.HardwareAddr(remoteMAC[:])
					} else {
						p.eth.SrcMAC = net.HardwareAddr(hostMAC[:])
					}
				}},
				{"no entry", func(p *pkt) {
					if p.tcp != nil {
						p.tcp.SrcPort++
					} else {
						p.udp.SrcPort++
					}
				}},
			} {
				p := base.clone()
				cut.fn(&p)
				leave(pn+" "+dn+" "+cut.name, p.bytes(t), c)
			}
			f := base.bytes(t)
			f[ethHdrLen+10] ^= 0x01
			leave(pn+" "+dn+" bad header checksum", f, c)
			f = base.bytes(t)
			f[ethHdrLen] = 0x65
			fixIPChecksum(f)
			leave(pn+" "+dn+" IP version 6 in an IPv4 frame", f, c)
			other := wan
			if !out {
				other = lan
			}
			wrong := c
			wrong.IngressIfindex = other.IngressIfindex
			leave(pn+" "+dn+" arrived on the other port", base.bytes(t), wrong)
			f = base.bytes(t)
			binary.BigEndian.PutUint16(f[ipTotLen:], uint16(len(f)-ethHdrLen+1))
			fixIPChecksum(f)
			leave(pn+" "+dn+" total length beyond the frame", f, c)
		}
	}

	// TCP: flags, header length, options.
	tcpOut := basePkt(ProtoTCP, true, fx.tcpExt)
	for _, fl := range []struct {
		name string
		fn   func(*layers.TCP)
	}{
		{"SYN", func(t *layers.TCP) { t.SYN, t.ACK, t.PSH = true, false, false }},
		{"SYN-ACK", func(t *layers.TCP) { t.SYN = true }},
		{"FIN", func(t *layers.TCP) { t.FIN = true }},
		{"RST", func(t *layers.TCP) { t.RST, t.ACK = true, false }},
		{"RST-ACK", func(t *layers.TCP) { t.RST = true }},
	} {
		p := tcpOut.clone()
		fl.fn(p.tcp)
		leave("tcp out "+fl.name, p.bytes(t), lan)
	}
	p := tcpOut.clone()
	p.tcp.URG, p.tcp.Urgent, p.tcp.ECE, p.tcp.CWR = true, 7, true, true
	take("tcp out URG ECE CWR", p, true, lan, nil)
	p = tcpOut.clone()
	p.tcp.Options = []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 1, 0, 0, 0, 2, 0}},
	}
	take("tcp out timestamps (data offset 8)", p, true, lan, nil)
	f := tcpOut.bytes(t)
	f[tcpDataOff] = 4 << 4
	leave("tcp out data offset 4", f, lan)
	p = tcpOut.clone()
	p.payload = nil
	f = p.bytes(t) // total length 40, the least TCP allows
	take("tcp out no payload", p, true, lan, nil)
	f = f[:len(f)-4]
	binary.BigEndian.PutUint16(f[ipTotLen:], 36)
	fixIPChecksum(f)
	leave("tcp out total length 36", f, lan)

	// UDP without a checksum keeps none.
	udpOut := basePkt(ProtoUDP, true, fx.udpExt)
	p = udpOut.clone()
	p.noUDP = true
	take("udp out no checksum", p, true, lan, nil)
	p = basePkt(ProtoUDP, false, fx.udpExt)
	p.noUDP = true
	take("udp in no checksum", p, false, wan, nil)
	p = udpOut.clone()
	p.payload = nil
	f = p.bytes(t)
	take("udp out no payload", p, true, lan, nil)
	f = f[:len(f)-4]
	binary.BigEndian.PutUint16(f[ipTotLen:], 24)
	fixIPChecksum(f)
	leave("udp out total length 24", f, lan)

	// GSO super-packets: redirected whole if a segment fits the MTU.
	big := func(proto uint8, n int) pkt {
		p := basePkt(proto, true, fx.ext(proto))
		p.payload = payload(n)
		return p
	}
	gso := func(size, segs uint32) skBuff { c := lan; c.GsoSize, c.GsoSegs = size, segs; return c }
	superTCP := big(ProtoTCP, 2900)
	take("tcp out GSO 1448", superTCP, true, gso(1448, 3), func(pc *progCase) { pc.packets = 3 })
	take("tcp out GSO 1460 (segment = MTU)", superTCP, true, gso(1460, 2), func(pc *progCase) { pc.packets = 2 })
	leave("tcp out GSO 1461", superTCP.bytes(t), gso(1461, 2))
	take("tcp out GSO without gso_segs", superTCP, true, gso(1448, 0), nil)
	superUDP := big(ProtoUDP, 2900)
	take("udp out GSO 1472", superUDP, true, gso(1472, 2), func(pc *progCase) { pc.packets = 2 })
	leave("udp out GSO 1473", superUDP.bytes(t), gso(1473, 2))
	leave("tcp out larger than MTU without GSO", superTCP.bytes(t), lan)

	// Not IPv4 in an untagged frame, or not TCP or UDP.
	vlan := gopacket.NewSerializeBuffer()
	ipv4 := tcpOut.clone()
	ipv4.tcp.SetNetworkLayerForChecksum(&ipv4.ip)
	eth := ipv4.eth
	eth.EthernetType = layers.EthernetTypeDot1Q
	must(t, gopacket.SerializeLayers(vlan, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&eth, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, &ipv4.ip, ipv4.tcp, gopacket.Payload(ipv4.payload)))
	leave("VLAN-tagged tcp out", vlan.Bytes(), lan)
	leave("IPv6 udp", serialize(t, &layers.Ethernet{SrcMAC: hostMAC[:], DstMAC: lanPortMAC[:], EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: net.ParseIP("fd00::10"), DstIP: net.ParseIP("2001:db8::7")},
		&layers.UDP{SrcPort: udpHostPort, DstPort: udpRemotePort}, gopacket.Payload(payload(20))), lan)
	leave("ARP", serialize(t, &layers.Ethernet{SrcMAC: hostMAC[:], DstMAC: lanPortMAC[:], EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: hostMAC[:], SourceProtAddress: hostIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: lanPrefix.Addr().AsSlice()}), lan)
	icmp := tcpOut.clone()
	icmp.ip.Protocol = layers.IPProtocolICMPv4
	leave("ICMP echo", serialize(t, &icmp.eth, &icmp.ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1},
		gopacket.Payload(payload(56))), lan)

	t0 := monotonic(t)
	want := map[Key]Stats{}
	for _, c := range cases {
		ret, out := fx.runTC(t, c.frame, c.ctx)
		sock := fx.runSock(t, c.frame, c.ctx)
		if !c.take {
			if ret != tcActOK || !bytes.Equal(out, c.frame) {
				t.Errorf("%s: tc verdict %d (want TC_ACT_OK %d), frame changed %v", c.name, ret, tcActOK, !bytes.Equal(out, c.frame))
			}
			if sock != sockAccept {
				t.Errorf("%s: socket filter returned %#x, want the whole frame", c.name, sock)
			}
			continue
		}
		if ret != tcActRedirect {
			t.Errorf("%s: tc verdict %d, want TC_ACT_REDIRECT", c.name, ret)
			continue
		}
		if sock != 0 {
			t.Errorf("%s: socket filter returned %#x, want 0 (drop)", c.name, sock)
		}
		if err := compareFrames(out, c.want); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if err := checksumsOK(out, c.zeroUDP); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.compare {
			tl := int(binary.BigEndian.Uint16(c.frame[ipTotLen:]))
			res := fx.engine.Translate(append([]byte(nil), c.frame[ethHdrLen:ethHdrLen+tl]...), c.dir)
			if res.Verdict != nat.Forward {
				t.Errorf("%s: pkg/nat says %v %v", c.name, res.Verdict, res.Reason)
			} else if !bytes.Equal(res.Packet, out[ethHdrLen:ethHdrLen+tl]) {
				t.Errorf("%s: IPv4 bytes differ from pkg/nat's:\n tc  %x\n nat %x", c.name, out[ethHdrLen:ethHdrLen+tl], res.Packet)
			}
		}
		s := want[c.key]
		s.Packets += c.packets
		s.Bytes += c.bytes
		want[c.key] = s
	}
	t1 := monotonic(t)

	// Truncated frames at every length up to complete headers.
	for _, base := range []pkt{tcpOut, udpOut} {
		f := base.bytes(t)
		hl := tcpHdrEnd
		if base.udp != nil {
			hl = udpHdrEnd
		}
		for n := 0; n <= hl; n++ {
			if sock := fx.runSock(t, f[:n], lan); sock != sockAccept {
				t.Errorf("%d bytes of %s: socket filter returned %#x", n, protoName(decoded{tcp: base.tcp, udp: base.udp}), sock)
			}
			if !tcRunnable(f[:n]) {
				continue
			}
			if ret, out := fx.runTC(t, f[:n], lan); ret != tcActOK || !bytes.Equal(out, f[:n]) {
				t.Errorf("%d bytes of a frame: tc verdict %d, changed %v", n, ret, !bytes.Equal(out, f[:n]))
			}
		}
	}

	// Counters.
	n := 0
	if err := fx.f.Flows(func(k Key, e Entry, s Stats) bool {
		n++
		w := want[k]
		if s.Packets != w.Packets || s.Bytes != w.Bytes {
			t.Errorf("%v: %d packets %d bytes, want %d and %d", k, s.Packets, s.Bytes, w.Packets, w.Bytes)
		}
		if s.LastSeen < t0 || s.LastSeen > t1 {
			t.Errorf("%v: last seen %v outside the run [%v, %v]", k, s.LastSeen, t0, t1)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("Flows saw %d flows, want 4", n)
	}
	s, err := fx.f.Read(fx.key(ProtoTCP, true))
	if err != nil || s != (Stats{LastSeen: s.LastSeen, Packets: want[fx.key(ProtoTCP, true)].Packets, Bytes: want[fx.key(ProtoTCP, true)].Bytes}) {
		t.Errorf("Read: %+v, %v", s, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if u, ok := l.(*layers.UDP); ok {
			for _, n := range ls {
				if ip, ok := n.(*layers.IPv6); ok {
					u.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

func monotonic(t testing.TB) time.Duration {
	t.Helper()
	now, err := Monotonic()
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// TestSocketFilterMatchesTC: over many random mutations of frames the fast
// path takes (bits flipped in the headers, the source MAC changed, the
// header checksum fixed or not, frames cut short, GSO sizes, the other
// port), the socket filter
// drops exactly the frames the tc program redirects.
func TestSocketFilterMatchesTC(t *testing.T) {
	fx := newProgFixture(t)
	type variant struct {
		frame []byte
		c     skBuff
	}
	var vs []variant
	for _, proto := range []uint8{ProtoUDP, ProtoTCP} {
		for _, out := range []bool{true, false} {
			c := ctx(fx.wanIf)
			if out {
				c = ctx(fx.lanIf)
			}
			p := basePkt(proto, out, fx.ext(proto))
			vs = append(vs, variant{p.bytes(t), c})
			p.payload = payload(1500)
			vs = append(vs, variant{p.bytes(t), c})
			p.payload = nil
			p.pad = 10
			vs = append(vs, variant{p.bytes(t), c})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	gsoSizes := []uint32{1000, 1448, 1460, 1461, 1472, 1473, 1480}
	var taken, left int
	for n := 0; n < 40000; n++ {
		v := vs[rng.IntN(len(vs))]
		f := append([]byte(nil), v.frame...)
		c := v.c
		for m := rng.IntN(3); m >= 0; m-- {
			f[rng.IntN(min(len(f), 60))] ^= byte(1 << rng.IntN(8))
		}
		switch rng.IntN(16) { // the source MAC: another device's, or one bit off
		case 0:
			copy(f[6:12], []byte{0x02, 0, 0, 0, byte(rng.IntN(4)), byte(rng.IntN(16))})
		case 1:
			f[6+rng.IntN(6)] ^= byte(1 << rng.IntN(8))
		}
		if rng.IntN(2) == 0 {
			fixIPChecksum(f)
		}
		if rng.IntN(10) == 0 {
			f = f[:rng.IntN(len(f)+1)]
		}
		if rng.IntN(10) == 0 {
			c.IngressIfindex = uint32(fx.lanIf + fx.wanIf - int(c.IngressIfindex))
		}
		if rng.IntN(4) == 0 {
			c.GsoSize, c.GsoSegs = gsoSizes[rng.IntN(len(gsoSizes))], uint32(rng.IntN(4))
		}
		sock := fx.runSock(t, f, c)
		if sock != 0 && sock != sockAccept {
			t.Fatalf("mutation %d: socket filter returned %#x", n, sock)
		}
		if !tcRunnable(f) {
			if sock != sockAccept {
				t.Fatalf("mutation %d: socket filter drops a %d-byte frame", n, len(f))
			}
			continue
		}
		ret, out := fx.runTC(t, f, c)
		switch {
		case ret == tcActOK && sock == sockAccept:
			left++
			if !bytes.Equal(out, f) {
				t.Fatalf("mutation %d: TC_ACT_OK but the frame changed", n)
			}
		case ret == tcActRedirect && sock == 0:
			taken++
			if len(out) >= ethHdrLen+ipHdrLen && internetChecksum(out[ethHdrLen:ethHdrLen+ipHdrLen]) != 0 {
				t.Fatalf("mutation %d: redirected with a bad IPv4 header checksum: %x", n, out[:ethHdrLen+ipHdrLen])
			}
		default:
			t.Fatalf("mutation %d: tc verdict %d, socket filter %#x, ingress %d, gso_size %d\nframe %x...", n, ret, sock, c.IngressIfindex, c.GsoSize, f[:min(len(f), 64)])
		}
	}
	t.Logf("40000 mutations: %d redirected and dropped by the socket filter, %d left to routerd", taken, left)
	if taken < 4000 || left < 4000 {
		t.Errorf("the mutations are lopsided: %d taken, %d left", taken, left)
	}
}

// TestVerifier loads both programs with the verifier's statistics and
// logs them, with their instruction counts.
func TestVerifier(t *testing.T) {
	fx := newProgFixture(t)
	for _, g := range []struct {
		typ  ebpf.ProgramType
		name string
		gen  func(int) (asm.Instructions, error)
	}{{ebpf.SchedCLS, tcProgName, tcProgram}, {ebpf.SocketFilter, sockProgName, socketFilterProgram}} {
		spec, err := programSpec(g.typ, g.name, g.gen, fx.f.flows)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ebpf.NewProgramWithOptions(spec, ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats})
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		xl, err := info.Instructions()
		if err != nil {
			t.Fatal(err)
		}
		jited, _ := info.JitedSize()
		t.Logf("%s (%v): %d instructions (%d slots) generated, %d after the verifier's rewrites, %d bytes JITed; %s",
			g.name, g.typ, len(spec.Instructions), spec.Instructions.Size()/8, len(xl), jited,
			strings.ReplaceAll(strings.TrimSpace(p.VerifierLog), "\n", "; "))
		p.Close()
	}
}
