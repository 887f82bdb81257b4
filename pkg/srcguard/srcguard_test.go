package srcguard

import (
	"testing"
	"time"
)

func ip(last byte) uint32 { return 192<<24 | 168<<16 | 1<<8 | uint32(last) }
func mac(n byte) [6]byte  { return [6]byte{2, 0, 0, 0, 0, n} }

const (
	victim   = 1
	attacker = 66
	other    = 7
)

type step struct {
	at   time.Duration
	ip   byte
	dev  byte
	want Verdict
}

func run(t *testing.T, g *Guard, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := g.Check(ip(s.ip), mac(s.dev), s.at); got != s.want {
			t.Fatalf("step %d: device %d from .%d at %v: %v, want %v", i, s.dev, s.ip, s.at, got, s.want)
		}
	}
}

// An attacker on the LAN sends with the victim's address to take its
// mappings or reset its connections: refused while the victim uses it.
func TestAttack_LANSourceSpoofing(t *testing.T) {
	g := New(Config{})
	run(t, g, []step{
		{0, 10, victim, Allow},
		{time.Second, 10, attacker, Conflict},
		{30 * time.Second, 10, victim, Allow},
		{89 * time.Second, 10, attacker, Conflict}, // 59 s after the victim's last packet
		{90 * time.Second, 10, victim, Allow},
	})
	if c := g.Counters(); c.Conflicts != 2 {
		t.Fatalf("counters %+v", c)
	}
	// Once the victim has gone for longer than the hold, the address is
	// free (a device that left; DHCP may give it to another).
	run(t, g, []step{{151 * time.Second, 10, attacker, Allow}, {152 * time.Second, 10, victim, Conflict}})
}

// One device sending from many addresses to multiply its session quota:
// it holds at most two at a time.
func TestAttack_LANAddressMultiplication(t *testing.T) {
	g := New(Config{})
	run(t, g, []step{
		{0, 20, attacker, Allow},
		{0, 21, attacker, Allow},
		{0, 22, attacker, TooMany},
		{0, 23, attacker, TooMany},
		{0, 30, other, Allow}, // others are not hurt
	})
	// Rotating through the whole subnet, for hours.
	for s := 1; s < 20000; s++ {
		g.Check(ip(byte(24+s%200)), mac(attacker), time.Duration(s)*time.Second/4)
	}
	if n := g.perMAC[mac(attacker)]; n > 2 {
		t.Fatalf("the attacker holds %d addresses", n)
	}
	// A lease change: the old address idles out, the new one is taken.
	g2 := New(Config{})
	run(t, g2, []step{
		{0, 40, victim, Allow},
		{time.Second, 41, victim, Allow},
		{2 * time.Second, 42, victim, TooMany},
		{62 * time.Second, 41, victim, Allow},
		{62 * time.Second, 42, victim, Allow}, // .40 idle for 62 s: replaced
		{63 * time.Second, 40, victim, TooMany},
	})
}

// The DHCP server's lease is authoritative: the address moves at once.
func TestLeaseMovesAddress(t *testing.T) {
	g := New(Config{})
	run(t, g, []step{{0, 50, victim, Allow}, {0, 51, other, Allow}, {0, 52, other, Allow}})
	g.Lease(ip(50), mac(other), time.Second)
	run(t, g, []step{{time.Second, 50, other, Allow}, {time.Second, 50, victim, Conflict}})
	if n := g.perMAC[mac(other)]; n != 2 {
		t.Fatalf("after a lease the device holds %d addresses, want 2 (its oldest gave way)", n)
	}
	if c := g.Counters(); c.Rebound != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// The table is bounded; a full table takes new addresses only as old
// ones pass their hold.
func TestTableBound(t *testing.T) {
	g := New(Config{MaxBindings: 8})
	for d := byte(1); d <= 8; d++ {
		run(t, g, []step{{0, 100 + d, d, Allow}})
	}
	run(t, g, []step{{time.Second, 120, 20, TooMany}, {61 * time.Second, 120, 20, Allow}})
	if len(g.byIP) > 8 || len(g.Bindings()) > 8 {
		t.Fatalf("%d bindings", len(g.byIP))
	}
	g.Forget()
	if len(g.Bindings()) != 0 || len(g.perMAC) != 0 {
		t.Fatal("Forget left bindings")
	}
	run(t, g, []step{{62 * time.Second, 120, 21, Allow}})
}

func BenchmarkCheck(b *testing.B) {
	g := New(Config{})
	for d := byte(1); d < 200; d++ {
		g.Check(ip(d), mac(d), 0)
	}
	b.Run("burst", func(b *testing.B) {
		for b.Loop() {
			g.Check(ip(7), mac(7), time.Second)
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			d := byte(1 + i%199)
			g.Check(ip(d), mac(d), time.Second)
		}
	})
}
