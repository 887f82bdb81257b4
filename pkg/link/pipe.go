package link

import (
	"fmt"
	"hash/fnv"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// PipeConfig configures [NewPipe].
type PipeConfig struct {
	NameA, NameB string
	// MTU of both ends; 0 means 1500.
	MTU int
	// MACA and MACB are the ends' hardware addresses; nil means a locally
	// administered address derived from the end's name.
	MACA, MACB net.HardwareAddr
	// Capacity is how many frames each end's receive queue holds, like a
	// NIC's receive ring; frames arriving when it is full are dropped and
	// counted in the receiver's RxDropped. 0 means DefaultPipeCapacity.
	Capacity int
	// PollTimeout is how long ReadBatch waits for a frame; 0 means
	// DefaultPollTimeout, negative means until a frame arrives or Close.
	PollTimeout time.Duration
	// Offloads makes both ends accept frames with an Offload (partial
	// checksums, super-packets up to MaxGSOFrame) and hand them to the
	// peer unchanged, as a veth pair does. Without it such frames are
	// dropped on write. Either way, frames read carry whatever offload the
	// peer wrote.
	Offloads bool
}

// DefaultPipeCapacity is a pipe end's default receive queue length.
const DefaultPipeCapacity = 256

// PipeEnd is one end of an in-memory pipe made by [Pipe] or [NewPipe]. What
// one end writes, the other reads, in order. Each end owns a fixed ring of
// frame buffers for what it receives: WriteBatch copies into the peer's ring,
// ReadBatch lends the ring's buffers (zero copy), and no memory is allocated
// after construction, except that a slot grows once to hold a super-packet
// on a pipe with Offloads.
type PipeEnd struct {
	name        string
	mac         net.HardwareAddr
	mtu         int
	pollTimeout time.Duration
	offloads    bool
	peer        *PipeEnd

	rxq pipeQueue // frames waiting for this end's ReadBatch

	rxMu  sync.Mutex // serialises ReadBatch; guards timer
	txMu  sync.Mutex // serialises WriteBatch
	timer *time.Timer

	done      chan struct{} // closed by Close
	closeOnce sync.Once

	rxPackets, rxBytes, rxDropped atomic.Uint64
	txPackets, txBytes, txDropped atomic.Uint64
}

var _ Link = (*PipeEnd)(nil)

// pipeQueue is a fixed ring of frame buffers. Slots [head-held, head) are
// lent to the reader by its last ReadBatch; [head, tail) hold frames not yet
// read; the rest are free for the writer.
type pipeQueue struct {
	mu     sync.Mutex
	slots  [][]byte // each with capacity maxFrameLen(mtu), or more after a super-packet
	offs   []Offload
	head   uint64 // next slot to read
	tail   uint64 // next slot to write
	held   int    // slots lent by the last ReadBatch
	closed bool   // the owning end is closed: writers drop
	ready  chan struct{}
}

// Pipe returns two connected in-memory links named nameA and nameB with the
// given MTU and default capacity and poll timeout. It panics if the
// arguments are invalid; use [NewPipe] to get an error instead.
func Pipe(nameA, nameB string, mtu int) (*PipeEnd, *PipeEnd) {
	a, b, err := NewPipe(PipeConfig{NameA: nameA, NameB: nameB, MTU: mtu})
	if err != nil {
		panic(err)
	}
	return a, b
}

// NewPipe returns two connected in-memory links configured by cfg.
func NewPipe(cfg PipeConfig) (*PipeEnd, *PipeEnd, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, nil, fmt.Errorf("link: pipe: mtu %d out of range 68..65535", cfg.MTU)
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultPipeCapacity
	}
	if cfg.Capacity < 1 {
		return nil, nil, fmt.Errorf("link: pipe: capacity %d must be positive", cfg.Capacity)
	}
	if cfg.PollTimeout == 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	if cfg.NameA == "" || cfg.NameB == "" || cfg.NameA == cfg.NameB {
		return nil, nil, fmt.Errorf("link: pipe: names %q and %q must be distinct and non-empty", cfg.NameA, cfg.NameB)
	}
	for _, m := range []net.HardwareAddr{cfg.MACA, cfg.MACB} {
		if m != nil && len(m) != 6 {
			return nil, nil, fmt.Errorf("link: pipe: MAC %v is not 6 bytes", m)
		}
	}
	a := newPipeEnd(cfg.NameA, cfg.MACA, cfg)
	b := newPipeEnd(cfg.NameB, cfg.MACB, cfg)
	a.peer, b.peer = b, a
	return a, b, nil
}

func newPipeEnd(name string, mac net.HardwareAddr, cfg PipeConfig) *PipeEnd {
	if mac == nil {
		mac = PipeMAC(name)
	} else {
		mac = append(net.HardwareAddr(nil), mac...)
	}
	e := &PipeEnd{
		name:        name,
		mac:         mac,
		mtu:         cfg.MTU,
		pollTimeout: cfg.PollTimeout,
		offloads:    cfg.Offloads,
		done:        make(chan struct{}),
	}
	// One contiguous allocation for the whole ring.
	size := maxFrameLen(cfg.MTU)
	mem := make([]byte, size*cfg.Capacity)
	e.rxq.slots = make([][]byte, cfg.Capacity)
	e.rxq.offs = make([]Offload, cfg.Capacity)
	for i := range e.rxq.slots {
		e.rxq.slots[i] = mem[i*size : i*size : (i+1)*size]
	}
	e.rxq.ready = make(chan struct{}, 1)
	if cfg.PollTimeout > 0 {
		e.timer = time.NewTimer(time.Hour)
		e.timer.Stop()
	}
	return e
}

// PipeMAC is the hardware address a pipe end named name gets by default: a
// locally administered unicast address 02:70:xx:xx:xx:xx with a hash of the
// name in the last four bytes.
func PipeMAC(name string) net.HardwareAddr {
	h := fnv.New32a()
	h.Write([]byte(name))
	s := h.Sum32()
	return net.HardwareAddr{0x02, 0x70, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// Name implements Link.
func (e *PipeEnd) Name() string { return e.name }

// MAC implements Link.
func (e *PipeEnd) MAC() net.HardwareAddr { return e.mac }

// MTU implements Link.
func (e *PipeEnd) MTU() int { return e.mtu }

// Offloads implements Link: PipeConfig.Offloads.
func (e *PipeEnd) Offloads() bool { return e.offloads }

// Peer returns the other end of the pipe.
func (e *PipeEnd) Peer() *PipeEnd { return e.peer }

// Queued returns how many frames wait in this end's receive queue (written
// by the peer, not yet returned by ReadBatch). Handy in tests to assert that
// nothing was sent.
func (e *PipeEnd) Queued() int {
	e.rxq.mu.Lock()
	defer e.rxq.mu.Unlock()
	return int(e.rxq.tail - e.rxq.head)
}

// Stats implements Link.
func (e *PipeEnd) Stats() Stats {
	return Stats{
		RxPackets: e.rxPackets.Load(),
		RxBytes:   e.rxBytes.Load(),
		RxDropped: e.rxDropped.Load(),
		TxPackets: e.txPackets.Load(),
		TxBytes:   e.txBytes.Load(),
		TxDropped: e.txDropped.Load(),
	}
}

func (e *PipeEnd) isClosed() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// WriteBatch implements Link: it copies each frame into the peer's receive
// queue. A frame that does not fit the MTU (or has an Offload this end does
// not accept) is counted in this end's TxDropped; a frame arriving at a full
// peer queue is counted as sent here and dropped at the peer (RxDropped), as
// a NIC would; frames to a closed peer are counted in TxDropped.
func (e *PipeEnd) WriteBatch(frames []Frame) (int, error) {
	e.txMu.Lock()
	defer e.txMu.Unlock()
	if e.isClosed() {
		return 0, ErrClosed
	}
	p := e.peer
	q := &p.rxq
	sent, bytes, queued := 0, 0, 0
	var txDrop, rxDrop uint64

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		e.txDropped.Add(uint64(len(frames)))
		return 0, nil
	}
	capacity := uint64(len(q.slots))
	for _, f := range frames {
		if f.Offload.IsZero() {
			if !frameFits(f.Data, e.mtu) {
				txDrop++
				continue
			}
		} else if !e.offloads || !fitsOffload(f, e.mtu) {
			txDrop++
			continue
		}
		sent++
		bytes += len(f.Data)
		if q.tail-q.head+uint64(q.held) >= capacity {
			rxDrop++
			continue
		}
		i := q.tail % capacity
		q.slots[i] = append(q.slots[i][:0], f.Data...)
		q.offs[i] = f.Offload
		q.tail++
		queued++
	}
	q.mu.Unlock()

	if queued > 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	e.txPackets.Add(uint64(sent))
	e.txBytes.Add(uint64(bytes))
	if txDrop > 0 {
		e.txDropped.Add(txDrop)
	}
	if rxDrop > 0 {
		p.rxDropped.Add(rxDrop)
	}
	return sent, nil
}

// take releases the slots lent by the previous ReadBatch and lends up to
// len(frames) queued frames.
func (q *pipeQueue) take(frames []Frame) (n, bytes int) {
	q.mu.Lock()
	q.held = 0
	capacity := uint64(len(q.slots))
	for n < len(frames) && q.head < q.tail {
		i := q.head % capacity
		d := q.slots[i]
		frames[n] = Frame{Data: d, Len: len(d), Offload: q.offs[i]}
		bytes += len(d)
		q.head++
		n++
	}
	q.held = n
	q.mu.Unlock()
	return n, bytes
}

// ReadBatch implements Link. The returned frames point into this end's
// receive ring and stay valid until the next ReadBatch or Close.
func (e *PipeEnd) ReadBatch(frames []Frame) (int, error) {
	e.rxMu.Lock()
	defer e.rxMu.Unlock()
	if e.isClosed() {
		return 0, ErrClosed
	}
	if len(frames) == 0 {
		return 0, nil
	}
	var deadline time.Time
	for {
		n, bytes := e.rxq.take(frames)
		if n > 0 {
			e.rxPackets.Add(uint64(n))
			e.rxBytes.Add(uint64(bytes))
			return n, nil
		}
		if e.timer == nil { // wait until a frame or Close
			select {
			case <-e.rxq.ready:
				continue
			case <-e.done:
				return 0, ErrClosed
			}
		}
		wait := e.pollTimeout
		if deadline.IsZero() {
			deadline = time.Now().Add(wait)
		} else if wait = time.Until(deadline); wait <= 0 {
			return 0, nil
		}
		e.timer.Reset(wait)
		select {
		case <-e.rxq.ready:
			e.timer.Stop()
		case <-e.done:
			e.timer.Stop()
			return 0, ErrClosed
		case <-e.timer.C:
			// A frame may have raced the timer; take it if so.
			n, bytes := e.rxq.take(frames)
			e.rxPackets.Add(uint64(n))
			e.rxBytes.Add(uint64(bytes))
			return n, nil
		}
	}
}

// Close implements Link. Frames the peer writes afterwards are dropped and
// counted in the peer's TxDropped; the peer itself stays open.
func (e *PipeEnd) Close() error {
	e.closeOnce.Do(func() {
		e.rxq.mu.Lock()
		e.rxq.closed = true
		e.rxq.mu.Unlock()
		close(e.done)
		// Wait for in-flight calls to leave.
		e.rxMu.Lock()
		e.txMu.Lock()
		e.txMu.Unlock()
		e.rxMu.Unlock()
	})
	return nil
}

// ReadFrames reads from l until it has n frames or timeout passes, and
// returns copies of them (so they outlive the next ReadBatch). It returns an
// error naming how many frames arrived if fewer than n did. Meant for tests.
func ReadFrames(l Link, n int, timeout time.Duration) ([][]byte, error) {
	out := make([][]byte, 0, n)
	buf := make([]Frame, n)
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		if time.Now().After(deadline) {
			return out, fmt.Errorf("link: %s: got %d of %d frames within %v", l.Name(), len(out), n, timeout)
		}
		k, err := l.ReadBatch(buf[:n-len(out)])
		for _, f := range buf[:k] {
			out = append(out, append([]byte(nil), f.Data...))
		}
		if err != nil {
			return out, fmt.Errorf("link: %s: after %d of %d frames: %w", l.Name(), len(out), n, err)
		}
	}
	return out, nil
}

// WriteFrames transmits frames on l and returns an error unless all of them
// were put on the wire. Meant for tests.
func WriteFrames(l Link, frames ...[]byte) error {
	n, err := l.WriteBatch(Plain(frames...))
	if err != nil {
		return fmt.Errorf("link: %s: write: %w", l.Name(), err)
	}
	if n != len(frames) {
		return fmt.Errorf("link: %s: transmitted %d of %d frames", l.Name(), n, len(frames))
	}
	return nil
}
