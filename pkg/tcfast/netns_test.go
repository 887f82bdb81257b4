package tcfast

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/internal/sysdeps"
)

// The namespace test: a LAN host, a router and a WAN host in three
// namespaces, joined by two veth pairs.
//
//	tcf-lan: tcfl0 192.168.1.10/24 (hostMAC) ── tcfr0 (lanPortMAC) ┐ tcf-rtr: no addresses,
//	tcf-wan: tcfw0 198.51.100.7/24 (remoteMAC) ─ tcfr1 (wanPortMAC) ┘ the tc program on both
//
// The hosts reach each other only through the fast path: the router
// namespace has no addresses and does not forward, so a frame the tc
// program does not redirect dies there. The hosts send with ordinary
// sockets: a UDP flow, and a TCP connection whose two ends are set up
// established with TCP_REPAIR (no handshake to forward), as a NAPT would
// see them after routerd had handled the handshake: LAN host
// 192.168.1.10:port <-> 203.0.113.2:ext port <-> server 198.51.100.7.

const (
	udpExtPort  = 61000
	tcpExtPort  = 61001
	noCheckMark = 0xee // first payload byte of the UDP datagrams sent without a checksum
)

// topo is one instance of the test network.
type topo struct {
	lan, rtr, wan string
	lanIf, wanIf  int // the router's ports
	f             *FastPath
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	if err := sysdeps.Require(sysdeps.Ethtool); err != nil {
		t.Fatalf("prerequisite missing: offloads are set with ethtool: %v", err)
	}
	tp := &topo{lan: newNS(t, "lan"), rtr: newNS(t, "rtr"), wan: newNS(t, "wan")}
	mac := func(m [6]byte) string { return net.HardwareAddr(m[:]).String() }
	run(t, "ip", "-n", tp.lan, "link", "add", "name", "tcfl0", "address", mac(hostMAC), "type", "veth",
		"peer", "name", "tcfr0", "address", mac(lanPortMAC), "netns", tp.rtr)
	run(t, "ip", "-n", tp.wan, "link", "add", "name", "tcfw0", "address", mac(remoteMAC), "type", "veth",
		"peer", "name", "tcfr1", "address", mac(wanPortMAC), "netns", tp.rtr)
	for _, c := range [][]string{
		{tp.lan, "addr", "add", "192.168.1.10/24", "dev", "tcfl0"},
		{tp.lan, "link", "set", "tcfl0", "up"},
		{tp.lan, "route", "add", "default", "via", "192.168.1.1"},
		{tp.lan, "neigh", "add", "192.168.1.1", "lladdr", mac(lanPortMAC), "dev", "tcfl0", "nud", "permanent"},
		{tp.wan, "addr", "add", "198.51.100.7/24", "dev", "tcfw0"},
		{tp.wan, "link", "set", "tcfw0", "up"},
		{tp.wan, "route", "add", "203.0.113.2/32", "dev", "tcfw0"},
		{tp.wan, "neigh", "add", "203.0.113.2", "lladdr", mac(wanPortMAC), "dev", "tcfw0", "nud", "permanent"},
		{tp.rtr, "link", "set", "tcfr0", "up"},
		{tp.rtr, "link", "set", "tcfr1", "up"},
	} {
		run(t, "ip", append([]string{"-n", c[0]}, c[1:]...)...)
	}
	tp.lanIf, _ = ifaceIn(t, tp.rtr, "tcfr0")
	tp.wanIf, _ = ifaceIn(t, tp.rtr, "tcfr1")
	f, err := New(Config{MaxFlows: 64})
	if err != nil {
		t.Fatal(err)
	}
	tp.f = f
	t.Cleanup(func() {
		inNS(t, tp.rtr, func() {
			if err := f.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	})
	inNS(t, tp.rtr, func() {
		for _, p := range []int{tp.lanIf, tp.wanIf} {
			if err := f.Attach(p); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, proto := range []uint8{ProtoUDP, ProtoTCP} {
		for _, out := range []bool{true, false} {
			if err := f.Put(tp.key(proto, out), tp.entry(proto, out)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tp
}

func extPort(proto uint8) uint16 {
	if proto == ProtoTCP {
		return tcpExtPort
	}
	return udpExtPort
}

func (tp *topo) key(proto uint8, out bool) Key {
	hp, rp := hostRemotePorts(proto)
	var k Key
	var err error
	if out {
		k, err = NewKey(tp.lanIf, proto, netip.AddrPortFrom(hostIP, hp), netip.AddrPortFrom(remoteIP, rp))
	} else {
		k, err = NewKey(tp.wanIf, proto, netip.AddrPortFrom(remoteIP, rp), netip.AddrPortFrom(extIP, extPort(proto)))
	}
	if err != nil {
		panic(err)
	}
	return k
}

func (tp *topo) entry(proto uint8, out bool) Entry {
	hp, _ := hostRemotePorts(proto)
	if out {
		return Entry{Rewrite: RewriteSource, Addr: extIP.As4(), Port: extPort(proto),
			Egress: uint32(tp.wanIf), MTU: 1500, DstMAC: remoteMAC, SrcMAC: wanPortMAC, FromMAC: hostMAC}
	}
	return Entry{Rewrite: RewriteDestination, Addr: hostIP.As4(), Port: hp,
		Egress: uint32(tp.lanIf), MTU: 1500, DstMAC: hostMAC, SrcMAC: lanPortMAC, FromMAC: remoteMAC}
}

// ethtool sets offload features of interface dev in namespace ns.
func ethtool(t *testing.T, ns, dev string, features ...string) {
	t.Helper()
	run(t, "ip", append([]string{"netns", "exec", ns, "ethtool", "-K", dev}, features...)...)
}

// virtio_net_hdr flags, as a packet socket with PACKET_VNET_HDR reports a
// frame's checksum state.
const (
	vnetNeedsCsum = 1 // CHECKSUM_PARTIAL: the transport checksum field holds the pseudo-header sum
	vnetHdrLen    = 10
)

// captured is a frame a packet socket received.
type captured struct {
	data    []byte
	pkttype uint8  // sockaddr_ll's: PACKET_HOST, PACKET_OUTGOING, ...
	flags   uint8  // virtio_net_hdr flags
	gsoSize uint16 // virtio_net_hdr gso_size
}

// capture is a packet socket (ETH_P_ALL, SOCK_RAW) on one interface,
// read by a goroutine into a list.
type capture struct {
	fd     int
	mu     sync.Mutex
	frames []captured
	stop   chan struct{}
	done   chan struct{}
	err    error
}

// openCapture opens a capture on interface ifname of namespace ns, with a
// virtio_net_hdr before each frame, and the fast path's socket filter if f
// is not nil. The filter is attached before the socket is bound, so it
// sees every frame the socket does.
func openCapture(t *testing.T, ns, ifname string, f *FastPath) *capture {
	t.Helper()
	c := &capture{fd: -1, stop: make(chan struct{}), done: make(chan struct{})}
	inNS(t, ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.fd = fd
		t.Cleanup(c.close)
		must(t, unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1))
		must(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20))
		must(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 20000}))
		if f != nil {
			must(t, f.AttachSocket(fd))
		}
		must(t, unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}))
	})
	go c.read()
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *capture) read() {
	defer close(c.done)
	buf := make([]byte, 1<<17)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.err = err
			return
		}
		if n < vnetHdrLen {
			continue
		}
		fr := captured{data: append([]byte(nil), buf[vnetHdrLen:n]...), flags: buf[0],
			gsoSize: binary.NativeEndian.Uint16(buf[4:])}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			fr.pkttype = ll.Pkttype
		}
		c.mu.Lock()
		c.frames = append(c.frames, fr)
		c.mu.Unlock()
	}
}

func (c *capture) close() {
	if c.fd < 0 {
		return
	}
	close(c.stop)
	<-c.done
	unix.Close(c.fd)
	c.fd = -1
}

func (c *capture) snapshot() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]captured(nil), c.frames...)
}

func (c *capture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

// quiesce waits until none of the captures has received a frame for
// 300 ms (at most 10 s).
func quiesce(t *testing.T, cs ...*capture) {
	t.Helper()
	total := func() int {
		n := 0
		for _, c := range cs {
			n += c.count()
		}
		return n
	}
	last, since := total(), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n := total(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			return
		}
	}
	t.Fatal("the captures did not fall quiet")
}

// udpSocket opens a UDP socket in ns bound to local.
func udpSocket(t *testing.T, ns string, local netip.AddrPort) int {
	t.Helper()
	var fd int
	inNS(t, ns, func() {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		must(t, err)
		t.Cleanup(func() { unix.Close(fd) })
		must(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2}))
		must(t, unix.Bind(fd, sockaddr4(local)))
	})
	return fd
}

func sockaddr4(a netip.AddrPort) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Addr: a.Addr().As4(), Port: int(a.Port())}
}

// repairedTCP opens a TCP socket in ns already established between local
// and remote (TCP_REPAIR), its next sequence numbers snd and rcv, MSS
// 1460, window scale 7, SACK and timestamps, windows of 1 MiB, and takes
// it out of repair mode.
func repairedTCP(t *testing.T, ns string, local, remote netip.AddrPort, snd, rcv uint32) int {
	t.Helper()
	var fd int
	inNS(t, ns, func() {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		must(t, err)
		t.Cleanup(func() {
			// Out of the test's way without a FIN or RST: close in repair mode.
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1)
			unix.Close(fd)
		})
		const sendQueue, recvQueue = 2, 1
		must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1))
		must(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
		must(t, unix.Bind(fd, sockaddr4(local)))
		must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, sendQueue))
		must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ, int(snd)))
		must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, recvQueue))
		must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ, int(rcv)))
		must(t, unix.Connect(fd, sockaddr4(remote)))
		must(t, unix.SetsockoptTCPRepairOpt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_OPTIONS, []unix.TCPRepairOpt{
			{Code: unix.TCPOPT_MAXSEG, Val: 1460},
			{Code: unix.TCPOPT_WINDOW, Val: 7 | 7<<16},
			{Code: unix.TCPOPT_SACK_PERMITTED},
			{Code: unix.TCPOPT_TIMESTAMP},
		}))
		var w [20]byte // struct tcp_repair_window
		for i, v := range []uint32{rcv, 1 << 20, 1 << 20, 1 << 20, rcv} {
			binary.NativeEndian.PutUint32(w[4*i:], v) // snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup
		}
		must(t, unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, string(w[:])))
		must(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}))
		must(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 5}))
	})
	return fd
}

// leaveRepair takes a repaired socket out of repair mode (it sends a
// window probe).
func leaveRepair(t *testing.T, fd int) {
	t.Helper()
	must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF))
}

// stream sends n bytes from fd to the peer's socket and checks that they
// arrive intact.
func stream(t *testing.T, from, to int, n int) {
	t.Helper()
	data := payload(n)
	errc := make(chan error, 1)
	go func() {
		for off := 0; off < n; {
			w, err := unix.Write(from, data[off:])
			if err != nil {
				errc <- fmt.Errorf("write after %d bytes: %w", off, err)
				return
			}
			off += w
		}
		errc <- nil
	}()
	got := make([]byte, 0, n)
	buf := make([]byte, 1<<16)
	for len(got) < n {
		r, err := unix.Read(to, buf)
		if err != nil || r == 0 {
			t.Fatalf("TCP stream: read after %d of %d bytes: %v", len(got), n, errOrEOF(err))
		}
		got = append(got, buf[:r]...)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("TCP stream: the bytes arrived changed")
	}
}

func errOrEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// pseudoSum is the folded (not complemented) IPv4 pseudo-header sum: what
// the transport checksum field of a CHECKSUM_PARTIAL packet holds.
func pseudoSum(src, dst [4]byte, proto uint8, length int) uint16 {
	s := uint32(binary.BigEndian.Uint16(src[:])) + uint32(binary.BigEndian.Uint16(src[2:])) +
		uint32(binary.BigEndian.Uint16(dst[:])) + uint32(binary.BigEndian.Uint16(dst[2:])) +
		uint32(proto) + uint32(length)
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// flowFrame is a received frame of one of the test flows, decoded.
type flowFrame struct {
	captured
	d     decoded
	proto uint8
	out   bool // LAN to WAN
}

// classify decodes fr and says which test flow it belongs to, in either
// its arriving or its translated form; ok false for anything else.
func classify(fr captured) (flowFrame, bool) {
	d, err := decode(fr.data)
	if err != nil {
		return flowFrame{}, false
	}
	ff := flowFrame{captured: fr, d: d}
	var sp, dp uint16
	if d.tcp != nil {
		ff.proto, sp, dp = ProtoTCP, uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
	} else {
		ff.proto, sp, dp = ProtoUDP, uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
	}
	hp, rp := hostRemotePorts(ff.proto)
	src, _ := netip.AddrFromSlice(d.ip.SrcIP.To4())
	dst, _ := netip.AddrFromSlice(d.ip.DstIP.To4())
	switch {
	case dst == remoteIP && dp == rp && ((src == hostIP && sp == hp) || (src == extIP && sp == extPort(ff.proto))):
		ff.out = true
	case src == remoteIP && sp == rp && ((dst == hostIP && dp == hp) || (dst == extIP && dp == extPort(ff.proto))):
		ff.out = false
	default:
		return flowFrame{}, false
	}
	return ff, true
}

// checkDelivered checks a frame of a test flow as the receiving host got
// it: translated, TTL 63 (the hosts send with 64), the router's MACs, a
// valid header checksum and a transport checksum that is either complete
// and valid, or partial and the new pseudo-header's sum (zeroUDP: a UDP
// checksum of 0 is accepted).
func checkDelivered(ff flowFrame, zeroUDP bool) error {
	d := ff.d
	wantEthSrc, wantEthDst := lanPortMAC, hostMAC
	wantSrc, wantDst := remoteIP, hostIP
	hp, rp := hostRemotePorts(ff.proto)
	wantSP, wantDP := rp, hp
	if ff.out {
		wantEthSrc, wantEthDst = wanPortMAC, remoteMAC
		wantSrc, wantDst = extIP, remoteIP
		wantSP, wantDP = extPort(ff.proto), rp
	}
	var sp, dp uint16
	if d.tcp != nil {
		sp, dp = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
	} else {
		sp, dp = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
	}
	switch {
	case [6]byte(d.eth.SrcMAC) != wantEthSrc || [6]byte(d.eth.DstMAC) != wantEthDst:
		return fmt.Errorf("MACs %v -> %v", d.eth.SrcMAC, d.eth.DstMAC)
	case !d.ip.SrcIP.Equal(wantSrc.AsSlice()) || !d.ip.DstIP.Equal(wantDst.AsSlice()) || sp != wantSP || dp != wantDP:
		return fmt.Errorf("not translated: %v:%d -> %v:%d", d.ip.SrcIP, sp, d.ip.DstIP, dp)
	case d.ip.TTL != 63:
		return fmt.Errorf("TTL %d", d.ip.TTL)
	case internetChecksum(ff.data[ethHdrLen:ethHdrLen+ipHdrLen]) != 0:
		return fmt.Errorf("bad IPv4 header checksum")
	}
	if ff.flags&vnetNeedsCsum == 0 {
		return checksumsOK(ff.data, zeroUDP)
	}
	field := uint16(0)
	if d.tcp != nil {
		field = d.tcp.Checksum
	} else {
		field = d.udp.Checksum
	}
	want := pseudoSum([4]byte(d.ip.SrcIP.To4()), [4]byte(d.ip.DstIP.To4()), ff.proto, int(d.ip.Length)-ipHdrLen)
	if field != want && !(field == 0xffff && want == 0) && !(field == 0 && want == 0xffff) {
		return fmt.Errorf("partial checksum field %#04x, the pseudo-header's sum is %#04x", field, want)
	}
	return nil
}

// nsRun is one configuration of the namespace test.
type nsRun struct {
	name string
	// Offload features of the hosts' veths (the senders) and of the
	// router's ports.
	hosts, router []string
	tcpBytes      int  // bytes streamed each way on the TCP connection
	wantPartial   bool // frames with partial checksums must reach the router
	wantSuper     bool // GSO super-packets must reach the router
}

// TestNamespace sends a UDP flow and a TCP connection both ways through
// the router's tc program and checks every frame the hosts receive, the
// socket filter on a router port, and the counters, once per offload
// configuration:
//
//   - checksum offload off on the hosts: complete checksums throughout;
//   - on (partial checksums reach the router), with TSO off, and off on
//     the router's ports, so that the kernel completes each checksum at
//     the egress from what the tc program left;
//   - everything on, GRO on the router's ports, and a TCP stream that
//     makes GSO super-packets: they are redirected whole, and reach the
//     receiving host as they are, partial checksum and all.
func TestNamespace(t *testing.T) {
	for _, r := range []nsRun{
		{name: "csum-off", hosts: []string{"tx", "off"}, router: nil, tcpBytes: 200 << 10},
		{name: "csum-on", hosts: []string{"tx", "on", "tso", "off", "gso", "off"}, router: []string{"tx", "off"},
			tcpBytes: 200 << 10, wantPartial: true},
		{name: "gso", hosts: []string{"tx", "on", "tso", "on", "gso", "on"}, router: []string{"tx", "on", "tso", "on", "gro", "on"},
			tcpBytes: 4 << 20, wantPartial: true, wantSuper: true},
	} {
		t.Run(r.name, func(t *testing.T) { testNamespace(t, r) })
	}
}

func testNamespace(t *testing.T, r nsRun) {
	tp := newTopo(t)
	ethtool(t, tp.lan, "tcfl0", r.hosts...)
	ethtool(t, tp.wan, "tcfw0", r.hosts...)
	if r.router != nil {
		ethtool(t, tp.rtr, "tcfr0", r.router...)
		ethtool(t, tp.rtr, "tcfr1", r.router...)
	}

	// What the router's ports see (no filter), what routerd's socket on the
	// LAN port would get (the socket filter), what the hosts receive.
	rtrLAN := openCapture(t, tp.rtr, "tcfr0", nil)
	rtrWAN := openCapture(t, tp.rtr, "tcfr1", nil)
	filtered := openCapture(t, tp.rtr, "tcfr0", tp.f)
	atLAN := openCapture(t, tp.lan, "tcfl0", nil)
	atWAN := openCapture(t, tp.wan, "tcfw0", nil)

	t0 := monotonic(t)
	// UDP both ways, one socket with checksums and one without (SO_NO_CHECK).
	hostUDP := udpSocket(t, tp.lan, netip.AddrPortFrom(hostIP, udpHostPort))
	srvUDP := udpSocket(t, tp.wan, netip.AddrPortFrom(remoteIP, udpRemotePort))
	udpSizes := []int{1, 100, 1000, 1472}
	var udpBytes [2]uint64 // out, in
	exchange := func(noCheck bool) {
		must(t, unix.SetsockoptInt(hostUDP, unix.SOL_SOCKET, unix.SO_NO_CHECK, b2i(noCheck)))
		must(t, unix.SetsockoptInt(srvUDP, unix.SOL_SOCKET, unix.SO_NO_CHECK, b2i(noCheck)))
		buf := make([]byte, 2048)
		for _, n := range udpSizes {
			msg := payload(n)
			if noCheck {
				msg[0] = noCheckMark
			}
			must(t, unix.Sendto(hostUDP, msg, 0, sockaddr4(netip.AddrPortFrom(remoteIP, udpRemotePort))))
			got, from, err := unix.Recvfrom(srvUDP, buf, 0)
			if err != nil {
				t.Fatalf("UDP %d bytes to the server: %v", n, err)
			}
			if sa := from.(*unix.SockaddrInet4); !bytes.Equal(buf[:got], msg) || sa.Addr != extIP.As4() || sa.Port != udpExtPort {
				t.Fatalf("UDP to the server: %d bytes from %v:%d", got, sa.Addr, sa.Port)
			}
			must(t, unix.Sendto(srvUDP, msg, 0, sockaddr4(netip.AddrPortFrom(extIP, udpExtPort))))
			got, from, err = unix.Recvfrom(hostUDP, buf, 0)
			if err != nil {
				t.Fatalf("UDP %d bytes back to the host: %v", n, err)
			}
			if sa := from.(*unix.SockaddrInet4); !bytes.Equal(buf[:got], msg) || sa.Addr != remoteIP.As4() || sa.Port != udpRemotePort {
				t.Fatalf("UDP back to the host: %d bytes from %v:%d", got, sa.Addr, sa.Port)
			}
			udpBytes[0] += uint64(ipHdrLen + 8 + n)
			udpBytes[1] += uint64(ipHdrLen + 8 + n)
		}
	}
	exchange(false)
	exchange(true)

	// TCP both ways on a repaired connection.
	hostTCP := repairedTCP(t, tp.lan, netip.AddrPortFrom(hostIP, tcpHostPort), netip.AddrPortFrom(remoteIP, tcpRemotePort), 1000, 900000)
	srvTCP := repairedTCP(t, tp.wan, netip.AddrPortFrom(remoteIP, tcpRemotePort), netip.AddrPortFrom(extIP, tcpExtPort), 900000, 1000)
	leaveRepair(t, hostTCP)
	leaveRepair(t, srvTCP)
	stream(t, hostTCP, srvTCP, r.tcpBytes)
	stream(t, srvTCP, hostTCP, r.tcpBytes)

	// Frames the fast path must leave to routerd, sent raw from the LAN host.
	raw := rawSender(t, tp.lan, "tcfl0")
	ineligible := map[string][]byte{}
	mark := func(name string) []byte { return append(payload(20), rawMark+name...) }
	syn := basePkt(ProtoTCP, true, 0)
	syn.tcp.SYN, syn.tcp.ACK, syn.tcp.PSH, syn.payload = true, false, false, mark("syn")
	ineligible["syn"] = syn.bytes(t)
	noEntry := basePkt(ProtoUDP, true, 0)
	noEntry.udp.SrcPort, noEntry.payload = udpHostPort+9, mark("no entry")
	ineligible["no entry"] = noEntry.bytes(t)
	otherMAC := basePkt(ProtoUDP, true, 0)
	otherMAC.eth.DstMAC, otherMAC.payload = net.HardwareAddr{2, 0, 0, 0, 9, 9}, mark("other MAC")
	ineligible["other MAC"] = otherMAC.bytes(t)
	// Another LAN device's frame with the UDP flow's 5-tuple: the entry's
	// FromMAC is the LAN host's, so routerd (its source guard and MAC
	// filter) must get this frame, and the kernel must not forward it.
	otherSrc := basePkt(ProtoUDP, true, 0)
	otherSrc.eth.SrcMAC, otherSrc.payload = net.HardwareAddr{2, 0, 0, 0, 1, 0x0b}, mark(otherSrcName)
	ineligible[otherSrcName] = otherSrc.bytes(t)
	tagged := basePkt(ProtoUDP, true, 0)
	tagged.payload = mark("vlan")
	ineligible["vlan"] = vlanFrame(t, tagged, 7)
	ineligible["arp"] = serialize(t, &layers.Ethernet{SrcMAC: hostMAC[:], DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: hostMAC[:], SourceProtAddress: hostIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{192, 168, 1, 1}})
	for _, f := range ineligible {
		raw(f)
	}
	// The UDP flow's frame cut short at every length from an Ethernet
	// header to a whole UDP header (BPF_PROG_TEST_RUN refuses the IPv4
	// ones below 34 bytes; a port does not).
	full := basePkt(ProtoUDP, true, 0).bytes(t)
	for n := ethHdrLen; n < udpHdrEnd; n++ {
		raw(full[:n])
	}

	quiesce(t, rtrLAN, rtrWAN, filtered, atLAN, atWAN)
	t1 := monotonic(t)
	stats := map[Key]Stats{}
	for _, proto := range []uint8{ProtoUDP, ProtoTCP} {
		for _, out := range []bool{true, false} {
			s, err := tp.f.Read(tp.key(proto, out))
			must(t, err)
			stats[tp.key(proto, out)] = s
		}
	}
	for _, c := range []*capture{rtrLAN, rtrWAN, filtered, atLAN, atWAN} {
		c.close()
		if c.err != nil {
			t.Fatalf("capture: %v", c.err)
		}
	}

	// Every frame the hosts got from the router is a test flow's,
	// translated, with right checksums.
	delivered := map[string]int{}
	for host, c := range map[string]*capture{"LAN": atLAN, "WAN": atWAN} {
		for _, fr := range c.snapshot() {
			if fr.pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if isRaw(fr.data) { // e.g. otherSrcName's, redirected
				t.Errorf("the %s host got a frame the fast path must leave to routerd: %q", host, fr.data[bytes.Index(fr.data, []byte(rawMark)):])
				continue
			}
			ff, ok := classify(fr)
			if !ok {
				t.Errorf("the %s host got a frame that is no test flow's: %x", host, fr.data[:min(len(fr.data), 64)])
				continue
			}
			if ff.out != (host == "WAN") {
				t.Errorf("the %s host got a frame going the other way", host)
			}
			noCheck := ff.d.udp != nil && len(ff.d.udp.Payload) > 0 && ff.d.udp.Payload[0] == noCheckMark
			if noCheck && ff.d.udp.Checksum != 0 {
				t.Errorf("%s host: a UDP datagram sent without a checksum got %#04x", host, ff.d.udp.Checksum)
			}
			if err := checkDelivered(ff, noCheck); err != nil {
				t.Errorf("%s host, %s frame of %d bytes (flags %#x, gso_size %d): %v", host,
					map[uint8]string{ProtoTCP: "TCP", ProtoUDP: "UDP"}[ff.proto], len(fr.data), fr.flags, fr.gsoSize, err)
			}
			delivered[host]++
		}
	}
	if delivered["LAN"] == 0 || delivered["WAN"] == 0 {
		t.Errorf("delivered frames: %v", delivered)
	}

	// The router's ports: what arrived, by flow direction, to compare with
	// the counters; partial checksums and super-packets seen.
	want := map[Key]Stats{}
	var partial, super int
	for port, c := range map[string]*capture{"LAN": rtrLAN, "WAN": rtrWAN} {
		for _, fr := range c.snapshot() {
			if fr.pkttype == unix.PACKET_OUTGOING {
				continue
			}
			ff, ok := classify(fr)
			if !ok || ff.out != (port == "LAN") || (ff.d.tcp != nil && (ff.d.tcp.SYN || ff.d.tcp.FIN || ff.d.tcp.RST)) ||
				!bytes.Equal(ff.d.eth.DstMAC, map[string][]byte{"LAN": lanPortMAC[:], "WAN": wanPortMAC[:]}[port]) ||
				ff.d.ip.Flags&layers.IPv4MoreFragments != 0 || len(ff.d.ip.Options) > 0 || ff.d.ip.TTL <= 1 || isRaw(fr.data) {
				continue
			}
			k := tp.key(ff.proto, ff.out)
			s := want[k]
			s.Bytes += uint64(ff.d.ip.Length)
			segs := uint64(1)
			if fr.gsoSize != 0 {
				super++
				l4 := 8
				if ff.d.tcp != nil {
					l4 = int(ff.d.tcp.DataOffset) * 4
				}
				p := int(ff.d.ip.Length) - ipHdrLen - l4
				segs = uint64((p + int(fr.gsoSize) - 1) / int(fr.gsoSize))
			}
			s.Packets += segs
			want[k] = s
			if fr.flags&vnetNeedsCsum != 0 {
				partial++
			}
		}
	}
	t.Logf("%s: hosts received %v frames; the router's ports got %d partial-checksum frames and %d super-packets of the flows", r.name, delivered, partial, super)
	if r.wantPartial && partial == 0 {
		t.Error("no frame with a partial checksum reached the router")
	}
	if !r.wantPartial && partial != 0 {
		t.Errorf("%d frames with partial checksums reached the router with checksum offload off", partial)
	}
	if r.wantSuper && super == 0 {
		t.Error("no GSO super-packet reached the router")
	}
	for k, s := range stats {
		w := want[k]
		if s.Packets != w.Packets || s.Bytes != w.Bytes {
			t.Errorf("%v: counters %d packets %d bytes; the port got %d and %d", k, s.Packets, s.Bytes, w.Packets, w.Bytes)
		}
		if s.LastSeen < t0 || s.LastSeen > t1 {
			t.Errorf("%v: last seen %v outside the run [%v, %v]", k, s.LastSeen, t0, t1)
		}
	}
	for _, out := range []bool{true, false} {
		if got := stats[tp.key(ProtoUDP, out)].Bytes; got != udpBytes[0] {
			t.Errorf("UDP out=%v: %d bytes counted, %d sent", out, got, udpBytes[0])
		}
	}

	// The socket filter: none of the flows' frames, in or out, and every
	// frame the fast path leaves to routerd.
	var outgoing int
	for _, fr := range rtrLAN.snapshot() {
		if fr.pkttype == unix.PACKET_OUTGOING {
			outgoing++
		}
	}
	if outgoing == 0 {
		t.Error("the router's LAN port sent no frame: nothing to test the filter's outgoing drop with")
	}
	seen := map[string]bool{}
	for _, fr := range filtered.snapshot() {
		if _, ok := classify(fr); ok && !isRaw(fr.data) && len(fr.data) >= udpHdrEnd {
			t.Errorf("the socket filter let a fast-path frame through (pkttype %d): %x", fr.pkttype, fr.data[:min(len(fr.data), 64)])
		}
		for name, f := range ineligible {
			if bytes.Contains(fr.data, []byte(rawMark+name)) || (name == "arp" && bytes.Equal(fr.data, f)) {
				seen[name] = true
			}
		}
		for n := ethHdrLen; n < udpHdrEnd; n++ {
			if bytes.Equal(fr.data, full[:n]) {
				seen[fmt.Sprintf("cut %d", n)] = true
			}
		}
	}
	for name := range ineligible {
		if !seen[name] {
			t.Errorf("the socket filter dropped the %s frame", name)
		}
	}
	for n := ethHdrLen; n < udpHdrEnd; n++ {
		if !seen[fmt.Sprintf("cut %d", n)] {
			t.Errorf("the socket filter dropped the UDP frame cut to %d bytes", n)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rawMark ends the payload of the raw frames the test sends, followed by
// the frame's name.
const rawMark = "tcfast raw frame: "

// otherSrcName names the raw frame with the UDP flow's 5-tuple from
// another LAN device's MAC.
const otherSrcName = "another device's source MAC"

// isRaw reports whether frame carries a raw frame's payload.
func isRaw(frame []byte) bool { return bytes.Contains(frame, []byte(rawMark)) }

// vlanFrame is p with an 802.1Q tag.
func vlanFrame(t *testing.T, p pkt, vid uint16) []byte {
	t.Helper()
	p = p.clone()
	p.udp.SetNetworkLayerForChecksum(&p.ip)
	eth := p.eth
	eth.EthernetType = layers.EthernetTypeDot1Q
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&eth, &layers.Dot1Q{VLANIdentifier: vid, Type: layers.EthernetTypeIPv4}, &p.ip, p.udp, gopacket.Payload(p.payload)))
	return append([]byte(nil), buf.Bytes()...)
}

// rawSender returns a function sending frames on interface ifname of
// namespace ns through a packet socket.
func rawSender(t *testing.T, ns, ifname string) func([]byte) {
	t.Helper()
	var fd, idx int
	inNS(t, ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		must(t, err)
		idx = ifi.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		must(t, err)
		t.Cleanup(func() { unix.Close(fd) })
	})
	return func(f []byte) {
		t.Helper()
		if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: idx}); err != nil {
			t.Fatalf("send a %d-byte frame: %v", len(f), err)
		}
	}
}

// TestRemove: Remove deletes the filter a FastPath attached at a priority
// and left behind (as a crashed routerd worker's is), keeps the clsact
// qdisc and other priorities' filters, and returns nil when there is
// nothing to remove: no filter, no clsact qdisc, no such port.
func TestRemove(t *testing.T) {
	ns := newNS(t, "rm")
	run(t, "ip", "-n", ns, "link", "add", "name", "tcfm0", "type", "veth", "peer", "name", "tcfm1")
	t.Cleanup(enterNS(t, ns))
	idx := func(name string) int {
		l, err := netlink.LinkByName(name)
		must(t, err)
		return l.Attrs().Index
	}
	m0, m1 := idx("tcfm0"), idx("tcfm1")
	filters := func(ifindex int) map[uint16]string {
		l, err := netlink.LinkByIndex(ifindex)
		must(t, err)
		fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
		must(t, err)
		m := map[uint16]string{}
		for _, f := range fs {
			if bf, ok := f.(*netlink.BpfFilter); ok {
				m[bf.Priority] = bf.Name
			}
		}
		return m
	}
	// The predecessor's FastPath at priority 3, and one at the default (1)
	// that stays until Remove is asked for priority 0.
	for _, prio := range []uint16{3, 0} {
		f, err := New(Config{MaxFlows: 4, FilterPriority: prio})
		must(t, err)
		t.Cleanup(func() {
			if err := f.Close(); err != nil {
				t.Errorf("close after Remove: %v", err)
			}
		})
		must(t, f.Attach(m0))
	}
	if fs := filters(m0); len(fs) != 2 || !strings.HasPrefix(fs[3], tcProgName) || !strings.HasPrefix(fs[1], tcProgName) {
		t.Fatalf("after Attach at priorities 3 and 1: filters %v", fs)
	}
	if err := Remove(m0, 3); err != nil {
		t.Fatal(err)
	}
	if fs := filters(m0); len(fs) != 1 || fs[3] != "" || fs[1] == "" {
		t.Errorf("after Remove(3): filters %v, want only priority 1's", fs)
	}
	if err := Remove(m0, 3); err != nil {
		t.Errorf("Remove again: %v", err)
	}
	if err := Remove(m0, 0); err != nil {
		t.Fatal(err)
	}
	if cls, fs := tcState(t, m0); !cls || len(fs) != 0 {
		t.Errorf("after Remove(0): clsact %v (want it kept), filters %v", cls, fs)
	}
	if err := Remove(m1, 3); err != nil {
		t.Errorf("Remove on a port without clsact: %v", err)
	}
	if err := Remove(1<<20, 3); err != nil {
		t.Errorf("Remove on no such port: %v", err)
	}
}
