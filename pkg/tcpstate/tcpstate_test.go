package tcpstate

import (
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

const (
	syn    = packet.TCPSyn
	synAck = packet.TCPSyn | packet.TCPAck
	ack    = packet.TCPAck
	psh    = packet.TCPAck | 0x08 // PSH-ACK: data
	fin    = packet.TCPFin
	finAck = packet.TCPFin | packet.TCPAck
	rst    = packet.TCPRst
	rstAck = packet.TCPRst | packet.TCPAck
)

var segments = []struct {
	name  string
	flags uint8
}{{"SYN", syn}, {"SYN-ACK", synAck}, {"ACK", ack}, {"PSH-ACK", psh}, {"FIN", fin}, {"FIN-ACK", finAck}, {"RST", rst}, {"RST-ACK", rstAck}}

type dir bool

const (
	out dir = false
	in  dir = true
)

func (d dir) String() string {
	if d == in {
		return "in"
	}
	return "out"
}

// TestTransitions lists every transition that changes a state; every other
// (state, direction, segment) of the cross product must leave the state as
// it is.
func TestTransitions(t *testing.T) {
	type move struct {
		from  State
		d     dir
		flags uint8
	}
	changes := map[move]State{}
	for _, s := range []State{SynOut, Established, FinOut, FinIn, FinBoth, Reset} {
		for _, d := range []dir{out, in} {
			// RST either way → Reset (RFC 7857 §2), from every state but SynIn.
			changes[move{s, d, rst}] = Reset
			changes[move{s, d, rstAck}] = Reset
		}
	}
	for _, sg := range segments {
		if sg.flags&packet.TCPRst == 0 {
			// Any non-RST segment in Reset, either way → Established.
			changes[move{Reset, out, sg.flags}] = Established
			changes[move{Reset, in, sg.flags}] = Established
		}
	}
	for m, to := range map[move]State{
		// The remote's SYN (or SYN-ACK) answers the LAN side's SYN.
		{SynOut, in, syn}:    Established,
		{SynOut, in, synAck}: Established,
		// FIN one way: half-close.
		{Established, out, fin}:    FinOut,
		{Established, out, finAck}: FinOut,
		{Established, in, fin}:     FinIn,
		{Established, in, finAck}:  FinIn,
		// FIN the other way too.
		{FinIn, out, fin}:    FinBoth,
		{FinIn, out, finAck}: FinBoth,
		{FinOut, in, fin}:    FinBoth,
		{FinOut, in, finAck}: FinBoth,
	} {
		changes[m] = to
	}

	for from := range NumStates {
		for _, d := range []dir{out, in} {
			for _, sg := range segments {
				want, ok := changes[move{from, d, sg.flags}]
				if !ok {
					want = from
				}
				step := Out
				if d == in {
					step = In
				}
				if got := step(from, sg.flags); got != want {
					t.Errorf("%v %s %s: got %v, want %v", from, d, sg.name, got, want)
				}
			}
		}
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		flags   uint8
		inbound bool
		want    State
	}{
		{syn, false, SynOut},
		{synAck, false, Established}, // the LAN side answering, picked up mid-handshake
		{ack, false, Established},    // picked up mid-stream (RFC 6092 REC-31)
		{psh, false, Established},
		{fin, false, FinOut},
		{finAck, false, FinOut},
		{rst, false, Established},
		{syn, true, SynIn},    // port forward, DMZ, allow rule
		{synAck, true, SynIn}, // the LAN host's SYN-ACK to an admitted SYN
		{ack, true, Established},
		{fin, true, FinOut},
	} {
		if got := New(tc.flags, tc.inbound); got != tc.want {
			t.Errorf("New(%#02x, inbound %v) = %v, want %v", tc.flags, tc.inbound, got, tc.want)
		}
	}
}

// TestSynInIsLeftOnlyByConfirmation: nothing but Confirms moves SynIn, the
// LAN side's segments and the remote's RST or SYN included (a forged SYN
// must not reach the established timer, nor Reset and then Established).
func TestSynInIsLeftOnlyByConfirmation(t *testing.T) {
	for f := range 256 {
		if got := Out(SynIn, uint8(f)); got != SynIn {
			t.Errorf("Out(SynIn, %#02x) = %v", f, got)
		}
		if got := In(SynIn, uint8(f)); got != SynIn {
			t.Errorf("In(SynIn, %#02x) = %v", f, got)
		}
	}
	// Confirmed: the caller calls In with Established.
	if got := In(Established, finAck); got != FinIn {
		t.Errorf("a confirming FIN-ACK: %v, want fin-in", got)
	}
}

func TestSynAck(t *testing.T) {
	for _, tc := range []struct {
		flags uint8
		want  bool
	}{{synAck, true}, {syn, true}, {ack, false}, {rst | syn, false}, {rstAck | syn, false}, {finAck, false}} {
		if got := SynAck(tc.flags); got != tc.want {
			t.Errorf("SynAck(%#02x) = %v, want %v", tc.flags, got, tc.want)
		}
	}
}

func TestConfirms(t *testing.T) {
	var isn uint32 = 0xfffffff0 // the window wraps around 2^32
	for _, tc := range []struct {
		name  string
		flags uint8
		ack   uint32
		want  bool
	}{
		{"handshake ACK", ack, isn + 1, true},
		{"ACK with data", psh, isn + 1, true},
		{"FIN-ACK", finAck, isn + 1, true},
		{"later ACK, first lost", ack, isn + 1 + 1000, true},
		{"window's last", ack, isn + ConfirmWindow, true},
		{"past the window", ack, isn + 1 + ConfirmWindow, false},
		{"acknowledges the ISN itself", ack, isn, false},
		{"before the ISN", ack, isn - 5, false},
		{"no ACK flag", 0, isn + 1, false},
		{"SYN-ACK", synAck, isn + 1, false},
		{"RST-ACK", rstAck, isn + 1, false},
	} {
		if got := Confirms(tc.flags, tc.ack, isn); got != tc.want {
			t.Errorf("%s: Confirms(%#02x, %#x, %#x) = %v, want %v", tc.name, tc.flags, tc.ack, isn, got, tc.want)
		}
	}
}

// TestRFC5382_REQ5_TimerClasses: open and half-closed connections keep the
// established timer; opening, closing and reset ones the transitory one
// (RFC 7857 §2: a reset connection waits the transitory time too).
func TestRFC5382_REQ5_TimerClasses(t *testing.T) {
	want := map[State]bool{SynOut: true, SynIn: true, Established: false, FinOut: false, FinIn: false, FinBoth: true, Reset: true}
	for s := range NumStates {
		if got := s.Transitory(); got != want[s] {
			t.Errorf("%v.Transitory() = %v, want %v", s, got, want[s])
		}
	}
}

func TestStateNames(t *testing.T) {
	seen := map[string]bool{}
	for s := range NumStates + 1 {
		n := s.String()
		if n == "" || seen[n] {
			t.Errorf("state %d: name %q empty or repeated", s, n)
		}
		seen[n] = true
	}
	if SynIn.String() != "syn-received" || FinBoth.String() != "closing" {
		t.Errorf("names changed: %v %v", SynIn, FinBoth)
	}
}

func TestNoAllocation(t *testing.T) {
	var s State
	if n := testing.AllocsPerRun(100, func() {
		s = In(Out(New(syn, false), ack), synAck)
		_ = Confirms(ack, 1, 0) && s.Transitory()
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}
