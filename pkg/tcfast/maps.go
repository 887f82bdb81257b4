package tcfast

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ErrNotFound is returned (wrapped) for a key the flow map does not hold.
var ErrNotFound = errors.New("tcfast: no such flow")

// ErrClosed is returned (wrapped) by a FastPath's methods after Close.
var ErrClosed = errors.New("tcfast: closed")

// Put installs or replaces a flow direction: from now on, frames arriving
// as k are translated and redirected per e by the kernel, and the socket
// filter keeps them from routerd. Counters start at zero (a replaced
// entry's too). The ingress port k.Ifindex must be attached (Attach):
// otherwise the socket filter would hide frames that no tc program
// forwards.
//
// Call it once routerd has established the flow and translated at least
// one of its packets itself, and install both directions. A frame in
// flight while the entry appears may be forwarded twice (see the package
// documentation); a frame routerd still holds in its ring may arrive after
// one the kernel forwarded.
func (f *FastPath) Put(k Key, e Entry) error {
	if err := k.validate(); err != nil {
		return err
	}
	if err := e.validate(); err != nil {
		return fmt.Errorf("tcfast: put %v: %w", k, err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fmt.Errorf("tcfast: put %v: %w", k, ErrClosed)
	}
	if f.ports[k.Ifindex] == nil {
		return fmt.Errorf("tcfast: put %v: ingress port %d is not attached", k, k.Ifindex)
	}
	return f.put(k, e)
}

// put writes the entry without Put's checks.
func (f *FastPath) put(k Key, e Entry) error {
	kb, vb := k.encode(), encodeValue(e, Stats{})
	if err := f.flows.Update(kb[:], vb[:], ebpf.UpdateAny); err != nil {
		return fmt.Errorf("tcfast: put %v: %w", k, err)
	}
	return nil
}

// Delete removes a flow direction: its frames go to routerd again. Call it
// once routerd no longer expects the flow's frames to pass the kernel: the
// flow expired (no frames in flight), or routerd saw its FIN or RST (which
// always go to routerd) or flushes it. A frame in flight while the entry
// goes may be lost (see the package documentation).
func (f *FastPath) Delete(k Key) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fmt.Errorf("tcfast: delete %v: %w", k, ErrClosed)
	}
	kb := k.encode()
	if err := f.flows.Delete(kb[:]); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("tcfast: delete %v: %w", k, ErrNotFound)
		}
		return fmt.Errorf("tcfast: delete %v: %w", k, err)
	}
	return nil
}

// Read returns a flow direction's counters.
func (f *FastPath) Read(k Key) (Stats, error) {
	_, s, err := f.Lookup(k)
	return s, err
}

// Lookup returns a flow direction's entry and counters.
func (f *FastPath) Lookup(k Key) (Entry, Stats, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return Entry{}, Stats{}, fmt.Errorf("tcfast: lookup %v: %w", k, ErrClosed)
	}
	kb := k.encode()
	var vb [ValueSize]byte
	if err := f.flows.Lookup(kb[:], vb[:]); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return Entry{}, Stats{}, fmt.Errorf("tcfast: lookup %v: %w", k, ErrNotFound)
		}
		return Entry{}, Stats{}, fmt.Errorf("tcfast: lookup %v: %w", k, err)
	}
	return decodeValue(vb[:])
}

// flowBatch is how many entries Flows reads per system call.
const flowBatch = 1024

// Flows calls fn for every flow direction in the map, with its entry and
// counters, reading the map in batches (BPF_MAP_LOOKUP_BATCH), until fn
// returns false. Entries added or removed meanwhile may or may not be
// seen; none is seen twice unless it was deleted and added again.
func (f *FastPath) Flows(fn func(Key, Entry, Stats) bool) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fmt.Errorf("tcfast: flows: %w", ErrClosed)
	}
	return f.walk(fn)
}

// walk reads the whole map in batches.
func (f *FastPath) walk(fn func(Key, Entry, Stats) bool) error {
	n := flowBatch
	keys := make([][KeySize]byte, n)
	vals := make([][ValueSize]byte, n)
	var cursor ebpf.MapBatchCursor
	for {
		got, err := f.flows.BatchLookup(&cursor, keys, vals, nil)
		done := errors.Is(err, ebpf.ErrKeyNotExist)
		if err != nil && !done {
			if errors.Is(err, unix.ENOSPC) && n < 1<<20 {
				// A hash bucket holds more entries than the batch.
				n *= 4
				keys, vals = make([][KeySize]byte, n), make([][ValueSize]byte, n)
				continue
			}
			return fmt.Errorf("tcfast: read the flow map: %w", err)
		}
		for i := range got {
			var k Key
			if err := k.UnmarshalBinary(keys[i][:]); err != nil {
				return err
			}
			e, s, err := decodeValue(vals[i][:])
			if err != nil {
				return err
			}
			if !fn(k, e, s) {
				return nil
			}
		}
		if done {
			return nil
		}
	}
}

// clearFlows deletes the entries whose key match selects.
func (f *FastPath) clearFlows(match func(Key) bool) error {
	var doomed []Key
	if err := f.walk(func(k Key, _ Entry, _ Stats) bool {
		if match(k) {
			doomed = append(doomed, k)
		}
		return true
	}); err != nil {
		return err
	}
	for _, k := range doomed {
		kb := k.encode()
		if err := f.flows.Delete(kb[:]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("tcfast: delete %v: %w", k, err)
		}
	}
	return nil
}

// Monotonic returns CLOCK_MONOTONIC now, the clock of Stats.LastSeen
// (bpf_ktime_get_ns).
func Monotonic() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("tcfast: clock_gettime(CLOCK_MONOTONIC): %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// Now returns Monotonic(), so that callers can reach the clock through an
// interface that a FastPath satisfies.
func (f *FastPath) Now() (time.Duration, error) { return Monotonic() }
