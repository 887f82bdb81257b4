package wan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// lastSent is a Transport that keeps the last message sent and never
// receives (the fuzz target drives the machine directly).
type lastSent struct{ msg []byte }

func (l *lastSent) Send(msg []byte, _, _ netip.Addr) error {
	l.msg = append(l.msg[:0], msg...)
	return nil
}

func (l *lastSent) Recv(ctx context.Context) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// fuzzRig is a machine run synchronously on a fake clock, checking the
// event sequence and the lease invariants as it goes.
type fuzzRig struct {
	t     *testing.T
	clock *fakeClock
	tr    *lastSent
	m     *machine
	have  bool // a lease is held, according to the events
}

func newFuzzRig(t *testing.T) *fuzzRig {
	r := &fuzzRig{t: t, clock: newFakeClock(), tr: &lastSent{}}
	c, err := NewDHCP(DHCPConfig{Transport: r.tr, HWAddr: clientMAC, Hostname: "passgate", Clock: r.clock,
		Rand: rand.New(rand.NewPCG(3, 4))})
	if err != nil {
		t.Fatal(err)
	}
	r.m = &machine{c: c, ctx: context.Background(), emit: r.event}
	r.m.start(r.clock.Now())
	return r
}

func (r *fuzzRig) event(e Event) {
	switch e.(type) {
	case LeaseAcquired:
		if r.have {
			r.t.Fatalf("LeaseAcquired while holding a lease")
		}
		r.have = true
	case LeaseRenewed, LeaseChanged:
		if !r.have {
			r.t.Fatalf("%T without a lease", e)
		}
	case LeaseLost:
		if !r.have {
			r.t.Fatalf("LeaseLost without a lease")
		}
		r.have = false
	}
}

// request is the client's last message, parsed.
func (r *fuzzRig) request() *dhcpv4.DHCPv4 {
	m, err := dhcpv4.FromBytes(r.tr.msg)
	if err != nil {
		r.t.Fatalf("client sent an unparseable message: %v", err)
	}
	return m
}

func (r *fuzzRig) receive(b []byte) { r.m.receive(r.clock.Now(), b) }

func (r *fuzzRig) timeout() {
	r.clock.fireUntil(r.m.deadline)
	r.m.timeout(r.clock.Now())
}

// reach drives the machine into state s with well-formed replies.
func (r *fuzzRig) reach(s state) {
	offer := func() { r.receive(offerFor(r.request(), serverA, addr100).ToBytes()) }
	ack := func() { r.receive(ackFor(r.request(), serverA, addr100).ToBytes()) }
	switch s {
	case stateSelecting:
	case stateRequesting:
		offer()
	case stateBound:
		offer()
		ack()
	case stateRenewing:
		offer()
		ack()
		r.timeout()
	case stateRebinding:
		offer()
		ack()
		r.clock.fireUntil(r.m.t2)
		r.m.timeout(r.clock.Now())
	case stateRebooting:
		r.m.requested = addr100
		r.m.enterRebooting(r.clock.Now())
	case stateInit:
		r.m.enterInit(r.clock.Now(), 5*time.Second)
	}
	if r.m.st != s {
		r.t.Fatalf("reached %v, want %v", r.m.st, s)
	}
}

// check verifies the machine's invariants.
func (r *fuzzRig) check() {
	m := r.m
	if m.st < stateInit || m.st > stateRebooting {
		r.t.Fatalf("state %v", m.st)
	}
	if (m.lease != nil) != r.have {
		r.t.Fatalf("lease %v but events say have=%v", m.lease, r.have)
	}
	if m.deadline.IsZero() {
		r.t.Fatalf("no deadline in state %v", m.st)
	}
	if l := m.lease; l != nil {
		if err := checkPrefix(l.Addr); err != nil {
			r.t.Fatalf("lease address %v: %v", l.Addr, err)
		}
		if l.LeaseTime < MinLeaseTime || l.LeaseTime > MaxLeaseTime || l.T1 <= 0 || l.T1 > l.T2 || l.T2 >= l.LeaseTime {
			r.t.Fatalf("lease times %v %v %v", l.LeaseTime, l.T1, l.T2)
		}
		if l.MTU != 0 && (l.MTU < MinMTU || l.MTU > MaxMTU) {
			r.t.Fatalf("MTU %d", l.MTU)
		}
		if len(l.DNS) > MaxDNS || (l.Gateway.IsValid() && !usableUnicast(l.Gateway)) {
			r.t.Fatalf("lease %+v", l)
		}
		if m.st != stateBound && m.st != stateRenewing && m.st != stateRebinding {
			r.t.Fatalf("lease held in state %v", m.st)
		}
	}
}

// craft builds a server message for the client's current transaction,
// with fuzzer-chosen type, address and extra raw options.
func (r *fuzzRig) craft(typ byte, yi [4]byte, extra []byte) []byte {
	req := r.request()
	b := make([]byte, 240, 240+len(extra)+32)
	b[0], b[1], b[2] = 2, 1, 6
	copy(b[4:8], req.TransactionID[:])
	copy(b[16:20], yi[:])
	copy(b[28:34], clientMAC)
	copy(b[236:240], []byte{99, 130, 83, 99})
	b = append(b, 53, 1, []byte{2, 5, 6}[int(typ)%3])
	b = append(b, 54, 4, 203, 0, 113, 1)
	b = append(b, extra...)
	b = append(b, 51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 255, 255, 0, 255)
	return b
}

// FuzzClientReplies feeds arbitrary server messages, well-formed ones with
// fuzzed options, and timeouts to the client in every state: it must never
// panic and its lease must always be sane.
func FuzzClientReplies(f *testing.F) {
	for s := stateInit; s <= stateRebooting; s++ {
		f.Add(byte(s), []byte{})
		f.Add(byte(s), []byte{1, 1, 203, 0, 113, 100, 0})                                   // an ACK
		f.Add(byte(s), []byte{1, 2, 203, 0, 113, 100, 0, 2})                                // a NAK, then a timeout
		f.Add(byte(s), []byte{1, 0, 203, 0, 113, 101, 6, 58, 4, 0, 0, 0, 1, 26, 2, 5, 220}) // an OFFER with T1 and MTU
		f.Add(byte(s), []byte{0, 5, 1, 2, 3, 4, 5, 2, 2, 2})
		f.Add(byte(s), []byte{3, 1, 203, 0, 113, 100, 0, 17, 0x42})
	}
	f.Fuzz(func(t *testing.T, st byte, data []byte) {
		if len(data) > 4096 {
			return // 64 steps never need more; keeps minimisation quick
		}
		r := newFuzzRig(t)
		r.reach(state(int(st) % int(stateRebooting+1)))
		r.check()
		for steps := 0; len(data) > 0 && steps < 64; steps++ {
			op := data[0]
			data = data[1:]
			switch op % 4 {
			case 0: // raw bytes
				n := 0
				if len(data) > 0 {
					n = min(int(data[0]), len(data)-1)
					data = data[1:]
				}
				r.receive(data[:n])
				data = data[n:]
			case 1, 3: // crafted reply, possibly with one byte flipped
				if len(data) < 6 {
					data = nil
					break
				}
				typ, yi := data[0], [4]byte(data[1:5])
				n := min(int(data[5]), len(data)-6)
				extra := data[6 : 6+n]
				data = data[6+n:]
				b := r.craft(typ, yi, extra)
				if op%4 == 3 && len(data) >= 2 {
					b[int(data[0])%len(b)] ^= data[1]
					data = data[2:]
				}
				r.receive(b)
			case 2:
				r.timeout()
			}
			r.check()
		}
		r.m.stop(r.clock.Now())
	})
}

// TestFuzzRigReachesStates makes sure the fuzz target starts where it
// says it does.
func TestFuzzRigReachesStates(t *testing.T) {
	for s := stateInit; s <= stateRebooting; s++ {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			r := newFuzzRig(t)
			r.reach(s)
			r.check()
		})
	}
}
