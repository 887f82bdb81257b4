package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/dhcpd"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/passthrough"
	"github.com/passgate/passgate/pkg/netconf"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shellcontract"
	"github.com/passgate/passgate/pkg/shell/shelltest"
	"github.com/passgate/passgate/pkg/sshd"
)

// TestShellRouterContract holds routerd's shell.Router to the contract
// the shell's fake is held to. The router is the real one — NAT engine,
// passthrough, data plane, DHCP server with its lease file, SSH host key,
// configuration store — on in-memory pipes instead of ports, with a state
// directory of its own; sessions are opened by frames from the LAN pipe
// and leases taken by DHCP messages.
func TestShellRouterContract(t *testing.T) {
	shellcontract.Run(t, newRouterdHarness)
}

type routerdHarness struct {
	dir      string
	fs       *shelltest.SwitchFS // the store's file system, switchable to read-only
	mu       sync.Mutex
	restarts int
	logs     []string // every run's log lines
	cur      *testRouter
}

// testRouter is one run of the router, from start to restart.
type testRouter struct {
	r        *router
	lan, wan *link.PipeEnd // the test's ends
	ssh      *sshd.Server
	stop     func()
}

func newRouterdHarness(t *testing.T, cfg *config.Config) shellcontract.Harness {
	h := &routerdHarness{dir: t.TempDir()}
	h.fs = shelltest.NewSwitchFS(config.DirFS(h.dir))
	if err := config.NewStore(h.dir).Save(cfg); err != nil {
		t.Fatal(err)
	}
	h.cur = h.start(t)
	t.Cleanup(func() { h.cur.stop() })
	return h
}

// start wires a router as run does, minus the kernel: pipes for the
// ports, no self0, the DHCP server driven by AddLease instead of a socket.
func (h *routerdHarness) start(t testing.TB) *testRouter {
	t.Helper()
	var logMu sync.Mutex
	stopped := false
	r := &router{cfgPath: filepath.Join(h.dir, config.FileName), stateDir: h.dir, started: time.Now(),
		store: config.NewStoreFS(h.fs, h.dir)}
	r.logf = func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		h.mu.Lock()
		h.logs = append(h.logs, fmt.Sprintf(format, args...))
		h.mu.Unlock()
		if !stopped {
			t.Logf("routerd: "+format, args...)
		}
	}
	r.reboot = func() error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.restarts++
		return nil
	}
	cfg, err := r.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	r.cfg, r.running = cfg, cfg.Clone()
	pipe := func(test, dev string) (*link.PipeEnd, *link.PipeEnd) {
		a, b, err := link.NewPipe(link.PipeConfig{NameA: test, NameB: dev, PollTimeout: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	lanTest, lanPort := pipe("lan-segment", cfg.Interfaces.LAN.Device)
	wanTest, wanPort := pipe("isp", cfg.Interfaces.WAN.Device)
	r.lanMAC, r.wanMAC = lanPort.MAC(), wanPort.MAC()
	if r.eng, err = nat.New(natConfig(cfg, 256<<20, 1)); err != nil {
		t.Fatal(err)
	}
	if r.pt, err = passthrough.New(r.eng, passthroughConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	r.dp, err = dataplane.New(dataplane.Config{LAN: lanPort, WAN: wanPort, LANAddr: cfg.Interfaces.LAN.Address,
		NextHopMAC: netconf.VirtualNextHopMAC(r.lanMAC), Engine: r.eng, Logf: r.logf, WANDHCP: r.wanFrames.deliver,
		TickEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if dc, ok := dhcpdConfig(cfg, nil); ok {
		if r.dhcp, err = dhcpd.New(dc, dhcpd.Options{LeaseFile: filepath.Join(h.dir, leaseFileName), Logf: r.logf}); err != nil {
			t.Fatal(err)
		}
	}
	sh := shell.New(shellRouter{r}, shell.Options{}) // resumes a commit confirmed kept by a planned restart
	ssh, err := sshd.New(sshd.Options{Shell: sh, Config: shellRouter{r}.Config,
		HostKeyDir: r.stateDir, Logf: r.logf})
	if err != nil {
		t.Fatal(err)
	}
	info := ssh.HostKeyInfo()
	r.sshKey.Store(&info)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.dp.Run(ctx) }()
	tr := &testRouter{r: r, lan: lanTest, wan: wanTest, ssh: ssh}
	tr.stop = func() {
		sh.Close() // the process ends: a pending rollback's timer with it
		cancel()
		wg.Wait()
		for _, l := range []*link.PipeEnd{lanTest, lanPort, wanTest, wanPort} {
			l.Close()
		}
		logMu.Lock()
		stopped = true
		logMu.Unlock()
	}
	r.startWAN(ctx)
	if cfg.Interfaces.WAN.Mode == config.WANStatic {
		tr.answerGatewayARP(t, cfg.Interfaces.WAN.Gateway)
	}
	return tr
}

// answerGatewayARP plays the ISP's gateway answering the router's ARP.
func (tr *testRouter) answerGatewayARP(t testing.TB, gw netip.Addr) {
	t.Helper()
	gwMAC := net.HardwareAddr{0x02, 0xee, 0, 0, 0, 1}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		fs, _ := link.ReadFrames(tr.wan, 1, 100*time.Millisecond)
		for _, f := range fs {
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !ok || a.Operation != layers.ARPRequest || netip.AddrFrom4([4]byte(a.DstProtAddress)) != gw {
				continue
			}
			reply := serialize(t, &layers.Ethernet{SrcMAC: gwMAC, DstMAC: tr.r.wanMAC, EthernetType: layers.EthernetTypeARP},
				&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
					Operation: layers.ARPReply, SourceHwAddress: gwMAC, SourceProtAddress: gw.AsSlice(),
					DstHwAddress: tr.r.wanMAC, DstProtAddress: a.SourceProtAddress})
			if err := link.WriteFrames(tr.wan, reply); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("the router never asked for its gateway's MAC")
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (h *routerdHarness) Router() shell.Router { return shellRouter{h.cur.r} }

func (h *routerdHarness) SetReadOnly(ro bool) { h.fs.SetReadOnly(ro) }

func (h *routerdHarness) External() netip.Addr {
	var a netip.Addr
	h.cur.r.dp.Do(func(e *nat.Engine) { a = e.External() })
	return a
}

// AddSession sends the LAN host's first packet from the LAN pipe and waits
// for the engine to hold its session.
func (h *routerdHarness) AddSession(t testing.TB, proto string, internal, remote netip.AddrPort) {
	t.Helper()
	src := internal.Addr().As4()
	hostMAC := net.HardwareAddr{0x02, 0x1a, src[0], src[1], src[2], src[3]}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: internal.Addr().AsSlice(), DstIP: remote.Addr().AsSlice()}
	var l4 gopacket.SerializableLayer
	switch proto {
	case "tcp":
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(internal.Port()), DstPort: layers.TCPPort(remote.Port()), SYN: true, Seq: 1, Window: 64240}
		tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	case "udp":
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(internal.Port()), DstPort: layers.UDPPort(remote.Port())}
		udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	case "icmp":
		ip.Protocol = layers.IPProtocolICMPv4
		l4 = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: internal.Port(), Seq: 1}
	default:
		t.Fatalf("AddSession: protocol %q", proto)
	}
	frame := serialize(t, &layers.Ethernet{SrcMAC: hostMAC, DstMAC: h.cur.r.lanMAC, EthernetType: layers.EthernetTypeIPv4},
		ip, l4, gopacket.Payload("contract"))
	if err := link.WriteFrames(h.cur.lan, frame); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		found := false
		h.cur.r.dp.Do(func(e *nat.Engine) {
			e.Sessions(func(si nat.SessionInfo) bool {
				found = protoName(si.Protocol) == proto && si.Internal == internal && si.Remote.Addr() == remote.Addr()
				return !found
			})
		})
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s session from %v to %v after its first packet (counters %+v)", proto, internal, remote, h.cur.r.dp.Counters())
		}
	}
}

// AddLease plays a DHCP client: DISCOVER, then REQUEST of the offer.
func (h *routerdHarness) AddLease(t testing.TB, mac net.HardwareAddr, hostname string) netip.Addr {
	t.Helper()
	srv := h.cur.r.dhcp
	if srv == nil {
		t.Fatal("AddLease: the router runs no DHCP server")
	}
	exchange := func(m *dhcpv4.DHCPv4, want dhcpv4.MessageType) *dhcpv4.DHCPv4 {
		t.Helper()
		reply, err := srv.HandlePacket(m.ToBytes())
		if err != nil || reply == nil || reply.MessageType() != want {
			t.Fatalf("DHCP %v from %v: reply %v, %v; want %v", m.MessageType(), mac, reply, err, want)
		}
		return reply
	}
	name := dhcpv4.WithOption(dhcpv4.OptHostName(hostname))
	disc, err := dhcpv4.NewDiscovery(mac, name)
	if err != nil {
		t.Fatal(err)
	}
	offer := exchange(disc, dhcpv4.MessageTypeOffer)
	req, err := dhcpv4.NewRequestFromOffer(offer, name)
	if err != nil {
		t.Fatal(err)
	}
	ack := exchange(req, dhcpv4.MessageTypeAck)
	a, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok {
		t.Fatalf("ACK without an address: %v", ack)
	}
	return a
}

// AddNeighbor sends the host's ARP request for the router's address on
// that port's pipe and waits for the data plane's ARP cache to hold it.
func (h *routerdHarness) AddNeighbor(t testing.TB, port string, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	r := h.cur.r
	end, routerIP := h.cur.lan, r.cfg.Interfaces.LAN.Address.Addr()
	if port == "wan" {
		r.mu.Lock()
		routerIP = r.wanAddr.Addr()
		r.mu.Unlock()
		end = h.cur.wan
	}
	req := serialize(t, &layers.Ethernet{SrcMAC: mac, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: mac, SourceProtAddress: ip.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: routerIP.AsSlice()})
	if err := link.WriteFrames(end, req); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if got, ok := r.dp.ARPEntries(port)[ip]; ok && got.String() == mac.String() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s ARP cache does not hold %v at %v after its ARP request", port, ip, mac)
		}
	}
}

func (h *routerdHarness) HostKey(testing.TB) []byte { return h.cur.ssh.PublicKey().Marshal() }

func (h *routerdHarness) Restarts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.restarts
}

// Restart stops this run and starts the router again on the same state
// directory, as the machine's restart would.
func (h *routerdHarness) Restart(t testing.TB) {
	t.Helper()
	h.cur.stop()
	h.cur = h.start(t)
}
