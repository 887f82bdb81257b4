package wan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/passgate/passgate/pkg/packet"
)

var (
	serverMAC = net.HardwareAddr{0x02, 0x15, 0x90, 0, 0, 1}
	payload   = func() []byte { // a real message, as gopacket decodes UDP 67/68 as DHCP
		d, err := dhcpv4.NewDiscovery(clientMAC)
		if err != nil {
			panic(err)
		}
		return d.ToBytes()
	}()
)

// TestAppendClientFrame builds frames with our encoder and decodes them
// with gopacket, checksums included.
func TestAppendClientFrame(t *testing.T) {
	for _, tc := range []struct {
		name                string
		dstMAC              net.HardwareAddr
		src, dst            netip.Addr
		wantDstMAC          net.HardwareAddr
		wantSrc, wantDst    string
		payload, prefixWith []byte
	}{
		{name: "broadcast from nothing", wantDstMAC: broadcastMAC, wantSrc: "0.0.0.0", wantDst: "255.255.255.255", payload: payload},
		{name: "rebinding: broadcast from the lease", src: addr100, wantDstMAC: broadcastMAC, wantSrc: "203.0.113.100", wantDst: "255.255.255.255", payload: payload},
		{name: "explicit broadcast ignores MAC", dstMAC: serverMAC, dst: bcastIP, wantDstMAC: broadcastMAC, wantSrc: "0.0.0.0", wantDst: "255.255.255.255", payload: payload},
		{name: "renewing: unicast", dstMAC: serverMAC, src: addr100, dst: serverA, wantDstMAC: serverMAC, wantSrc: "203.0.113.100", wantDst: "203.0.113.1", payload: payload},
		{name: "unicast without MAC", src: addr100, dst: serverA, wantDstMAC: broadcastMAC, wantSrc: "203.0.113.100", wantDst: "203.0.113.1", payload: payload},
		{name: "odd length", dstMAC: serverMAC, src: addr100, dst: serverA, wantDstMAC: serverMAC, wantSrc: "203.0.113.100", wantDst: "203.0.113.1", payload: []byte("odd")},
		{name: "empty", wantDstMAC: broadcastMAC, wantSrc: "0.0.0.0", wantDst: "255.255.255.255"},
		{name: "appends", wantDstMAC: broadcastMAC, wantSrc: "0.0.0.0", wantDst: "255.255.255.255", payload: payload, prefixWith: []byte("keep me")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := bytes.Clone(tc.prefixWith)
			out := AppendClientFrame(prefix, clientMAC, tc.dstMAC, tc.src, tc.dst, tc.payload)
			if !bytes.Equal(out[:len(tc.prefixWith)], tc.prefixWith) {
				t.Fatalf("prefix clobbered")
			}
			frame := out[len(tc.prefixWith):]
			if len(frame) != 42+len(tc.payload) {
				t.Errorf("frame length %d", len(frame))
			}
			p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{})
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if eth == nil || ip == nil || udp == nil {
				t.Fatalf("gopacket: %v", p)
			}
			if el := p.ErrorLayer(); el != nil && len(tc.payload) >= 240 {
				t.Fatalf("gopacket: %v", el.Error()) // short payloads are not DHCP
			}
			if !bytes.Equal(eth.SrcMAC, clientMAC) || !bytes.Equal(eth.DstMAC, tc.wantDstMAC) || eth.EthernetType != layers.EthernetTypeIPv4 {
				t.Errorf("ethernet %v → %v type %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
			}
			if ip.Version != 4 || ip.IHL != 5 || ip.TTL != 64 || ip.Protocol != layers.IPProtocolUDP || ip.Flags != 0 || ip.FragOffset != 0 ||
				int(ip.Length) != 28+len(tc.payload) || ip.SrcIP.String() != tc.wantSrc || ip.DstIP.String() != tc.wantDst {
				t.Errorf("ipv4 %+v", ip)
			}
			if _, r := ip.VerifyChecksum(); !r.Valid {
				t.Errorf("IPv4 checksum %#x, want %#x", r.Actual, r.Correct)
			}
			udp.SetNetworkLayerForChecksum(ip)
			if _, r := udp.VerifyChecksum(); !r.Valid || udp.Checksum == 0 {
				t.Errorf("UDP checksum %#x, want %#x", r.Actual, r.Correct)
			}
			if udp.SrcPort != 68 || udp.DstPort != 67 || int(udp.Length) != 8+len(tc.payload) || !bytes.Equal(udp.Payload, tc.payload) {
				t.Errorf("udp %d→%d len %d payload %q", udp.SrcPort, udp.DstPort, udp.Length, udp.Payload)
			}
			// And gopacket's own encoding of the same frame is identical.
			// (gopacket pads to the Ethernet minimum; we leave that to the NIC.)
			ref := gopacketFrame(t, clientMAC, eth.DstMAC, ip.SrcIP, ip.DstIP, 68, 67, tc.payload)
			if len(ref) < len(frame) || !bytes.Equal(ref[:len(frame)], frame) || !bytes.Equal(ref[len(frame):], make([]byte, len(ref)-len(frame))) {
				t.Errorf("differs from gopacket's encoding\n got %x\nwant %x", frame, ref)
			}
		})
	}
}

func gopacketFrame(t *testing.T, src, dst net.HardwareAddr, sip, dip net.IP, sport, dport int, pl []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: sip, DstIP: dip}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(pl)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serverFrame is a server→client frame built by gopacket, which a test
// may then damage.
type frameSpec struct {
	dstMAC   net.HardwareAddr
	dst      string
	sport    int
	dport    int
	options  []layers.IPv4Option
	flags    layers.IPv4Flag
	fragOff  uint16
	vlan     bool
	proto    layers.IPProtocol
	ethType  layers.EthernetType
	noUDPSum bool
}

func buildServerFrame(t *testing.T, s frameSpec) []byte {
	t.Helper()
	if s.dstMAC == nil {
		s.dstMAC = clientMAC
	}
	if s.dst == "" {
		s.dst = "203.0.113.100"
	}
	if s.sport == 0 {
		s.sport = 67
	}
	if s.dport == 0 {
		s.dport = 68
	}
	if s.proto == 0 {
		s.proto = layers.IPProtocolUDP
	}
	if s.ethType == 0 {
		s.ethType = layers.EthernetTypeIPv4
	}
	eth := &layers.Ethernet{SrcMAC: serverMAC, DstMAC: s.dstMAC, EthernetType: s.ethType}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: s.proto, SrcIP: net.ParseIP("203.0.113.1"), DstIP: net.ParseIP(s.dst),
		Options: s.options, Flags: s.flags, FragOffset: s.fragOff}
	ls := []gopacket.SerializableLayer{eth}
	if s.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 7, Type: s.ethType})
	}
	ls = append(ls, ip)
	switch s.proto {
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport)}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(buf.Bytes())
	if s.noUDPSum {
		ihl := int(b[14]&0xf) * 4
		binary.BigEndian.PutUint16(b[14+ihl+6:], 0)
	}
	return b
}

func TestParseServerFrame(t *testing.T) {
	ihl := func(b []byte) int { return int(b[14]&0xf) * 4 }
	for _, tc := range []struct {
		name    string
		spec    frameSpec
		damage  func(b []byte) []byte
		wantErr error
	}{
		{name: "unicast to the offered address (dnsmasq, dhcpd)", spec: frameSpec{}},
		{name: "limited broadcast", spec: frameSpec{dstMAC: broadcastMAC, dst: "255.255.255.255"}},
		{name: "subnet broadcast", spec: frameSpec{dstMAC: broadcastMAC, dst: "203.0.113.255"}},
		{name: "IP options", spec: frameSpec{options: []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}}},
		{name: "DF set", spec: frameSpec{flags: layers.IPv4DontFragment}},
		{name: "no UDP checksum", spec: frameSpec{noUDPSum: true}},
		{name: "Ethernet padding", spec: frameSpec{}, damage: func(b []byte) []byte { return append(b, make([]byte, 30)...) }},

		{name: "another host's MAC", spec: frameSpec{dstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x42}}, wantErr: ErrNotDHCP},
		{name: "ARP", spec: frameSpec{ethType: layers.EthernetTypeARP}, damage: func(b []byte) []byte { return b[:42] }, wantErr: ErrNotDHCP},
		{name: "VLAN tagged", spec: frameSpec{vlan: true}, wantErr: ErrNotDHCP},
		{name: "to the server port", spec: frameSpec{sport: 68, dport: 67}, wantErr: ErrNotDHCP},
		{name: "DNS", spec: frameSpec{sport: 53, dport: 68}, wantErr: ErrNotDHCP},
		{name: "from a random port", spec: frameSpec{sport: 1067}, wantErr: ErrNotDHCP},
		{name: "TCP 67→68", spec: frameSpec{proto: layers.IPProtocolTCP}, wantErr: ErrNotDHCP},
		{name: "later fragment", spec: frameSpec{fragOff: 100}, wantErr: ErrNotDHCP},
		{name: "runt", spec: frameSpec{}, damage: func(b []byte) []byte { return b[:10] }, wantErr: ErrNotDHCP},
		{name: "IPv4 header cut", spec: frameSpec{}, damage: func(b []byte) []byte { return b[:30] }, wantErr: ErrNotDHCP},
		{name: "IHL below 5", spec: frameSpec{}, damage: func(b []byte) []byte { b[14] = 0x44; return b }, wantErr: ErrNotDHCP},

		{name: "first fragment", spec: frameSpec{flags: layers.IPv4MoreFragments}, wantErr: ErrBadFrame},
		{name: "bad IPv4 checksum", spec: frameSpec{}, damage: func(b []byte) []byte { b[14+10] ^= 1; return b }, wantErr: ErrBadFrame},
		{name: "bad UDP checksum", spec: frameSpec{}, damage: func(b []byte) []byte { b[14+20+6] ^= 1; return b }, wantErr: ErrBadFrame},
		{name: "payload corrupted", spec: frameSpec{}, damage: func(b []byte) []byte { b[len(b)-1] ^= 0x55; return b }, wantErr: ErrBadFrame},
		{name: "truncated datagram", spec: frameSpec{}, damage: func(b []byte) []byte { return b[:len(b)-10] }, wantErr: ErrBadFrame},
		{name: "UDP length beyond IP", spec: frameSpec{}, damage: func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[14+ihl(b)+4:], uint16(len(b)))
			return b
		}, wantErr: ErrBadFrame},
		{name: "UDP length below 8", spec: frameSpec{noUDPSum: true}, damage: func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[14+ihl(b)+4:], 4)
			return b
		}, wantErr: ErrBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := buildServerFrame(t, tc.spec)
			if tc.damage != nil {
				b = tc.damage(b)
			}
			got, err := ParseServerFrame(b, clientMAC)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("payload %q", got)
			}
			// The oracle agrees on the payload.
			p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
			if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp == nil || !bytes.Equal(udp.Payload, got) {
				t.Errorf("gopacket disagrees: %v", p)
			}
		})
	}
}

func TestFrameConn(t *testing.T) {
	var written [][]byte
	var failWrite error
	resolved := map[netip.Addr]net.HardwareAddr{serverA: serverMAC}
	fc := NewFrameConn(clientMAC, func(f []byte) error {
		written = append(written, bytes.Clone(f))
		return failWrite
	}, func(ip netip.Addr) (net.HardwareAddr, error) {
		if hw, ok := resolved[ip]; ok {
			return hw, nil
		}
		return nil, errors.New("no neighbour")
	})

	// Send: broadcast, unicast via resolve, resolve failure, write failure.
	if err := fc.Send(payload, netip.Addr{}, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := fc.Send(payload, serverA, addr100); err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || !bytes.Equal(written[0][:6], broadcastMAC) || !bytes.Equal(written[1][:6], serverMAC) {
		t.Fatalf("written %x", written)
	}
	if err := fc.Send(payload, serverB, addr100); err == nil {
		t.Error("unicast to an unresolvable server succeeded")
	}
	failWrite = errors.New("ENETDOWN")
	if err := fc.Send(payload, netip.Addr{}, netip.Addr{}); !errors.Is(err, failWrite) {
		t.Errorf("write failure: %v", err)
	}
	if err := fc.Send(make([]byte, MaxMessageLen+1), netip.Addr{}, netip.Addr{}); err == nil {
		t.Error("oversized message sent")
	}

	// Deliver takes DHCP frames only; Recv returns copies.
	good := buildServerFrame(t, frameSpec{})
	if !fc.Deliver(good) {
		t.Fatal("DHCP frame not taken")
	}
	good[len(good)-1] = 'X' // the data plane reuses its buffer
	if fc.Deliver(buildServerFrame(t, frameSpec{sport: 53})) {
		t.Error("DNS frame taken")
	}
	bad := buildServerFrame(t, frameSpec{})
	bad[14+20+6] ^= 1
	if !fc.Deliver(bad) {
		t.Error("damaged DHCP frame not consumed")
	}
	msg, err := fc.Recv(context.Background())
	if err != nil || !bytes.Equal(msg, payload) {
		t.Fatalf("Recv %q %v", msg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := fc.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Recv on empty queue: %v", err)
	}

	// A flood beyond the queue is dropped and counted, never blocks.
	for range FrameConnQueue + 5 {
		fc.Deliver(buildServerFrame(t, frameSpec{}))
	}
	if st := fc.Stats(); st.Delivered != 1+FrameConnQueue || st.Dropped != 5 || st.Damaged != 1 {
		t.Errorf("stats %+v", st)
	}
}

func FuzzParseServerFrame(f *testing.F) {
	f.Add(AppendClientFrame(nil, serverMAC, clientMAC, serverA, addr100, payload))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Make some inputs look like server frames to get past the cheap checks.
		if len(b) > 40 && b[0]&1 == 1 {
			copy(b, broadcastMAC)
			binary.BigEndian.PutUint16(b[12:], packet.EtherTypeIPv4)
			b[14] = 0x45
			b[14+9] = packet.ProtoUDP
			binary.BigEndian.PutUint16(b[34:], ServerPort)
			binary.BigEndian.PutUint16(b[36:], ClientPort)
		}
		msg, err := ParseServerFrame(b, clientMAC)
		if err != nil {
			if !errors.Is(err, ErrNotDHCP) && !errors.Is(err, ErrBadFrame) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(msg) > len(b) {
			t.Fatal("payload longer than frame")
		}
	})
}
