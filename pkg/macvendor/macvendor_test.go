package macvendor

import (
	"net"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, c := range []struct{ mac, want string }{
		{"b8:27:eb:12:34:56", "Raspberry Pi"}, // Raspberry Pi Foundation
		{"dc:a6:32:00:00:01", "Raspberry Pi"}, // Raspberry Pi Trading
		{"00:03:93:aa:bb:cc", "Apple"},
		{"00:00:0c:01:02:03", "Cisco"},
		{"00:00:00:00:00:00", ""}, // Xerox: not a maker kept
		{"02:00:00:00:00:01", ""}, // locally administered: made up
		{"aa:bb:cc:dd:ee:ff", ""}, // locally administered (bit 1 of the first byte)
		{"01:00:5e:00:00:01", ""}, // multicast
		{"ff:ff:ff:ff:ff:ff", ""},
	} {
		hw, err := net.ParseMAC(c.mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := Lookup([6]byte(hw)); got != c.want {
			t.Errorf("Lookup(%s) = %q, want %q", c.mac, got, c.want)
		}
	}
}

// The table is sorted (Lookup's binary search depends on it), every
// block appears once, and every maker has at least one block.
func TestTable(t *testing.T) {
	used := make([]bool, len(makerNames))
	for i, b := range blocks {
		if int(b&0xff) >= len(makerNames) {
			t.Fatalf("block %#06x names maker %d of %d", b>>8, b&0xff, len(makerNames))
		}
		used[b&0xff] = true
		if i > 0 && blocks[i-1]>>8 >= b>>8 {
			t.Fatalf("blocks not sorted or repeated at %d: %#06x then %#06x", i, blocks[i-1]>>8, b>>8)
		}
		mac := [6]byte{byte(b >> 24), byte(b >> 16), byte(b >> 8)}
		if mac[0]&3 == 0 && Lookup(mac) != makerNames[b&0xff] {
			t.Fatalf("Lookup of block %#06x = %q, want %q", b>>8, Lookup(mac), makerNames[b&0xff])
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("maker %q has no block", makerNames[i])
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	mac := [6]byte{0xb8, 0x27, 0xeb, 1, 2, 3}
	for b.Loop() {
		if Lookup(mac) == "" {
			b.Fatal("not found")
		}
	}
}
