package landev

import (
	"testing"
	"time"
)

var (
	pc  = [6]byte{0x02, 0, 0, 0, 0, 1}
	tv  = [6]byte{0x02, 0, 0, 0, 0, 2}
	toy = [6]byte{0x02, 0, 0, 0, 0, 3}
)

func TestDevicesAreRecorded(t *testing.T) {
	var news [][6]byte
	tb := New(Config{OnNew: func(m [6]byte, blocked bool) {
		if blocked {
			t.Errorf("%x blocked with the filter off", m)
		}
		news = append(news, m)
	}})
	tb.See(pc, 1500*time.Millisecond)
	tb.See(tv, 2*time.Second)
	tb.See(pc, 3200*time.Millisecond)
	tb.See(pc, 3300*time.Millisecond)
	if len(news) != 2 || news[0] != pc || news[1] != tv {
		t.Fatalf("new devices %x", news)
	}
	d := tb.Devices()
	if len(d) != 2 || d[0].MAC != pc || d[1].MAC != tv {
		t.Fatalf("devices %+v: want the most recently seen first", d)
	}
	if d[0].FirstSeen != 1500*time.Millisecond || d[0].LastSeen != 3*time.Second || d[0].Frames != 3 {
		t.Errorf("pc %+v", d[0])
	}
	if !tb.Forget(tv) || tb.Forget(tv) || len(tb.Devices()) != 1 {
		t.Error("Forget")
	}
	tb.See(tv, 4*time.Second)
	if len(news) != 3 {
		t.Error("a forgotten device seen again is not new")
	}
}

func TestFilter(t *testing.T) {
	tb := New(Config{})
	tb.See(pc, 0)
	tb.See(tv, 0)
	if got := tb.SetFilter(Deny, [][6]byte{tv}); len(got) != 1 || got[0] != tv {
		t.Errorf("deny tv: newly blocked %x", got)
	}
	if !tb.See(pc, time.Second) || tb.See(tv, time.Second) || tb.See(tv, time.Second) {
		t.Error("deny list: pc must pass, tv not")
	}
	if tb.Dropped() != 2 {
		t.Errorf("dropped %d", tb.Dropped())
	}
	// A device first seen while the filter is on is judged at once.
	var blockedNew bool
	tb.onNew = func(_ [6]byte, b bool) { blockedNew = b }
	if got := tb.SetFilter(Allow, [][6]byte{pc}); len(got) != 0 {
		t.Errorf("allow pc: newly blocked %x (tv was already)", got)
	}
	if tb.See(toy, 2*time.Second) || !blockedNew || !tb.See(pc, 2*time.Second) || tb.See(tv, 2*time.Second) {
		t.Error("allow list: only pc passes")
	}
	tb.SetFilter(Off, nil)
	for _, m := range [][6]byte{pc, tv, toy} {
		if !tb.See(m, 3*time.Second) || tb.Blocks(m) {
			t.Errorf("%x blocked with the filter off", m)
		}
	}
	for _, d := range tb.Devices() {
		if d.Blocked {
			t.Errorf("%+v still marked blocked", d)
		}
	}
}

// An attacker sending from ever new made-up addresses: the table stays at
// its size, a device that sends more often than the table turns over
// stays, and the filter still holds (also for devices pushed out).
func TestFloodOfMadeUpAddresses(t *testing.T) {
	tb := New(Config{Max: 64})
	tb.SetFilter(Deny, [][6]byte{tv})
	for i := 0; i < 100000; i++ {
		now := time.Duration(i) * time.Millisecond
		if i%50 == 0 {
			tb.See(pc, now)
			if tb.See(tv, now) {
				t.Fatal("tv passed during the flood")
			}
		}
		tb.See([6]byte{0x02, 0xee, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}, now)
	}
	d := tb.Devices()
	if len(d) != 64 || len(tb.by) != 64 {
		t.Fatalf("%d devices kept, want 64", len(d))
	}
	found := false
	for _, x := range d {
		found = found || x.MAC == pc
	}
	if !found {
		t.Error("a device seen every 50 frames was pushed out of a table of 64 by the flood")
	}
}

func TestLocallyAdministered(t *testing.T) {
	if !LocallyAdministered([6]byte{0x06, 1, 2, 3, 4, 5}) || LocallyAdministered([6]byte{0xb8, 0x27, 0xeb, 1, 2, 3}) {
		t.Error("U/L bit")
	}
}

func TestSeeAllocatesNothingForKnownDevices(t *testing.T) {
	tb := New(Config{})
	tb.See(pc, 0)
	tb.See(tv, 0)
	var now time.Duration
	if n := testing.AllocsPerRun(1000, func() {
		now += 10 * time.Millisecond
		tb.See(pc, now)
		tb.See(tv, now)
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

// BenchmarkSee: a burst from one device, and devices taking turns.
func BenchmarkSee(b *testing.B) {
	tb := New(Config{})
	macs := make([][6]byte, 256)
	for i := range macs {
		macs[i] = [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}
		tb.See(macs[i], 0)
	}
	tb.SetFilter(Deny, [][6]byte{{2, 9, 9, 9, 9, 9}})
	b.Run("burst", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			tb.See(macs[0], time.Duration(i))
		}
	})
	b.Run("interleaved-256", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			tb.See(macs[i&255], time.Duration(i))
		}
	})
}
