package dataplane

import (
	"fmt"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/tcfast"
)

// fakeOffloader is an in-memory Offloader: the kernel's flow table without
// the kernel. Tests set the counters the tc program would keep (forward).
// TestOffloaderContract holds it and *tcfast.FastPath to the same
// behaviour.
type fakeOffloader struct {
	mu    sync.Mutex
	start time.Time
	flows map[tcfast.Key]fakeFlow
	puts  int
}

type fakeFlow struct {
	e tcfast.Entry
	s tcfast.Stats
}

func newFakeOffloader() *fakeOffloader {
	return &fakeOffloader{start: time.Now(), flows: make(map[tcfast.Key]fakeFlow)}
}

// Put checks what tcfast checks: a key and entry it would refuse are
// refused here too (through tcfast's own encoder, which validates).
func (f *fakeOffloader) Put(k tcfast.Key, e tcfast.Entry) error {
	if k.Ifindex == 0 || (k.Proto != tcfast.ProtoTCP && k.Proto != tcfast.ProtoUDP) {
		return fmt.Errorf("fake: put %v: invalid key", k)
	}
	if e.Egress == 0 || e.MTU < tcfast.MinMTU || e.FromMAC == ([6]byte{}) || e.FromMAC[0]&1 != 0 {
		return fmt.Errorf("fake: put %v: invalid entry %+v", k, e)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flows[k] = fakeFlow{e: e}
	f.puts++
	return nil
}

func (f *fakeOffloader) Delete(k tcfast.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.flows[k]; !ok {
		return fmt.Errorf("fake: delete %v: %w", k, tcfast.ErrNotFound)
	}
	delete(f.flows, k)
	return nil
}

func (f *fakeOffloader) Flows(fn func(tcfast.Key, tcfast.Entry, tcfast.Stats) bool) error {
	f.mu.Lock()
	snap := make(map[tcfast.Key]fakeFlow, len(f.flows))
	for k, v := range f.flows {
		snap[k] = v
	}
	f.mu.Unlock()
	for k, v := range snap {
		if !fn(k, v.e, v.s) {
			break
		}
	}
	return nil
}

func (f *fakeOffloader) Read(k tcfast.Key) (tcfast.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.flows[k]
	if !ok {
		return tcfast.Stats{}, fmt.Errorf("fake: read %v: %w", k, tcfast.ErrNotFound)
	}
	return v.s, nil
}

func (f *fakeOffloader) Now() (time.Duration, error) { return time.Since(f.start) + time.Hour, nil }

// forward counts n frames of b bytes as the tc program would, now.
func (f *fakeOffloader) forward(k tcfast.Key, n, b uint64) bool {
	now, _ := f.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.flows[k]
	if !ok {
		return false
	}
	v.s.Packets += n
	v.s.Bytes += b
	v.s.LastSeen = now
	f.flows[k] = v
	return true
}

// snapshot returns the table.
func (f *fakeOffloader) snapshot() map[tcfast.Key]tcfast.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[tcfast.Key]tcfast.Entry, len(f.flows))
	for k, v := range f.flows {
		out[k] = v.e
	}
	return out
}

// plant puts an entry the data plane does not know of (one a crashed
// worker's map would hold).
func (f *fakeOffloader) plant(k tcfast.Key, e tcfast.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flows[k] = fakeFlow{e: e}
}
