//go:build linux

package afpacket

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/link/linktest"
)

// These tests need root and iproute2's ip: they create a network namespace
// with a veth pair. Without them they fail (never skip) and say which
// prerequisite is missing, so CI cannot pass without running them.

var nsSeq atomic.Int32

// vethNS creates a network namespace pga-<pid>-<n> holding a veth pair
// "pgla" <-> "pglb", both up, IPv6 off (so the kernel sends nothing on
// them), offloads at the veth defaults, and removes the namespace when the
// test ends, whatever happens.
func vethNS(tb testing.TB) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatalf("prerequisite missing: AF_PACKET tests must run as root (they create a network namespace and veth pair); euid is %d", os.Geteuid())
	}
	if err := sysdeps.Require(sysdeps.IP); err != nil {
		tb.Fatalf("prerequisite missing: the test namespace is made with ip: %v", err)
	}
	ns := fmt.Sprintf("pga-%d-%d", os.Getpid(), nsSeq.Add(1))
	ipCmd(tb, "netns", "add", ns)
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			tb.Errorf("remove namespace %s: %v: %s", ns, err, out)
		}
	})
	inNS(tb, ns, func() {
		for _, p := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				tb.Fatalf("disable IPv6 in %s: %v", ns, err)
			}
		}
	})
	ipCmd(tb, "-n", ns, "link", "add", "pgla", "type", "veth", "peer", "name", "pglb")
	ipCmd(tb, "-n", ns, "link", "set", "pgla", "up")
	ipCmd(tb, "-n", ns, "link", "set", "pglb", "up")
	return ns
}

func ipCmd(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNS runs fn on an OS thread switched into namespace ns. Sockets opened by
// fn stay in ns afterwards, whichever thread uses them.
func inNS(tb testing.TB, ns string, fn func()) {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("open own netns: %v", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("open netns %s: %v", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("enter netns %s: %v", ns, err)
	}
	defer func() {
		// Only a thread back in its own namespace may return to the pool;
		// otherwise it stays locked and dies with this goroutine.
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
}

func openAF(tb testing.TB, ns, ifname string, cfg *Config) *Link {
	tb.Helper()
	var l *Link
	var err error
	inNS(tb, ns, func() { l, err = Open(ifname, cfg) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// TestContract runs link.Link's contract suite on a veth pair, the same
// suite the in-memory pipe passes (pkg/link).
func TestContract(t *testing.T) {
	linktest.Run(t, func(tb testing.TB, o linktest.Options) (link.Link, link.Link) {
		ns := vethNS(tb)
		cfg := &Config{PollTimeout: o.PollTimeout, NoVnetHdr: !o.Offloads}
		return openAF(tb, ns, "pgla", cfg), openAF(tb, ns, "pglb", cfg)
	})
}

// TestSocketOptions checks that the socket asked the kernel for what the
// package documentation promises.
func TestSocketOptions(t *testing.T) {
	ns := vethNS(t)
	for _, c := range []struct {
		cfg          Config
		vnet, bypass int
	}{
		{Config{}, 1, 1},
		{Config{NoVnetHdr: true, UseQdisc: true}, 0, 0},
	} {
		l := openAF(t, ns, "pgla", &c.cfg)
		get := func(opt int) int {
			v, err := unix.GetsockoptInt(l.fd, unix.SOL_PACKET, opt)
			if err != nil {
				t.Fatalf("getsockopt %d: %v", opt, err)
			}
			return v
		}
		if v := get(unix.PACKET_VNET_HDR); v != c.vnet {
			t.Errorf("%+v: PACKET_VNET_HDR = %d, want %d", c.cfg, v, c.vnet)
		}
		if v := get(unix.PACKET_QDISC_BYPASS); v != c.bypass {
			t.Errorf("%+v: PACKET_QDISC_BYPASS = %d, want %d", c.cfg, v, c.bypass)
		}
		if v := get(unix.PACKET_VERSION); v != unix.TPACKET_V2 {
			t.Errorf("PACKET_VERSION = %d, want TPACKET_V2", v)
		}
		if l.Offloads() != (c.vnet == 1) {
			t.Errorf("Offloads() = %v with PACKET_VNET_HDR %d", l.Offloads(), c.vnet)
		}
		l.Close()
	}
}

// TestIgnoresOwnFrames checks that a link never reads back frames
// transmitted on its interface: its own (ring and super-packet socket), and
// those of another socket (the kernel's own transmissions take the same
// path).
func TestIgnoresOwnFrames(t *testing.T) {
	for _, forceBPF := range []bool{false, true} {
		t.Run(fmt.Sprintf("bpf=%v", forceBPF), func(t *testing.T) {
			ns := vethNS(t)
			cfg := &Config{bpfOutgoingFilter: forceBPF, PollTimeout: 20 * time.Millisecond}
			a := openAF(t, ns, "pgla", cfg)
			b := openAF(t, ns, "pglb", cfg)
			var frames [][]byte
			for i := range 20 {
				frames = append(frames, linktest.Frame(b.MAC(), a.MAC(), 100, uint32(i)))
			}
			if err := link.WriteFrames(a, frames...); err != nil {
				t.Fatal(err)
			}
			super, o := linktest.TCPSuper(b.MAC(), a.MAC(), 1448, 30000, 1)
			if n, err := a.WriteBatch([]link.Frame{{Data: super, Offload: o}}); n != 1 || err != nil {
				t.Fatalf("super-packet: %d, %v", n, err)
			}
			// Another socket transmitting on pgla.
			var raw int
			inNS(t, ns, func() {
				var err error
				raw, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
				if err != nil {
					t.Fatal(err)
				}
			})
			defer unix.Close(raw)
			sll := &unix.SockaddrLinklayer{Ifindex: a.ifindex, Halen: 6}
			copy(sll.Addr[:], b.MAC())
			if err := unix.Sendto(raw, linktest.Frame(b.MAC(), a.MAC(), 100, 1000), 0, sll); err != nil {
				t.Fatal(err)
			}
			got, _ := linktest.Read(t, b, 22, 5*time.Second, func([]byte) bool { return true })
			if len(got) != 22 {
				t.Fatalf("peer received %d of 22 frames", len(got))
			}
			own, _ := linktest.Read(t, a, 1, 200*time.Millisecond, func([]byte) bool { return true })
			if len(own) != 0 {
				t.Fatalf("link read back %d frames transmitted on its own interface (first %d bytes)", len(own), len(own[0].Data))
			}
		})
	}
}

// TestPartialWithoutVnetHdr checks the fallback without PACKET_VNET_HDR:
// a partial checksum is seen in the ring status and located from the
// headers, and a TCP super-packet arrives whole, with a segment size that
// fits the MTU.
func TestPartialWithoutVnetHdr(t *testing.T) {
	ns := vethNS(t)
	a := openAF(t, ns, "pgla", nil)
	b := openAF(t, ns, "pglb", &Config{NoVnetHdr: true})
	udp, uo := linktest.UDPPartial(b.MAC(), a.MAC(), 200, 1)
	tcp, to := linktest.TCPSuper(b.MAC(), a.MAC(), 1448, 10*1448, 2)
	if n, err := a.WriteBatch([]link.Frame{{Data: udp, Offload: uo}, {Data: tcp, Offload: to}}); n != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, _ := linktest.Read(t, b, 2, 5*time.Second, func(f []byte) bool { return len(f) > 14 && f[12] == 0x08 })
	if len(got) != 2 {
		// Seen once in CI (2026-12-05), not in 268 runs here since: say
		// which frame came and what each side counted.
		var sizes []int
		for _, g := range got {
			sizes = append(sizes, g.Len)
		}
		out, _ := exec.Command("ip", "-n", ns, "-s", "link", "show").CombinedOutput()
		t.Fatalf("received %d of 2 (wire lengths %v; sent %d and %d); sender %+v, receiver %+v\n%s",
			len(got), sizes, len(udp), len(tcp), a.Stats(), b.Stats(), out)
	}
	if !bytes.Equal(got[0].Data, udp) || got[0].Offload != uo {
		t.Errorf("partial UDP arrived with offload %+v, want %+v", got[0].Offload, uo)
	}
	want := to
	want.GSOSize = uint16(b.MTU() - 40)
	if !bytes.Equal(got[1].Data, tcp) || got[1].Len != len(tcp) || got[1].Offload != want {
		t.Errorf("TCP super-packet arrived as %d of %d bytes (want %d) with offload %+v, want %+v",
			len(got[1].Data), got[1].Len, len(tcp), got[1].Offload, want)
	}
}

// TestManySuperPackets sends more super-packets than one ReadBatch may lend
// from its buffers: none is lost, all arrive in order.
func TestManySuperPackets(t *testing.T) {
	ns := vethNS(t)
	a := openAF(t, ns, "pgla", nil)
	b := openAF(t, ns, "pglb", nil)
	var want [][]byte
	var frames []link.Frame
	for i := range 3 * bigBuffers {
		f, o := linktest.TCPSuper(b.MAC(), a.MAC(), 1448, 8000+i, uint16(i))
		want = append(want, f)
		frames = append(frames, link.Frame{Data: f, Offload: o})
	}
	if n, err := a.WriteBatch(frames); n != len(frames) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, _ := linktest.Read(t, b, len(want), 5*time.Second, func(f []byte) bool { return len(f) > 14 && f[12] == 0x08 })
	if len(got) != len(want) {
		t.Fatalf("received %d of %d (%v)", len(got), len(want), b.Stats())
	}
	for i := range want {
		if !bytes.Equal(got[i].Data, want[i]) {
			t.Fatalf("super-packet %d: %d bytes, want %d", i, len(got[i].Data), len(want[i]))
		}
	}
}

// TestVLANTagKept checks that a tag the receiving side's NIC would strip is
// put back: a frame sent tagged arrives tagged, its offload offsets moved.
func TestVLANTagKept(t *testing.T) {
	ns := vethNS(t)
	// veth strips tags on receive (rx-vlan-offload), like most NICs.
	a := openAF(t, ns, "pgla", nil)
	b := openAF(t, ns, "pglb", nil)
	f, o := linktest.UDPPartial(b.MAC(), a.MAC(), 300, 3)
	tagged := append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0x00, 0x05), f[12:]...)
	o.CsumStart += 4
	if n, err := a.WriteBatch([]link.Frame{{Data: tagged, Offload: o}}); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, _ := linktest.Read(t, b, 1, 5*time.Second, func(f []byte) bool { return len(f) > 14 && f[12] == 0x81 })
	if len(got) != 1 || !bytes.Equal(got[0].Data, tagged) || got[0].Offload != o {
		t.Fatalf("tagged frame: %d received; offload %+v, want %+v", len(got), got, o)
	}
}

func TestOpenErrors(t *testing.T) {
	ns := vethNS(t)
	var err error
	inNS(t, ns, func() { _, err = Open("pgl-nope", nil) })
	if err == nil || !strings.HasPrefix(err.Error(), "afpacket: pgl-nope: look up interface: ") {
		t.Fatalf("Open on a missing interface: %v", err)
	}
	ipCmd(t, "-n", ns, "link", "set", "pgla", "mtu", "9000")
	inNS(t, ns, func() { _, err = Open("pgla", &Config{FrameSize: 2048}) })
	if err == nil || !strings.Contains(err.Error(), "frame size 2048 too small for MTU 9000") {
		t.Fatalf("jumbo MTU with small frames: %v", err)
	}
	inNS(t, ns, func() { _, err = Open("pgla", &Config{FrameSize: 12288}) })
	if err == nil || !strings.Contains(err.Error(), "not a power of two") {
		t.Fatalf("frame size 12288: %v", err)
	}
	inNS(t, ns, func() { _, err = Open("pgla", &Config{TPacketVersion: 1}) })
	if err == nil {
		t.Fatal("TPACKET_V1 accepted")
	}
	var l *Link
	inNS(t, ns, func() { l, err = Open("pgla", nil) })
	if err != nil {
		t.Fatalf("jumbo MTU with the default frame size: %v", err)
	}
	if l.rx.frameSize != 16384 {
		t.Errorf("default frame size for MTU 9000 = %d, want 16384", l.rx.frameSize)
	}
	l.Close()
}

// TestLinkDownAndUp checks that a port going down is reported once and does
// not break the link: frames flow again when it comes back up, and frames
// written while it is down are dropped, not sent late.
func TestLinkDownAndUp(t *testing.T) {
	ns := vethNS(t)
	cfg := &Config{PollTimeout: 20 * time.Millisecond}
	a := openAF(t, ns, "pgla", cfg)
	b := openAF(t, ns, "pglb", cfg)
	ipCmd(t, "-n", ns, "link", "set", "pglb", "down")
	buf := make([]link.Frame, 8)
	var errs []error
	for range 5 {
		if _, err := b.ReadBatch(buf); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 1 {
		t.Fatalf("the down event was reported %d times: %v", len(errs), errs)
	}
	if len(errs) == 1 && !errors.Is(errs[0], unix.ENETDOWN) {
		t.Fatalf("down reported as %v, want ENETDOWN", errs[0])
	}
	t.Logf("down reported as %v", errs)
	ipCmd(t, "-n", ns, "link", "set", "pgla", "down")
	n, err := b.WriteBatch(link.Plain(linktest.Frame(a.MAC(), b.MAC(), 64, 77)))
	t.Logf("write while down: %d, %v; %v", n, err, b.Stats())
	if s := b.Stats(); n != 0 || s.TxDropped != 1 {
		t.Fatalf("write while down = %d, %v, stats %v; want the frame dropped", n, err, s)
	}
	ipCmd(t, "-n", ns, "link", "set", "pglb", "up")
	ipCmd(t, "-n", ns, "link", "set", "pgla", "up")
	// veth needs both ends up to carry frames.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := link.WriteFrames(b, linktest.Frame(a.MAC(), b.MAC(), 64, 1)); err != nil {
			t.Fatal(err)
		}
		got, _ := linktest.Read(t, a, 1, 100*time.Millisecond, linktest.IsTestFrame)
		if len(got) == 1 {
			if s := linktest.Seq(got[0].Data); s != 1 {
				t.Fatalf("got seq %d: a frame written while the port was down went out late", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no frames after the interface came back up")
		}
	}
}

func TestReadNoAllocs(t *testing.T) {
	ns := vethNS(t)
	a := openAF(t, ns, "pgla", nil)
	b := openAF(t, ns, "pglb", nil)
	frames := make([][]byte, 16)
	for i := range frames {
		frames[i] = linktest.Frame(b.MAC(), a.MAC(), 64, uint32(i))
	}
	out := link.Plain(frames...)
	buf := make([]link.Frame, 64)
	if err := link.WriteFrames(a, frames...); err != nil {
		t.Fatal(err)
	}
	linktest.Read(t, b, 16, 5*time.Second, linktest.IsTestFrame)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := a.WriteBatch(out); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(frames); {
			n, err := b.ReadBatch(buf) // n == 0 on a poll timeout
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write+read batch, want 0", allocs)
	}
}

// BenchmarkRing measures the rings alone: frames per second read from a
// receive ring that a sender keeps full, and written into a transmit ring
// (and kicked) towards a peer nobody reads. One core each side; pkt/s is
// the figure.
func BenchmarkRing(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("read/%dB", size), func(b *testing.B) {
			ns := vethNS(b)
			x := openAF(b, ns, "pgla", nil)
			y := openAF(b, ns, "pglb", nil)
			benchThroughput(b, x, y, size)
		})
		b.Run(fmt.Sprintf("write/%dB", size), func(b *testing.B) {
			ns := vethNS(b)
			x := openAF(b, ns, "pgla", nil)
			const batch = 64
			frames := make([][]byte, batch)
			for i := range frames {
				frames[i] = linktest.Frame(link.PipeMAC("peer"), x.MAC(), size, uint32(i))
			}
			out := link.Plain(frames...)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				if _, err := x.WriteBatch(out[:min(batch, b.N-done)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			s := x.Stats()
			b.ReportMetric(float64(s.TxPackets)/b.Elapsed().Seconds(), "pkt/s")
			b.ReportMetric(100*float64(s.TxDropped)/float64(s.TxPackets+s.TxDropped), "drop%")
		})
	}
}

// BenchmarkRingParallelWrite asks whether transmitting scales with cores:
// one goroutine per transmit ring, each ring its own socket on the same
// interface (what several readers per port, each with its own rings,
// would do), towards a peer nobody reads. pkt/s is the sum; with one
// writer per core it should be that many times BenchmarkRing's write.
func BenchmarkRingParallelWrite(b *testing.B) {
	for _, writers := range []int{1, runtime.NumCPU()} {
		b.Run(fmt.Sprintf("1500B/writers=%d", writers), func(b *testing.B) {
			ns := vethNS(b)
			var ls []*Link
			for range writers {
				ls = append(ls, openAF(b, ns, "pgla", nil))
			}
			const batch = 64
			frames := make([][]byte, batch)
			for i := range frames {
				frames[i] = linktest.Frame(link.PipeMAC("peer"), ls[0].MAC(), 1500, uint32(i))
			}
			out := link.Plain(frames...)
			b.SetBytes(1500)
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, x := range ls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for done := 0; done < b.N/writers; done += batch {
						if _, err := x.WriteBatch(out); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			var sent uint64
			for _, x := range ls {
				sent += x.Stats().TxPackets
			}
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
}

// benchThroughput has a writer goroutine transmit batches of 64 on x while
// ReadBatch receives on y. pkt/s counts received frames; drop% is what the
// receive ring or the transmit ring lost because the writer outran the
// reader.
func benchThroughput(b *testing.B, x, y link.Link, size int) {
	const batch = 64
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = linktest.Frame(y.MAC(), x.MAC(), size, uint32(i))
	}
	out := link.Plain(frames...)
	var stop atomic.Bool
	var wg sync.WaitGroup
	buf := make([]link.Frame, batch)
	b.SetBytes(int64(size))
	b.ResetTimer()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := x.WriteBatch(out); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	got := 0
	deadline := time.Now().Add(30 * time.Second)
	for got < b.N && time.Now().Before(deadline) {
		n, err := y.ReadBatch(buf)
		if err != nil {
			b.Fatal(err)
		}
		got += n
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	sx, sy := x.Stats(), y.Stats()
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "pkt/s")
	lost := sx.TxDropped + sy.RxDropped
	if total := sx.TxPackets + sx.TxDropped; total > 0 {
		b.ReportMetric(100*float64(lost)/float64(total), "drop%")
	}
}

// BenchmarkSuperPackets measures 64 KiB TCP super-packets through a veth
// pair: read past the ring and sent with the transmit-only socket.
func BenchmarkSuperPackets(b *testing.B) {
	ns := vethNS(b)
	x := openAF(b, ns, "pgla", nil)
	y := openAF(b, ns, "pglb", nil)
	f, o := linktest.TCPSuper(y.MAC(), x.MAC(), 1448, 65000, 1)
	out := []link.Frame{{Data: f, Offload: o}}
	buf := make([]link.Frame, 8)
	b.SetBytes(int64(len(f)))
	b.ResetTimer()
	for range b.N {
		if n, err := x.WriteBatch(out); n != 1 || err != nil {
			b.Fatal(n, err)
		}
		for got := false; !got; {
			n, err := y.ReadBatch(buf)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range buf[:n] {
				got = got || len(r.Data) == len(f)
			}
		}
	}
}

// BenchmarkPingPong measures the round trip of one frame through two links:
// how soon the kernel hands a received frame to userspace.
func BenchmarkPingPong(b *testing.B) {
	ns := vethNS(b)
	x := openAF(b, ns, "pgla", nil)
	y := openAF(b, ns, "pglb", nil)
	ping := link.Plain(linktest.Frame(y.MAC(), x.MAC(), 64, 1))
	pong := link.Plain(linktest.Frame(x.MAC(), y.MAC(), 64, 2))
	buf := make([]link.Frame, 8)
	recv := func(l link.Link) {
		for {
			n, err := l.ReadBatch(buf)
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range buf[:n] {
				if linktest.IsTestFrame(f.Data) {
					return
				}
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := x.WriteBatch(ping); err != nil {
			b.Fatal(err)
		}
		recv(y)
		if _, err := y.WriteBatch(pong); err != nil {
			b.Fatal(err)
		}
		recv(x)
	}
}
