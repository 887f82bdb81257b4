package fw6

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// FuzzEngineInvariants drives the engine with interleaved LAN, WAN and
// router packets (built from the fuzzer's bytes, some of them then
// mutated) and clock steps, and checks after every step:
//
//   - every call returns, and the table's invariants hold (checkTable:
//     indexes consistent, total, per-host, WAN-opened and unconfirmed
//     caps);
//   - no packet from the WAN reaches a LAN host unless a model kept by the
//     test (from gopacket's reading of what the engine forwarded from the
//     LAN) says a LAN host opened that flow — or, for the filtering
//     behaviour, a flow from that endpoint to that remote — or the allow
//     rule covers it, or (when the fuzzer turns them on) inbound ping and
//     inbound IPsec admit it;
//   - what the engine hands to the router's stack from the WAN is
//     addressed to the router;
//   - every packet the engine builds (Reply, and Tick's errors) decodes in
//     gopacket with a valid ICMPv6 checksum, fits in 1280 bytes and comes
//     from one of the router's addresses.
func FuzzEngineInvariants(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 4, 0, 0, 1, 2, 3, 4, 5, 6})
	f.Add([]byte{1, 2, 1, 2, 0, 0, 0, 6, 1, 5, 2, 2, 0, 0, 0, 0, 8, 200, 6, 0, 1, 1, 2, 3})
	f.Add([]byte{2, 0, 0, 0, 3, 1, 2, 7, 9, 7, 0, 1, 0, 0, 1, 2, 3, 4, 40, 0x60, 41, 7, 0x2c})
	f.Add([]byte{3, 9, 0, 0, 0, 1, 2, 4, 5, 9, 1, 0, 0, 1, 2, 8, 255, 4, 1, 1, 2, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &reader{b: data}
		mode := in.u8()
		strict := mode&1 == 0
		m := &model{
			strict: strict, eif: mode&2 != 0,
			out: map[flowKey]bool{}, ep: map[flowKey]bool{}, pairs: map[flowKey]bool{},
			echo: map[flowKey]bool{}, frags: map[flowKey]bool{},
		}
		r := newRig(t, func(c *Config) {
			c.MaxSessions = 64
			c.MaxSessionsPerHost = 16
			c.WANMTU = 1280
			c.ICMPErrorBurst = 8
			c.InboundPing, c.InboundIPsec, c.InboundHIP = !strict, !strict, !strict
			if m.eif {
				c.Filtering = EndpointIndependent
			}
			c.Allow = []AllowRule{{Name: "ssh", Proto: packet.ProtoTCP, PortStart: 22, PortEnd: 22, Host: mustAddr(hostC)}}
		})
		for step := 0; step < 48 && len(in.b) > 0; step++ {
			op := in.u8() % 10
			switch {
			case op <= 3:
				m.check(t, r, FromLAN, buildPkt(t, in, true))
			case op <= 6:
				m.check(t, r, FromWAN, buildPkt(t, in, false))
			case op == 7:
				lan := in.u8()&1 == 0
				b := buildPkt(t, in, lan)
				for n := in.u8() % 4; n > 0; n-- {
					b[int(in.u8())%len(b)] = in.u8()
				}
				d := FromWAN
				if lan {
					d = FromLAN
				}
				// Prefetching reads the table and changes nothing, for a
				// mangled packet's hint or a made-up one.
				r.e.PrefetchSession(r.e.PrefetchSlot(b, d))
				r.e.PrefetchSession(Hint(uint64(in.u8())<<24 | uint64(in.u8())<<8 | uint64(in.u8())))
				m.check(t, r, d, b)
			case op == 8:
				d := time.Duration(in.u8()) * 100 * time.Millisecond
				if d > 25*time.Second {
					d = time.Hour
				}
				for _, e := range r.advance(d) {
					checkBuilt(t, r, e)
				}
			default:
				b := buildPkt(t, in, true)
				copy(b[8:24], ip(routerWAN))
				fixChecksum(b)
				m.check(t, r, FromSelf, b)
			}
			checkTable(t, r.e)
		}
		r.e.Sessions(func(Session) bool { return true })
	})
}

type reader struct{ b []byte }

func (r *reader) u8() uint8 {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

var (
	fzHosts   = []string{hostA, hostB, hostC, routerWAN}
	fzRemotes = []string{srv, srv2, "2600:5:6:7::21"}
	fzPorts   = []uint16{22, 53, 443, 500, 1701, 1723, 4500, 5000, 40000, 40001}
	fzFlags   = []string{"S", "SA", "A", "PA", "FA", "R", "RA", ""}
)

// buildPkt builds a well-formed packet from the fuzzer's bytes: from a LAN
// host to a remote (lan) or back.
func buildPkt(t *testing.T, in *reader, lan bool) []byte {
	host := fzHosts[int(in.u8())%len(fzHosts)]
	rem := fzRemotes[int(in.u8())%len(fzRemotes)]
	sp, dp := fzPorts[int(in.u8())%len(fzPorts)], fzPorts[int(in.u8())%len(fzPorts)]
	hl := []uint8{64, 64, 1, 2}[in.u8()%4]
	src, dst := host, rem
	if !lan {
		src, dst = rem, host
	}
	p := pk{Src: src, Dst: dst, SP: sp, DP: dp, HL: hl}
	switch k := in.u8() % 12; k {
	case 0, 1:
		p.Flags = fzFlags[int(in.u8())%len(fzFlags)]
		p.Ack = 1001 + uint32(in.u8())
		return tcp6(t, p)
	case 2, 3:
		return udp6(t, p)
	case 4:
		return icmp6(t, p, packet.ICMPv6EchoRequest, sp, 1)
	case 5:
		return icmp6(t, p, packet.ICMPv6EchoReply, sp, 1)
	case 6:
		return raw6(t, p, packet.ProtoESP, esp(uint32(sp)))
	case 7:
		return raw6(t, p, packet.ProtoGRE, gre(sp))
	case 8:
		// An error about a packet going the other way.
		q := pk{Src: dst, Dst: src, SP: dp, DP: sp}
		var about []byte
		switch in.u8() % 3 {
		case 0:
			about = tcp6(t, q)
		case 1:
			about = udp6(t, q)
		default:
			about = icmp6(t, q, packet.ICMPv6EchoRequest, dp, 1)
		}
		return icmpErr6(t, src, dst, 1+in.u8()%4, 0, 1280, about[:min(len(about), 40+int(in.u8()))])
	case 9:
		f := &layers.IPv6Fragment{FragmentOffset: uint16(in.u8() % 3), MoreFragments: in.u8()&1 == 0, Identification: uint32(in.u8() % 4)}
		p.Ext = []gopacketLayer{f}
		if f.FragmentOffset == 0 {
			return udp6(t, p)
		}
		return raw6(t, p, packet.ProtoUDP, make([]byte, 24))
	case 10:
		p.Ext = []gopacketLayer{dstOpts()}
		p.Payload = make([]byte, int(in.u8())*8)
		return udp6(t, p)
	}
	return raw6(t, p, 143, []byte{1, 2, 3, 4})
}

// fixChecksum recomputes the transport checksum after an address change
// (TCP, UDP and ICMPv6 without extension headers).
func fixChecksum(b []byte) {
	p := packet.IPv6(b)
	l4 := p[40:]
	var off int
	switch p.NextHeader() {
	case packet.ProtoTCP:
		off = 16
	case packet.ProtoUDP:
		off = 6
	case packet.ProtoICMPv6:
		off = 2
	default:
		return
	}
	if len(l4) < off+2 {
		return
	}
	l4[off], l4[off+1] = 0, 0
	c := packet.Fold(packet.Sum(l4, packet.PseudoHeaderSum6(p.Src(), p.Dst(), p.NextHeader(), len(l4))))
	l4[off], l4[off+1] = byte(c>>8), byte(c)
}

type flowKey struct {
	proto        int
	lan, rem     netip.Addr
	lport, rport uint16
}

// model is the test's own account of what the LAN opened, from
// gopacket's reading of the packets the engine forwarded from the LAN.
type model struct {
	strict, eif bool
	out         map[flowKey]bool // 5-tuples the LAN sent
	ep          map[flowKey]bool // (proto, LAN endpoint, remote address or none): what filtering admits
	pairs       map[flowKey]bool // (proto, LAN address, remote address); proto -1: any
	echo        map[flowKey]bool // (LAN address, identifier, remote)
	frags       map[flowKey]bool // inbound datagrams whose first fragment was forwarded
}

// view is gopacket's reading of a packet.
type view struct {
	src, dst  netip.Addr
	proto     int // -1: gopacket could not tell
	next      int // the Next Header gopacket stopped at
	sp, dp    uint16
	ports     bool
	icmp      *layers.ICMPv6
	laterFrag bool
	fragID    uint32
	fragFirst bool
}

func viewOf(b []byte) view {
	v := view{proto: -1}
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
	ip6, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip6 == nil {
		return v
	}
	v.src, _ = netip.AddrFromSlice(ip6.SrcIP)
	v.dst, _ = netip.AddrFromSlice(ip6.DstIP)
	v.next = int(ip6.NextHeader)
	ls := pkt.Layers()
	for i := 0; i < len(ls); i++ {
		switch x := ls[i].(type) {
		case *layers.IPv6Fragment:
			v.fragID = x.Identification
			if x.FragmentOffset != 0 {
				v.laterFrag = true
				return v
			}
			v.fragFirst = x.MoreFragments
			// gopacket stops at a Fragment header: decode the first
			// fragment's rest as what its Next Header names.
			rest := gopacket.NewPacket(x.Payload, x.NextHeader.LayerType(), gopacket.DecodeOptions{NoCopy: true})
			ls = append(ls[:i+1], rest.Layers()...)
		case *layers.TCP:
			v.proto, v.sp, v.dp, v.ports = packet.ProtoTCP, uint16(x.SrcPort), uint16(x.DstPort), true
		case *layers.UDP:
			v.proto, v.sp, v.dp, v.ports = packet.ProtoUDP, uint16(x.SrcPort), uint16(x.DstPort), true
		case *layers.ICMPv6:
			v.proto, v.icmp = packet.ProtoICMPv6, x
			if len(x.Payload) >= 4 {
				v.sp = uint16(x.Payload[0])<<8 | uint16(x.Payload[1])
			}
			return v
		case *layers.IPv6Destination:
			v.next = int(x.NextHeader)
		case *layers.IPv6Routing:
			v.next = int(x.NextHeader)
		case *layers.IPSecAH:
			v.next = int(x.NextHeader)
		case *layers.IPSecESP:
			v.proto = packet.ProtoESP
		case *layers.GRE:
			v.proto = packet.ProtoGRE
		}
		if v.proto >= 0 {
			return v
		}
	}
	return v
}

func (m *model) record(v view) {
	if !v.src.IsValid() {
		return
	}
	m.pairs[flowKey{proto: -1, lan: v.src, rem: v.dst}] = true
	if v.proto < 0 {
		return
	}
	m.pairs[flowKey{proto: v.proto, lan: v.src, rem: v.dst}] = true
	if v.ports {
		m.out[flowKey{v.proto, v.src, v.dst, v.sp, v.dp}] = true
		m.ep[flowKey{proto: v.proto, lan: v.src, lport: v.sp, rem: v.dst}] = true
		m.ep[flowKey{proto: v.proto, lan: v.src, lport: v.sp}] = true
		if v.proto == packet.ProtoTCP && v.dp == 1723 {
			m.pairs[flowKey{proto: packet.ProtoGRE, lan: v.src, rem: v.dst}] = true
		}
	}
	if v.icmp != nil && !packet.ICMPv6IsError(v.icmp.TypeCode.Type()) {
		m.echo[flowKey{lan: v.src, lport: v.sp, rem: v.dst}] = true
	}
}

// admits says whether the model lets a WAN packet through to a LAN host.
func (m *model) admits(v view) bool {
	if !v.src.IsValid() {
		return false
	}
	if v.laterFrag {
		return m.frags[flowKey{lan: v.dst, rem: v.src, lport: uint16(v.fragID)}]
	}
	switch {
	case v.proto < 0:
		// gopacket could not decode it (a truncated ESP header, HIP):
		// what inbound IPsec and HIP admit is by Next Header alone.
		if !m.strict && (v.next == packet.ProtoHIP || v.next == packet.ProtoESP) {
			return true
		}
		return m.pairs[flowKey{proto: -1, lan: v.dst, rem: v.src}]
	case v.ports:
		if m.out[flowKey{v.proto, v.dst, v.src, v.dp, v.sp}] {
			return true
		}
		k := flowKey{proto: v.proto, lan: v.dst, lport: v.dp}
		if !m.eif {
			k.rem = v.src
		}
		if m.ep[k] {
			return true
		}
		if v.proto == packet.ProtoTCP && v.dst == mustAddr(hostC) && v.dp == 22 {
			return true // the allow rule
		}
		return !m.strict && v.proto == packet.ProtoUDP && (v.dp == 500 || v.dp == 4500)
	case v.icmp != nil:
		typ := v.icmp.TypeCode.Type()
		if !packet.ICMPv6IsError(typ) {
			return m.echo[flowKey{lan: v.dst, lport: v.sp, rem: v.src}] || !m.strict
		}
		if len(v.icmp.Payload) < 4+40 {
			return false
		}
		q := viewOf(v.icmp.Payload[4:])
		if q.src != v.dst {
			return false
		}
		switch {
		case q.ports:
			return m.out[flowKey{q.proto, q.src, q.dst, q.sp, q.dp}]
		case q.icmp != nil:
			// With inbound ping, an echo session may have been opened from
			// the WAN: errors quoting that identifier match it.
			return m.echo[flowKey{lan: q.src, lport: q.sp, rem: q.dst}] || !m.strict
		}
		return m.pairs[flowKey{proto: -1, lan: q.src, rem: q.dst}]
	case v.proto == packet.ProtoESP && !m.strict:
		return true
	}
	return m.pairs[flowKey{proto: v.proto, lan: v.dst, rem: v.src}]
}

func (m *model) check(t *testing.T, r *rig, d Dir, b []byte) {
	t.Helper()
	orig := append([]byte(nil), b...)
	res := r.e.Process(b, d)
	switch res.Verdict {
	case Forward:
		v := viewOf(res.Packet)
		lanAddr := r.e.lan.contains(fromNetip(v.src))
		switch d {
		case FromLAN:
			if !lanAddr {
				t.Fatalf("forwarded a LAN packet from %v", v.src)
			}
			m.record(v)
		case FromWAN:
			if !r.e.lan.contains(fromNetip(v.dst)) || lanAddr {
				t.Fatalf("forwarded a WAN packet %v→%v", v.src, v.dst)
			}
			if !m.admits(v) {
				t.Fatalf("unsolicited WAN packet reached a LAN host: %v %d→%d (proto %d)\n% x", v.src, v.sp, v.dp, v.proto, orig)
			}
			if v.fragFirst {
				m.frags[flowKey{lan: v.dst, rem: v.src, lport: uint16(v.fragID)}] = true
			}
		}
		if d != FromSelf && res.Packet[7] != orig[7]-1 {
			t.Fatal("hop limit not decremented")
		}
		if len(res.Packet) > 1500 {
			t.Fatal("larger than the MTU")
		}
	case ToSelf:
		if d == FromWAN {
			dst := fromNetip(viewOf(res.Packet).dst)
			if !r.e.isRouter(dst) && classify(dst) != clMulticast {
				t.Fatalf("handed a WAN packet for %v to the router", dst.netip())
			}
		}
	case Reply:
		checkBuilt(t, r, res.Packet)
	}
}

// checkBuilt checks a packet the engine built: an ICMPv6 error from one of
// the router's addresses, within the minimum MTU, valid to gopacket.
func checkBuilt(t *testing.T, r *rig, b []byte) {
	t.Helper()
	if len(b) > packet.IPv6MinMTU {
		t.Fatalf("error of %d bytes", len(b))
	}
	d := oracle(t, b)
	if d.ICMP == nil || !packet.ICMPv6IsError(d.ICMP.TypeCode.Type()) {
		t.Fatal("built packet is not an ICMPv6 error")
	}
	if !r.e.isRouter(load(b[8:24])) {
		t.Fatalf("error from %s", d.Src())
	}
}
