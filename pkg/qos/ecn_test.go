package qos

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestMarkCE(t *testing.T) {
	v4 := func(tos byte) []byte {
		ip := make([]byte, 28)
		ect0IPv4(ip)
		ip[1] = tos
		binary.BigEndian.PutUint16(ip[10:], 0)
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
		return ip
	}
	v6 := func(tc byte) []byte {
		ip := make([]byte, 48)
		ip[0] = 0x60 | tc>>4
		ip[1] = tc << 4
		return ip
	}
	for _, c := range []struct {
		name   string
		ip     []byte
		marked bool
		tosOut byte // IPv4 TOS or IPv6 traffic class after
	}{
		{"IPv4 ECT(0)", v4(0x02), true, 0x03},
		{"IPv4 ECT(1) with DSCP EF", v4(0xb9), true, 0xbb},
		{"IPv4 not ECN-capable", v4(0x00), false, 0x00},
		{"IPv4 DSCP CS1, not ECN-capable", v4(0x20), false, 0x20},
		{"IPv4 already CE", v4(0x03), false, 0x03},
		{"IPv6 ECT(0)", v6(0x02), true, 0x03},
		{"IPv6 ECT(1) DSCP AF41", v6(0x89), true, 0x8b},
		{"IPv6 not ECN-capable", v6(0xb8), false, 0xb8},
		{"IPv6 CE", v6(0x03), false, 0x03},
		{"short IPv4", v4(0x02)[:19], false, 0x02},
		{"short IPv6", v6(0x02)[:39], false, 0x02},
		{"not IP", []byte{0x20, 0x02, 0, 0}, false, 0x02},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := MarkCE(c.ip)
			if got != c.marked {
				t.Fatalf("MarkCE = %v, want %v", got, c.marked)
			}
			var tos byte
			switch c.ip[0] >> 4 {
			case 4:
				tos = c.ip[1]
				if len(c.ip) >= 20 && ipChecksum(c.ip[:20]) != 0 {
					t.Errorf("IPv4 header checksum wrong after marking: % x", c.ip[:20])
				}
			case 6:
				tos = c.ip[0]<<4 | c.ip[1]>>4
			default:
				tos = c.ip[1]
			}
			if tos != c.tosOut {
				t.Errorf("traffic class %#02x after, want %#02x", tos, c.tosOut)
			}
		})
	}
}

// FuzzMarkCE: any bytes; MarkCE touches at most the ECN bits (and an
// IPv4 checksum, which stays right when it was right), marks only
// ECN-capable packets, and never twice.
func FuzzMarkCE(f *testing.F) {
	ip := make([]byte, 20)
	ect0IPv4(ip)
	f.Add(ip)
	f.Add([]byte{0x60, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		v4ok := len(b) >= 20 && b[0]>>4 == 4 && ipChecksum(b[:20]) == 0
		if !MarkCE(b) {
			if !bytes.Equal(in, b) {
				t.Fatalf("not marked, yet changed: % x → % x", in, b)
			}
			return
		}
		if MarkCE(b) {
			t.Fatal("marked twice")
		}
		for i := range b {
			if in[i] != b[i] && i != 1 && !(b[0]>>4 == 4 && (i == 10 || i == 11)) {
				t.Fatalf("byte %d changed: % x → % x", i, in, b)
			}
		}
		if v4ok && ipChecksum(b[:20]) != 0 {
			t.Fatalf("IPv4 checksum broken by marking: % x → % x", in, b)
		}
	})
}
