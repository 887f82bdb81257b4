package link

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// testFrame builds a frame of size bytes with EtherType 0x88b5 (IEEE local
// experimental) and seq in the first payload bytes.
func testFrame(dst, src net.HardwareAddr, size int, seq uint32) []byte {
	f := make([]byte, size)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	f[12], f[13] = 0x88, 0xb5
	if size >= 18 {
		f[14], f[15], f[16], f[17] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	}
	for i := 18; i < size; i++ {
		f[i] = byte(i + int(seq))
	}
	return f
}

func frameSeq(f []byte) uint32 {
	return uint32(f[14])<<24 | uint32(f[15])<<16 | uint32(f[16])<<8 | uint32(f[17])
}

func isTestFrame(f []byte) bool { return len(f) >= 18 && f[12] == 0x88 && f[13] == 0xb5 }

func newTestPipe(t *testing.T, cfg PipeConfig) (*PipeEnd, *PipeEnd) {
	t.Helper()
	if cfg.NameA == "" {
		cfg.NameA, cfg.NameB = "a", "b"
	}
	a, b, err := NewPipe(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestPipeOrderAndBatches(t *testing.T) {
	a, b := newTestPipe(t, PipeConfig{})
	var want [][]byte
	seq := uint32(0)
	for _, batch := range []int{3, 1, 6} {
		var frames [][]byte
		for range batch {
			f := testFrame(b.MAC(), a.MAC(), 60+int(seq), seq)
			seq++
			frames = append(frames, f)
			want = append(want, f)
		}
		if err := WriteFrames(a, frames...); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Queued(); got != 10 {
		t.Fatalf("Queued = %d, want 10", got)
	}
	buf := make([]Frame, 4)
	var got [][]byte
	for _, wantN := range []int{4, 4, 2} {
		n, err := b.ReadBatch(buf)
		if err != nil || n != wantN {
			t.Fatalf("ReadBatch = %d, %v; want %d", n, err, wantN)
		}
		for _, f := range buf[:n] {
			if f.Len != len(f.Data) || f.Truncated() {
				t.Fatalf("frame Len %d, len(Data) %d", f.Len, len(f.Data))
			}
			got = append(got, append([]byte(nil), f.Data...))
		}
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs: got seq %d len %d, want seq %d len %d", i, frameSeq(got[i]), len(got[i]), frameSeq(want[i]), len(want[i]))
		}
	}
	// Nothing flows the other way.
	if a.Queued() != 0 {
		t.Fatalf("a.Queued = %d", a.Queued())
	}
}

func TestPipeCapacityDrops(t *testing.T) {
	a, b := newTestPipe(t, PipeConfig{Capacity: 4})
	var frames [][]byte
	for i := range 6 {
		frames = append(frames, testFrame(b.MAC(), a.MAC(), 64, uint32(i)))
	}
	n, err := a.WriteBatch(Plain(frames...))
	if err != nil || n != 6 {
		t.Fatalf("WriteBatch = %d, %v; want 6 (on the wire), nil", n, err)
	}
	if s := a.Stats(); s.TxPackets != 6 || s.TxDropped != 0 || s.TxBytes != 6*64 {
		t.Fatalf("a stats %v", s)
	}
	if s := b.Stats(); s.RxDropped != 2 {
		t.Fatalf("b stats %v, want 2 rx dropped", s)
	}
	buf := make([]Frame, 8)
	n, err = b.ReadBatch(buf)
	if err != nil || n != 4 {
		t.Fatalf("ReadBatch = %d, %v", n, err)
	}
	for i := range n {
		if frameSeq(buf[i].Data) != uint32(i) {
			t.Fatalf("frame %d has seq %d: the oldest frames must survive", i, frameSeq(buf[i].Data))
		}
	}
	// The four lent frames still occupy the ring until the next ReadBatch,
	// so the ring is full and they are not overwritten.
	if err := WriteFrames(a, testFrame(b.MAC(), a.MAC(), 64, 99)); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.RxDropped != 3 {
		t.Fatalf("b stats %v, want 3 rx dropped while frames are lent", s)
	}
	for i := range n {
		if frameSeq(buf[i].Data) != uint32(i) {
			t.Fatalf("lent frame %d overwritten (seq %d)", i, frameSeq(buf[i].Data))
		}
	}
	// The next ReadBatch returns the lent slots to the ring.
	if n, err := b.ReadBatch(buf); n != 0 || err != nil {
		t.Fatalf("ReadBatch on empty queue = %d, %v", n, err)
	}
	if err := WriteFrames(a, frames[:4]...); err != nil {
		t.Fatal(err)
	}
	if got := b.Queued(); got != 4 {
		t.Fatalf("Queued = %d after the ring was released, want 4", got)
	}
}

func TestPipeFrameSizes(t *testing.T) {
	a, b := newTestPipe(t, PipeConfig{MTU: 1000})
	ok := testFrame(b.MAC(), a.MAC(), 1014, 1)
	tooBig := testFrame(b.MAC(), a.MAC(), 1015, 2)
	runt := make([]byte, 13)
	tagged := testFrame(b.MAC(), a.MAC(), 1018, 3)
	tagged[12], tagged[13] = 0x81, 0x00
	taggedTooBig := testFrame(b.MAC(), a.MAC(), 1019, 4)
	taggedTooBig[12], taggedTooBig[13] = 0x81, 0x00
	n, err := a.WriteBatch(Plain(ok, tooBig, runt, tagged, taggedTooBig))
	if err != nil || n != 2 {
		t.Fatalf("WriteBatch = %d, %v; want 2", n, err)
	}
	if s := a.Stats(); s.TxDropped != 3 || s.TxPackets != 2 || s.TxBytes != 1014+1018 {
		t.Fatalf("stats %v", s)
	}
	got, err := ReadFrames(b, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0], ok) || !bytes.Equal(got[1], tagged) {
		t.Fatal("wrong frames delivered")
	}
	if a.MTU() != 1000 || b.MTU() != 1000 {
		t.Fatalf("MTU %d %d", a.MTU(), b.MTU())
	}
}

func TestPipeZeroCopyLend(t *testing.T) {
	a, b := newTestPipe(t, PipeConfig{Capacity: 8})
	if err := WriteFrames(a, testFrame(b.MAC(), a.MAC(), 100, 7)); err != nil {
		t.Fatal(err)
	}
	buf := make([]Frame, 4)
	n, err := b.ReadBatch(buf)
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	// The caller may rewrite a lent frame in place and forward it.
	f := buf[0].Data
	f[0] = 0xee
	if cap(f) < len(f) {
		t.Fatal("bad slice")
	}
	if err := WriteFrames(b, f); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFrames(a, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if back[0][0] != 0xee || frameSeq(back[0]) != 7 {
		t.Fatal("forwarded frame lost the in-place edit")
	}
}

func TestPipePollTimeout(t *testing.T) {
	_, b := newTestPipe(t, PipeConfig{PollTimeout: 20 * time.Millisecond})
	buf := make([]Frame, 4)
	start := time.Now()
	n, err := b.ReadBatch(buf)
	el := time.Since(start)
	if n != 0 || err != nil {
		t.Fatalf("ReadBatch = %d, %v; want 0, nil on timeout", n, err)
	}
	if el < 15*time.Millisecond || el > 2*time.Second {
		t.Fatalf("ReadBatch returned after %v, want about 20ms", el)
	}
}

func TestPipeWakesOnFrame(t *testing.T) {
	a, b := newTestPipe(t, PipeConfig{PollTimeout: -1})
	done := make(chan error, 1)
	go func() {
		buf := make([]Frame, 4)
		n, err := b.ReadBatch(buf)
		if err == nil && (n != 1 || frameSeq(buf[0].Data) != 5) {
			err = errors.New("wrong frame")
		}
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := WriteFrames(a, testFrame(b.MAC(), a.MAC(), 64, 5)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked reader not woken by a frame")
	}
}

func TestPipeCloseWakesReader(t *testing.T) {
	for _, timeout := range []time.Duration{-1, time.Hour} {
		a, b := newTestPipe(t, PipeConfig{PollTimeout: timeout})
		done := make(chan error, 1)
		go func() {
			_, err := b.ReadBatch(make([]Frame, 4))
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
				t.Fatalf("ReadBatch after Close: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("poll timeout %v: Close did not wake the reader", timeout)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := b.WriteBatch(Plain(testFrame(a.MAC(), b.MAC(), 64, 0))); !errors.Is(err, ErrClosed) {
			t.Fatalf("WriteBatch after Close: %v", err)
		}
		// The peer stays open; its frames to the closed end are dropped.
		n, err := a.WriteBatch(Plain(testFrame(b.MAC(), a.MAC(), 64, 0)))
		if n != 0 || err != nil {
			t.Fatalf("write to closed peer = %d, %v", n, err)
		}
		if s := a.Stats(); s.TxDropped != 1 {
			t.Fatalf("stats %v, want 1 tx dropped", s)
		}
	}
}

func TestPipeNamesAndMACs(t *testing.T) {
	a, b := Pipe("lan", "host", 1500)
	defer a.Close()
	defer b.Close()
	if a.Name() != "lan" || b.Name() != "host" || a.Peer() != b || b.Peer() != a {
		t.Fatal("names or peers wrong")
	}
	if bytes.Equal(a.MAC(), b.MAC()) || a.MAC()[0]&0x03 != 0x02 || !bytes.Equal(a.MAC(), PipeMAC("lan")) {
		t.Fatalf("MACs %v %v: want distinct locally administered unicast", a.MAC(), b.MAC())
	}
	mac := net.HardwareAddr{0x02, 1, 2, 3, 4, 5}
	c, d, err := NewPipe(PipeConfig{NameA: "c", NameB: "d", MACA: mac})
	if err != nil {
		t.Fatal(err)
	}
	mac[5] = 9 // the pipe keeps its own copy
	if c.MAC().String() != "02:01:02:03:04:05" || d.MAC().String() != PipeMAC("d").String() {
		t.Fatalf("MACs %v %v", c.MAC(), d.MAC())
	}
	for _, cfg := range []PipeConfig{
		{NameA: "x", NameB: "x"},
		{NameA: "x", NameB: "y", MTU: 20},
		{NameA: "x", NameB: "y", Capacity: -1},
		{NameA: "x", NameB: "y", MACA: net.HardwareAddr{1, 2}},
	} {
		if _, _, err := NewPipe(cfg); err == nil {
			t.Errorf("NewPipe(%+v) succeeded, want error", cfg)
		}
	}
}

func TestPipeNoAllocs(t *testing.T) {
	a, b := newTestPipe(t, PipeConfig{})
	frames := make([][]byte, 32)
	for i := range frames {
		frames[i] = testFrame(b.MAC(), a.MAC(), 64, uint32(i))
	}
	buf := make([]Frame, 32)
	out := Plain(frames...)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.WriteBatch(out); err != nil {
			t.Fatal(err)
		}
		if n, err := b.ReadBatch(buf); n != 32 || err != nil {
			t.Fatal(n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write+read batch, want 0", allocs)
	}
}

// TestPipeConcurrent runs writers and a reader in parallel (meaningful under
// -race) and checks that every frame is either delivered in order or counted
// as dropped.
func TestPipeConcurrent(t *testing.T) {
	a, b := newTestPipe(t, PipeConfig{Capacity: 64, PollTimeout: time.Millisecond})
	const perWriter, writers = 5000, 2
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([][]byte, 8)
			for i := 0; i < perWriter; i += len(batch) {
				for j := range batch {
					batch[j] = testFrame(b.MAC(), a.MAC(), 64, uint32(w<<24|(i+j)))
				}
				if _, err := a.WriteBatch(Plain(batch...)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	got := 0
	last := [writers]int{-1, -1}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]Frame, 16)
		for {
			n, err := b.ReadBatch(buf)
			if err != nil {
				t.Error(err)
				return
			}
			for _, f := range buf[:n] {
				s := frameSeq(f.Data)
				w, i := int(s>>24), int(s&0xffffff)
				if i <= last[w] {
					t.Errorf("writer %d: seq %d after %d", w, i, last[w])
				}
				last[w] = i
				got++
			}
			if n == 0 {
				select {
				case <-stop:
					return
				default:
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	sa, sb := a.Stats(), b.Stats()
	if sa.TxPackets != perWriter*writers {
		t.Fatalf("tx %d", sa.TxPackets)
	}
	if uint64(got)+sb.RxDropped != sa.TxPackets || sb.RxPackets != uint64(got) {
		t.Fatalf("delivered %d + dropped %d != sent %d (b stats %v)", got, sb.RxDropped, sa.TxPackets, sb)
	}
	t.Logf("delivered %d, dropped %d", got, sb.RxDropped)
}

func BenchmarkPipe(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			x, y := Pipe("x", "y", 1500)
			defer x.Close()
			defer y.Close()
			const batch = 64
			frames := make([][]byte, batch)
			for i := range frames {
				frames[i] = testFrame(y.MAC(), x.MAC(), size, uint32(i))
			}
			out := Plain(frames...)
			buf := make([]Frame, batch)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(batch, b.N-done)
				if _, err := x.WriteBatch(out[:k]); err != nil {
					b.Fatal(err)
				}
				n, err := y.ReadBatch(buf)
				if err != nil || n != k {
					b.Fatal(n, err)
				}
				done += n
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
}
