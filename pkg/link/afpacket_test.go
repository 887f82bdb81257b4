//go:build linux

package link

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
)

// These tests need root and iproute2's ip: they create a network namespace
// with a veth pair. Without them they fail (never skip) and say which
// prerequisite is missing, so CI cannot pass without running them.

var nsSeq atomic.Int32

// vethNS creates a network namespace pgl-<pid>-<n> holding a veth pair
// "pgla" <-> "pglb", both up, IPv6 off (so the kernel sends nothing on
// them), and removes the namespace when the test ends, whatever happens.
func vethNS(tb testing.TB) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatalf("prerequisite missing: AF_PACKET tests must run as root (they create a network namespace and veth pair); euid is %d", os.Geteuid())
	}
	if err := sysdeps.Require(sysdeps.IP); err != nil {
		tb.Fatalf("prerequisite missing: the test namespace is made with ip: %v", err)
	}
	ns := fmt.Sprintf("pgl-%d-%d", os.Getpid(), nsSeq.Add(1))
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

func openAF(tb testing.TB, ns, ifname string, cfg *AFPacketConfig) *AFPacket {
	tb.Helper()
	var l *AFPacket
	var err error
	inNS(tb, ns, func() { l, err = OpenAFPacket(ifname, cfg) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// readTestFrames reads until want test frames arrived (or timeout) and
// returns copies, plus the largest batch ReadBatch returned.
func readTestFrames(tb testing.TB, l Link, want int, timeout time.Duration) ([][]byte, int) {
	tb.Helper()
	var out [][]byte
	maxBatch := 0
	buf := make([]Frame, 64)
	deadline := time.Now().Add(timeout)
	for len(out) < want && time.Now().Before(deadline) {
		n, err := l.ReadBatch(buf)
		if err != nil {
			tb.Fatalf("%s: ReadBatch: %v", l.Name(), err)
		}
		maxBatch = max(maxBatch, n)
		for _, f := range buf[:n] {
			if f.Truncated() {
				tb.Fatalf("%s: truncated frame len %d of %d", l.Name(), len(f.Data), f.Len)
			}
			if isTestFrame(f.Data) {
				out = append(out, append([]byte(nil), f.Data...))
			}
		}
	}
	return out, maxBatch
}

func TestAFPacketDelivers(t *testing.T) {
	for _, version := range []int{3, 2} {
		t.Run(fmt.Sprintf("TPACKET_V%d", version), func(t *testing.T) {
			ns := vethNS(t)
			cfg := &AFPacketConfig{TPacketVersion: version}
			a := openAF(t, ns, "pgla", cfg)
			b := openAF(t, ns, "pglb", cfg)
			var want [][]byte
			for i := range 200 {
				want = append(want, testFrame(b.MAC(), a.MAC(), 60+(i*37)%1455, uint32(i)))
			}
			for i := 0; i < len(want); i += 25 {
				if err := WriteFrames(a, want[i:i+25]...); err != nil {
					t.Fatal(err)
				}
			}
			got, maxBatch := readTestFrames(t, b, len(want), 5*time.Second)
			if len(got) != len(want) {
				t.Fatalf("received %d of %d frames", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d: got seq %d len %d, want seq %d len %d", i, frameSeq(got[i]), len(got[i]), frameSeq(want[i]), len(want[i]))
				}
			}
			if maxBatch < 2 {
				t.Fatalf("largest ReadBatch was %d frames: batching does not work", maxBatch)
			}
			t.Logf("largest batch %d", maxBatch)
			sa, sb := a.Stats(), b.Stats()
			if sa.TxPackets != 200 || sa.TxDropped != 0 || sb.RxPackets < 200 || sb.RxDropped != 0 {
				t.Fatalf("stats a: %v; b: %v", sa, sb)
			}
			var bytesSent uint64
			for _, f := range want {
				bytesSent += uint64(len(f))
			}
			if sa.TxBytes != bytesSent || sb.RxBytes < bytesSent {
				t.Fatalf("bytes: a tx %d b rx %d, want %d", sa.TxBytes, sb.RxBytes, bytesSent)
			}
		})
	}
}

// TestAFPacketIgnoresOwnFrames checks that a link never reads back frames
// transmitted on its interface: its own, and those of another socket (the
// kernel's own transmissions take the same path).
func TestAFPacketIgnoresOwnFrames(t *testing.T) {
	for _, forceBPF := range []bool{false, true} {
		t.Run(fmt.Sprintf("bpf=%v", forceBPF), func(t *testing.T) {
			ns := vethNS(t)
			cfg := &AFPacketConfig{bpfOutgoingFilter: forceBPF, PollTimeout: 20 * time.Millisecond}
			a := openAF(t, ns, "pgla", cfg)
			b := openAF(t, ns, "pglb", cfg)
			var frames [][]byte
			for i := range 20 {
				frames = append(frames, testFrame(b.MAC(), a.MAC(), 100, uint32(i)))
			}
			if err := WriteFrames(a, frames...); err != nil {
				t.Fatal(err)
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
			if err := unix.Sendto(raw, testFrame(b.MAC(), a.MAC(), 100, 1000), 0, sll); err != nil {
				t.Fatal(err)
			}
			got, _ := readTestFrames(t, b, 21, 5*time.Second)
			if len(got) != 21 {
				t.Fatalf("peer received %d of 21 frames", len(got))
			}
			own, _ := readTestFrames(t, a, 1, 200*time.Millisecond)
			if len(own) != 0 {
				t.Fatalf("link read back %d frames transmitted on its own interface (first seq %d)", len(own), frameSeq(own[0]))
			}
		})
	}
}

func TestAFPacketMTUAndMAC(t *testing.T) {
	ns := vethNS(t)
	ipCmd(t, "-n", ns, "link", "set", "pgla", "mtu", "1400", "address", "02:11:22:33:44:55")
	ipCmd(t, "-n", ns, "link", "set", "pglb", "mtu", "1400")
	a := openAF(t, ns, "pgla", nil)
	b := openAF(t, ns, "pglb", nil)
	if a.Name() != "pgla" || a.MTU() != 1400 || a.MAC().String() != "02:11:22:33:44:55" {
		t.Fatalf("name %q mtu %d mac %v; want pgla 1400 02:11:22:33:44:55", a.Name(), a.MTU(), a.MAC())
	}
	full := testFrame(b.MAC(), a.MAC(), 1414, 1)
	tooBig := testFrame(b.MAC(), a.MAC(), 1415, 2)
	n, err := a.WriteBatch([][]byte{tooBig, full, {1, 2, 3}})
	if err != nil || n != 1 {
		t.Fatalf("WriteBatch = %d, %v; want 1", n, err)
	}
	if s := a.Stats(); s.TxDropped != 2 {
		t.Fatalf("stats %v, want 2 tx dropped", s)
	}
	got, _ := readTestFrames(t, b, 1, 5*time.Second)
	if len(got) != 1 || !bytes.Equal(got[0], full) {
		t.Fatalf("full-size frame not delivered intact")
	}
}

func TestAFPacketPollTimeoutAndClose(t *testing.T) {
	ns := vethNS(t)
	a := openAF(t, ns, "pgla", &AFPacketConfig{PollTimeout: 20 * time.Millisecond})
	buf := make([]Frame, 8)
	start := time.Now()
	n, err := a.ReadBatch(buf)
	if el := time.Since(start); n != 0 || err != nil || el < 15*time.Millisecond || el > 2*time.Second {
		t.Fatalf("idle ReadBatch = %d, %v after %v; want 0, nil after about 20ms", n, err, el)
	}

	forever := openAF(t, ns, "pglb", &AFPacketConfig{PollTimeout: -1})
	done := make(chan error, 1)
	go func() {
		_, err := forever.ReadBatch(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	start = time.Now()
	if err := forever.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a reader blocked without timeout")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close took %v", el)
	}
	if err := forever.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := forever.WriteBatch([][]byte{testFrame(a.MAC(), forever.MAC(), 64, 0)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	_ = forever.Stats() // safe after Close
}

func TestAFPacketOpenErrors(t *testing.T) {
	ns := vethNS(t)
	var err error
	inNS(t, ns, func() { _, err = OpenAFPacket("pgl-nope", nil) })
	if err == nil || !strings.HasPrefix(err.Error(), "link: afpacket: pgl-nope: look up interface: ") {
		t.Fatalf("OpenAFPacket on a missing interface: %v", err)
	}
	ipCmd(t, "-n", ns, "link", "set", "pgla", "mtu", "9000")
	inNS(t, ns, func() { _, err = OpenAFPacket("pgla", &AFPacketConfig{TPacketVersion: 2}) })
	if err == nil || !strings.Contains(err.Error(), "frame size 2048 too small for MTU 9000") {
		t.Fatalf("TPACKET_V2 with jumbo MTU and small frames: %v", err)
	}
	inNS(t, ns, func() { _, err = OpenAFPacket("pgla", &AFPacketConfig{TPacketVersion: 1}) })
	if err == nil {
		t.Fatal("TPACKET_V1 accepted")
	}
}

// TestAFPacketLinkDownAndUp checks that a port going down is reported once
// and does not break the link: frames flow again when it comes back up.
func TestAFPacketLinkDownAndUp(t *testing.T) {
	ns := vethNS(t)
	cfg := &AFPacketConfig{PollTimeout: 20 * time.Millisecond}
	a := openAF(t, ns, "pgla", cfg)
	b := openAF(t, ns, "pglb", cfg)
	ipCmd(t, "-n", ns, "link", "set", "pglb", "down")
	buf := make([]Frame, 8)
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
	ipCmd(t, "-n", ns, "link", "set", "pglb", "up")
	// veth needs both ends up to carry frames.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := WriteFrames(a, testFrame(b.MAC(), a.MAC(), 64, 1)); err != nil {
			t.Fatal(err)
		}
		got, _ := readTestFrames(t, b, 1, 100*time.Millisecond)
		if len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no frames after the interface came back up")
		}
	}
}

func TestAFPacketReadNoAllocs(t *testing.T) {
	ns := vethNS(t)
	a := openAF(t, ns, "pgla", nil)
	b := openAF(t, ns, "pglb", nil)
	frames := make([][]byte, 16)
	for i := range frames {
		frames[i] = testFrame(b.MAC(), a.MAC(), 64, uint32(i))
	}
	buf := make([]Frame, 64)
	// Warm up the arena.
	if err := WriteFrames(a, frames...); err != nil {
		t.Fatal(err)
	}
	readTestFrames(t, b, 16, 5*time.Second)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := a.WriteBatch(frames); err != nil {
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

// BenchmarkAFPacket measures frames per second through a veth pair: a
// writer goroutine transmits batches of 64 on one end and ReadBatch receives
// on the other. pkt/s counts received frames; drop% is what the receive ring
// or the transmit queue lost because the writer outran the reader.
func BenchmarkAFPacket(b *testing.B) {
	for _, version := range []int{3, 2} {
		for _, tx := range []string{"sendmmsg", "write"} {
			for _, size := range []int{64, 1500} {
				b.Run(fmt.Sprintf("V%d/%s/%dB", version, tx, size), func(b *testing.B) {
					ns := vethNS(b)
					cfg := &AFPacketConfig{TPacketVersion: version, txWrite: tx == "write"}
					x := openAF(b, ns, "pgla", cfg)
					y := openAF(b, ns, "pglb", cfg)
					benchThroughput(b, x, y, size)
				})
			}
		}
	}
}

func benchThroughput(b *testing.B, x, y Link, size int) {
	const batch = 64
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = testFrame(y.MAC(), x.MAC(), size, uint32(i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	buf := make([]Frame, batch)
	b.SetBytes(int64(size))
	b.ResetTimer()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := x.WriteBatch(frames); err != nil {
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

// BenchmarkAFPacketTx measures transmit alone: frames go to a veth peer
// nobody reads, so the cost is the syscall path into the kernel.
func BenchmarkAFPacketTx(b *testing.B) {
	for _, tx := range []string{"sendmmsg", "write"} {
		for _, size := range []int{64, 1500} {
			b.Run(fmt.Sprintf("%s/%dB", tx, size), func(b *testing.B) {
				ns := vethNS(b)
				x := openAF(b, ns, "pgla", &AFPacketConfig{txWrite: tx == "write"})
				const batch = 64
				frames := make([][]byte, batch)
				for i := range frames {
					frames[i] = testFrame(PipeMAC("peer"), x.MAC(), size, uint32(i))
				}
				b.SetBytes(int64(size))
				b.ResetTimer()
				for done := 0; done < b.N; done += batch {
					if _, err := x.WriteBatch(frames[:min(batch, b.N-done)]); err != nil {
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
}

// BenchmarkAFPacketPingPong measures the round trip of one frame through
// two links, which at light load is dominated by how soon the kernel hands
// a received frame to userspace (TPACKET_V3: the block retire timeout).
func BenchmarkAFPacketPingPong(b *testing.B) {
	for _, version := range []int{3, 2} {
		b.Run(fmt.Sprintf("TPACKET_V%d", version), func(b *testing.B) {
			ns := vethNS(b)
			cfg := &AFPacketConfig{TPacketVersion: version}
			x := openAF(b, ns, "pgla", cfg)
			y := openAF(b, ns, "pglb", cfg)
			ping := [][]byte{testFrame(y.MAC(), x.MAC(), 64, 1)}
			pong := [][]byte{testFrame(x.MAC(), y.MAC(), 64, 2)}
			buf := make([]Frame, 8)
			recv := func(l Link) {
				for {
					n, err := l.ReadBatch(buf)
					if err != nil {
						b.Fatal(err)
					}
					for _, f := range buf[:n] {
						if isTestFrame(f.Data) {
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
		})
	}
}
