package link

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// TAP is a Link over a TAP device's file (IFF_TAP|IFF_NO_PI, opened
// non-blocking so Go's poller serves it, as netconf.OpenTAP does): the
// router's own stack, self0. Each read returns one frame; ReadBatch takes
// whatever is ready after the first, up to the batch size.
type TAP struct {
	f    *os.File
	name string
	mtu  int
	mac  net.HardwareAddr
	poll time.Duration

	rmu    sync.Mutex
	bufs   [][]byte
	wmu    sync.Mutex
	closed atomic.Bool
	st     struct{ rxp, rxb, txp, txb, txd atomic.Uint64 }
}

// NewTAP wraps f. mac is the TAP interface's address (self0 carries the LAN
// port's), poll the ReadBatch timeout (0: DefaultPollTimeout, negative:
// until a frame arrives or Close).
func NewTAP(f *os.File, name string, mtu int, mac net.HardwareAddr, poll time.Duration) *TAP {
	if poll == 0 {
		poll = DefaultPollTimeout
	}
	return &TAP{f: f, name: name, mtu: mtu, mac: mac, poll: poll}
}

func (t *TAP) Name() string          { return t.name }
func (t *TAP) MTU() int              { return t.mtu }
func (t *TAP) MAC() net.HardwareAddr { return t.mac }

// Offloads implements Link: the TAP is opened without IFF_VNET_HDR, so the
// kernel behind it takes only complete frames.
func (t *TAP) Offloads() bool { return false }

func (t *TAP) Stats() Stats {
	return Stats{RxPackets: t.st.rxp.Load(), RxBytes: t.st.rxb.Load(), TxPackets: t.st.txp.Load(),
		TxBytes: t.st.txb.Load(), TxDropped: t.st.txd.Load()}
}

// ReadBatch implements Link.
func (t *TAP) ReadBatch(frames []Frame) (int, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if len(t.bufs) < len(frames) {
		for len(t.bufs) < len(frames) {
			t.bufs = append(t.bufs, make([]byte, t.mtu+EthHeaderLen+VLANTagLen))
		}
	}
	n := 0
	for n < len(frames) {
		wait := t.poll
		if n > 0 {
			wait = time.Microsecond // take what is already queued, don't wait for more
		}
		var deadline time.Time // none: wait for a frame or Close
		if wait > 0 {
			deadline = time.Now().Add(wait)
		}
		if err := t.f.SetReadDeadline(deadline); err != nil {
			return n, err
		}
		k, err := t.f.Read(t.bufs[n])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return n, nil
			}
			if t.closed.Load() || errors.Is(err, os.ErrClosed) {
				return n, ErrClosed
			}
			return n, err
		}
		frames[n] = Frame{Data: t.bufs[n][:k], Len: k}
		t.st.rxp.Add(1)
		t.st.rxb.Add(uint64(k))
		n++
	}
	return n, nil
}

// WriteBatch implements Link.
func (t *TAP) WriteBatch(frames []Frame) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.closed.Load() {
		return 0, ErrClosed
	}
	n := 0
	for _, fr := range frames {
		f := fr.Data
		if !fr.Offload.IsZero() || len(f) < EthHeaderLen || len(f) > t.mtu+EthHeaderLen+VLANTagLen {
			t.st.txd.Add(1)
			continue
		}
		if _, err := t.f.Write(f); err != nil {
			if t.closed.Load() {
				return n, ErrClosed
			}
			t.st.txd.Add(1) // e.g. the interface is down: the kernel refuses
			continue
		}
		t.st.txp.Add(1)
		t.st.txb.Add(uint64(len(f)))
		n++
	}
	return n, nil
}

// Close implements Link.
func (t *TAP) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	return t.f.Close()
}
