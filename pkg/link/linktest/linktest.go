// Package linktest is the contract of link.Link: one suite that the
// in-memory fake (link.Pipe) and the AF_PACKET link over a veth pair
// (package afpacket) both pass, so the data plane's tests on pipes say
// something about the real ports. It also builds the frames such tests
// need.
package linktest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/link"
)

// Options ask the opener for a pair of links.
type Options struct {
	// PollTimeout for both links, as their configurations take it (0:
	// the default, negative: until a frame arrives or Close).
	PollTimeout time.Duration
	// Offloads asks for links whose WriteBatch accepts offloaded frames.
	Offloads bool
}

// Opener returns two connected links: what a writes, b reads, and the
// other way round. They are closed by the test's cleanup.
type Opener func(t testing.TB, o Options) (a, b link.Link)

// Run runs the contract suite on the links open returns.
func Run(t *testing.T, open Opener) {
	t.Run("DeliversInOrder", func(t *testing.T) { testDelivers(t, open) })
	t.Run("MTUAndRunts", func(t *testing.T) { testMTU(t, open) })
	t.Run("LentFramesStayUntilNextRead", func(t *testing.T) { testLending(t, open) })
	t.Run("PollTimeout", func(t *testing.T) { testPollTimeout(t, open) })
	t.Run("CloseWakesReader", func(t *testing.T) { testClose(t, open) })
	t.Run("OffloadsRefusedWithout", func(t *testing.T) { testOffloadsRefused(t, open) })
	t.Run("PartialChecksumPassesThrough", func(t *testing.T) { testPartial(t, open) })
	t.Run("SuperPacketsPassThrough", func(t *testing.T) { testSuper(t, open) })
}

// Frame builds a test frame of size bytes with EtherType 0x88b5 (IEEE
// local experimental) and seq in the first payload bytes.
func Frame(dst, src net.HardwareAddr, size int, seq uint32) []byte {
	f := make([]byte, size)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	f[12], f[13] = 0x88, 0xb5
	if size >= 18 {
		binary.BigEndian.PutUint32(f[14:], seq)
	}
	for i := 18; i < size; i++ {
		f[i] = byte(i + int(seq))
	}
	return f
}

// Seq returns a test frame's sequence number.
func Seq(f []byte) uint32 { return binary.BigEndian.Uint32(f[14:]) }

// IsTestFrame reports a frame built by Frame.
func IsTestFrame(f []byte) bool { return len(f) >= 18 && f[12] == 0x88 && f[13] == 0xb5 }

// Received is a copy of a frame read from a link.
type Received struct {
	Data    []byte
	Len     int
	Offload link.Offload
}

// Read reads from l until want frames that keep says to keep arrived or
// timeout passes, and returns copies of them and the largest batch that
// ReadBatch returned.
func Read(tb testing.TB, l link.Link, want int, timeout time.Duration, keep func([]byte) bool) ([]Received, int) {
	tb.Helper()
	var out []Received
	maxBatch := 0
	buf := make([]link.Frame, 64)
	deadline := time.Now().Add(timeout)
	for len(out) < want && time.Now().Before(deadline) {
		n, err := l.ReadBatch(buf)
		if err != nil {
			tb.Fatalf("%s: ReadBatch: %v", l.Name(), err)
		}
		maxBatch = max(maxBatch, n)
		for _, f := range buf[:n] {
			if keep(f.Data) {
				out = append(out, Received{Data: append([]byte(nil), f.Data...), Len: f.Len, Offload: f.Offload})
			}
		}
	}
	return out, maxBatch
}

func testDelivers(t *testing.T, open Opener) {
	a, b := open(t, Options{})
	var want [][]byte
	for i := range 200 {
		want = append(want, Frame(b.MAC(), a.MAC(), 60+(i*37)%(a.MTU()-45), uint32(i)))
	}
	for i := 0; i < len(want); i += 25 {
		if err := link.WriteFrames(a, want[i:i+25]...); err != nil {
			t.Fatal(err)
		}
	}
	got, maxBatch := Read(t, b, len(want), 5*time.Second, IsTestFrame)
	if len(got) != len(want) {
		t.Fatalf("received %d of %d frames", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Data, want[i]) || got[i].Len != len(want[i]) || !got[i].Offload.IsZero() {
			t.Fatalf("frame %d: got seq %d len %d (wire %d, offload %+v), want seq %d len %d",
				i, Seq(got[i].Data), len(got[i].Data), got[i].Len, got[i].Offload, Seq(want[i]), len(want[i]))
		}
	}
	if maxBatch < 2 {
		t.Fatalf("largest ReadBatch was %d frames: batching does not work", maxBatch)
	}
	var sent uint64
	for _, f := range want {
		sent += uint64(len(f))
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.TxPackets != 200 || sa.TxDropped != 0 || sa.TxBytes != sent || sb.RxPackets < 200 || sb.RxDropped != 0 || sb.RxBytes < sent {
		t.Fatalf("stats a: %v; b: %v (%d bytes sent)", sa, sb, sent)
	}
}

func testMTU(t *testing.T, open Opener) {
	a, b := open(t, Options{})
	mtu := a.MTU()
	full := Frame(b.MAC(), a.MAC(), mtu+14, 1)
	tooBig := Frame(b.MAC(), a.MAC(), mtu+15, 2)
	tagged := Frame(b.MAC(), a.MAC(), mtu+18, 3)
	copy(tagged[12:], []byte{0x81, 0x00, 0x00, 0x07, 0x88, 0xb5}) // VLAN 7, then the test EtherType
	n, err := a.WriteBatch(link.Plain(tooBig, full, []byte{1, 2, 3}))
	if err != nil || n != 1 {
		t.Fatalf("WriteBatch = %d, %v; want 1 of 3", n, err)
	}
	if s := a.Stats(); s.TxDropped != 2 {
		t.Fatalf("stats %v, want 2 tx dropped", s)
	}
	got, _ := Read(t, b, 1, 5*time.Second, IsTestFrame)
	if len(got) != 1 || !bytes.Equal(got[0].Data, full) {
		t.Fatalf("full-size frame not delivered intact")
	}
	if err := link.WriteFrames(a, tagged); err != nil {
		t.Fatalf("a frame with a VLAN tag may be MTU+18 bytes: %v", err)
	}
	got, _ = Read(t, b, 1, 5*time.Second, func(f []byte) bool { return len(f) > 16 && f[12] == 0x81 })
	if len(got) != 1 || !bytes.Equal(got[0].Data, tagged) {
		t.Fatalf("tagged frame not delivered intact (the tag must be kept): %d frames", len(got))
	}
}

// testLending checks the ownership rule: frames returned by ReadBatch stay
// intact until the next ReadBatch even while the peer keeps writing, and may
// be modified in place and written to another link.
func testLending(t *testing.T, open Opener) {
	a, b := open(t, Options{PollTimeout: 20 * time.Millisecond})
	var frames [][]byte
	for i := range 8 {
		frames = append(frames, Frame(b.MAC(), a.MAC(), 100, uint32(i)))
	}
	if err := link.WriteFrames(a, frames...); err != nil {
		t.Fatal(err)
	}
	buf := make([]link.Frame, 8)
	got := 0
	var held []link.Frame
	for deadline := time.Now().Add(5 * time.Second); got < 8 && time.Now().Before(deadline); {
		n, err := b.ReadBatch(buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range buf[got : got+n] {
			if IsTestFrame(f.Data) {
				held = append(held, f)
			}
		}
		got += n
		if n > 0 {
			break // keep this batch lent
		}
	}
	if len(held) == 0 {
		t.Fatal("no frames read")
	}
	// More traffic while the batch is lent must not overwrite it.
	for i := range 50 {
		link.WriteFrames(a, Frame(b.MAC(), a.MAC(), 100, uint32(1000+i)))
	}
	for i, f := range held {
		if !bytes.Equal(f.Data, frames[i]) {
			t.Fatalf("lent frame %d changed before the next ReadBatch (seq %d)", i, Seq(f.Data))
		}
	}
	// Modify in place and send back.
	f := held[0].Data
	copy(f[0:6], a.MAC())
	copy(f[6:12], b.MAC())
	f[20] ^= 0xff
	want := append([]byte(nil), f...)
	if err := link.WriteFrames(b, f); err != nil {
		t.Fatal(err)
	}
	back, _ := Read(t, a, 1, 5*time.Second, IsTestFrame)
	if len(back) != 1 || !bytes.Equal(back[0].Data, want) {
		t.Fatal("a lent frame modified in place did not arrive as modified")
	}
}

func testPollTimeout(t *testing.T, open Opener) {
	a, _ := open(t, Options{PollTimeout: 20 * time.Millisecond})
	buf := make([]link.Frame, 8)
	for range 3 { // the first reads may find the kernel's own frames
		start := time.Now()
		n, err := a.ReadBatch(buf)
		el := time.Since(start)
		if err != nil {
			t.Fatalf("idle ReadBatch: %v", err)
		}
		if n == 0 {
			if el < 15*time.Millisecond || el > 2*time.Second {
				t.Fatalf("idle ReadBatch returned after %v; want about 20ms", el)
			}
			return
		}
	}
	t.Fatal("ReadBatch kept returning frames on an idle link")
}

func testClose(t *testing.T, open Opener) {
	a, b := open(t, Options{PollTimeout: -1})
	buf := make([]link.Frame, 8)
	done := make(chan error, 1)
	go func() {
		for {
			n, err := b.ReadBatch(buf)
			if err != nil || n == 0 {
				done <- err
				return
			}
		}
	}()
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, link.ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a reader blocked without timeout")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close took %v", el)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.WriteBatch(link.Plain(Frame(a.MAC(), b.MAC(), 64, 0))); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v, want ErrClosed", err)
	}
	if _, err := b.ReadBatch(buf); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v, want ErrClosed", err)
	}
	_ = b.Stats() // safe after Close
}

func testOffloadsRefused(t *testing.T, open Opener) {
	a, b := open(t, Options{PollTimeout: 20 * time.Millisecond})
	if a.Offloads() {
		t.Skip("this opener gives offloading links even when not asked (nothing to check)")
	}
	f, o := UDPPartial(b.MAC(), a.MAC(), 100, 7)
	n, err := a.WriteBatch([]link.Frame{{Data: f, Offload: o}})
	if err != nil || n != 0 {
		t.Fatalf("WriteBatch of a partial-checksum frame on a link without offloads = %d, %v; want 0, nil", n, err)
	}
	if s := a.Stats(); s.TxDropped != 1 {
		t.Fatalf("stats %v, want the frame counted as dropped", s)
	}
	if got, _ := Read(t, b, 1, 100*time.Millisecond, isMarked); len(got) != 0 {
		t.Fatal("an offloaded frame went out of a link without offloads")
	}
}

func testPartial(t *testing.T, open Opener) {
	a, b := open(t, Options{Offloads: true})
	if !a.Offloads() {
		t.Fatal("Offloads() = false on a link opened with offloads")
	}
	for i, size := range []int{60, 100, a.MTU()} {
		f, o := UDPPartial(b.MAC(), a.MAC(), size-14-28, uint16(i))
		if tcp := i == 1; tcp {
			f, o = TCPSuper(b.MAC(), a.MAC(), 1000, size-14-40, uint16(i))
			o.GSO, o.GSOSize = link.GSONone, 0
		}
		n, err := a.WriteBatch([]link.Frame{{Data: f, Offload: o}})
		if err != nil || n != 1 {
			t.Fatalf("WriteBatch of a %d-byte partial-checksum frame = %d, %v", len(f), n, err)
		}
		got, _ := Read(t, b, 1, 5*time.Second, isMarked)
		if len(got) != 1 {
			t.Fatalf("partial-checksum frame of %d bytes not received", len(f))
		}
		if !bytes.Equal(got[0].Data, f) || got[0].Offload != o {
			t.Fatalf("partial-checksum frame %d arrived as offload %+v (want %+v), %d bytes (want %d), equal %v",
				i, got[0].Offload, o, len(got[0].Data), len(f), bytes.Equal(got[0].Data, f))
		}
	}
}

func testSuper(t *testing.T, open Opener) {
	a, b := open(t, Options{Offloads: true})
	// Up to 64000 bytes: Linux segments a packet of 64 KiB (the device's
	// gso_max_size) or more itself, even towards a veth.
	for i, payload := range []int{3 * 1448, 20000, 64000} {
		f, o := TCPSuper(b.MAC(), a.MAC(), 1448, payload, uint16(10+i))
		n, err := a.WriteBatch([]link.Frame{{Data: f, Offload: o}})
		if err != nil || n != 1 {
			t.Fatalf("WriteBatch of a %d-byte super-packet = %d, %v", len(f), n, err)
		}
		got, _ := Read(t, b, 1, 5*time.Second, isMarked)
		if len(got) != 1 {
			t.Fatalf("%d-byte super-packet not received (%v)", len(f), b.Stats())
		}
		if got[0].Len != len(f) || !bytes.Equal(got[0].Data, f) || got[0].Offload != o {
			t.Fatalf("super-packet %d arrived as %d of %d bytes (want %d), offload %+v (want %+v)",
				i, len(got[0].Data), got[0].Len, len(f), got[0].Offload, o)
		}
	}
	// A super-packet too large for any IP packet is refused.
	f, o := TCPSuper(b.MAC(), a.MAC(), 1448, 65535-40, 20)
	big := append(f, make([]byte, 100)...)
	if n, _ := a.WriteBatch([]link.Frame{{Data: big, Offload: o}}); n != 0 {
		t.Fatalf("a %d-byte frame was accepted", len(big))
	}
}

// marker is the IPv4 TTL of the frames built here, which tells them apart
// from anything else on the wire.
const marker = 0x7d

func isMarked(f []byte) bool {
	return len(f) > 34 && f[12] == 0x08 && f[13] == 0x00 && f[22] == marker
}

// ipv4 writes an IPv4 header (20 bytes, DF, TTL marker) with a correct
// checksum.
func ipv4(b []byte, proto byte, total int, id uint16) {
	b[0], b[1] = 0x45, 0
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], 0x4000)
	b[8], b[9] = marker, proto
	copy(b[12:16], []byte{192, 168, 1, 10})
	copy(b[16:20], []byte{198, 51, 100, 10})
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], ^fold(sum(b[:20], 0)))
}

func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// pseudo is the folded IPv4 pseudo-header sum for the addresses ipv4
// writes: what a partial checksum field holds.
func pseudo(proto byte, l4len int) uint16 {
	s := sum([]byte{192, 168, 1, 10, 198, 51, 100, 10}, 0) + uint32(proto) + uint32(l4len)
	return fold(s)
}

// UDPPartial builds an Ethernet/IPv4/UDP frame with payload bytes whose
// checksum is partial (the pseudo-header sum), as a sender with TX
// checksum offload hands it over, and its Offload.
func UDPPartial(dst, src net.HardwareAddr, payload int, id uint16) ([]byte, link.Offload) {
	f := make([]byte, 14+20+8+payload)
	copy(f, dst)
	copy(f[6:], src)
	f[12], f[13] = 0x08, 0x00
	ipv4(f[14:], 17, 28+payload, id)
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], 40000+id)
	binary.BigEndian.PutUint16(u[2:], 53)
	binary.BigEndian.PutUint16(u[4:], uint16(8+payload))
	binary.BigEndian.PutUint16(u[6:], pseudo(17, 8+payload))
	for i := range payload {
		u[8+i] = byte(i*7 + int(id))
	}
	return f, link.Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 6}
}

// TCPSuper builds an Ethernet/IPv4/TCP super-packet (a GSO/TSO frame) of
// payload bytes in segments of mss, with a partial checksum, and its
// Offload.
func TCPSuper(dst, src net.HardwareAddr, mss, payload int, id uint16) ([]byte, link.Offload) {
	f := make([]byte, 14+20+20+payload)
	copy(f, dst)
	copy(f[6:], src)
	f[12], f[13] = 0x08, 0x00
	ipv4(f[14:], 6, 40+payload, id)
	tc := f[34:]
	binary.BigEndian.PutUint16(tc[0:], 40000+id)
	binary.BigEndian.PutUint16(tc[2:], 80)
	binary.BigEndian.PutUint32(tc[4:], 1_000_000)
	binary.BigEndian.PutUint32(tc[8:], 2_000_000)
	tc[12], tc[13] = 5<<4, 0x18 // ACK|PSH
	binary.BigEndian.PutUint16(tc[14:], 512)
	binary.BigEndian.PutUint16(tc[16:], pseudo(6, 20+payload))
	for i := range payload {
		tc[20+i] = byte(i*13 + int(id))
	}
	o := link.Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 16}
	if payload > mss {
		o.GSO, o.GSOSize = link.GSOTCPv4, uint16(mss)
	}
	return f, o
}
