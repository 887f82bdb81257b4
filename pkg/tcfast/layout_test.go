package tcfast

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestKeyLayout: Key is the map key's layout field for field, and its
// encoding puts addresses and ports in network byte order.
func TestKeyLayout(t *testing.T) {
	if s := unsafe.Sizeof(Key{}); s != KeySize {
		t.Fatalf("sizeof(Key) = %d, want %d", s, KeySize)
	}
	for name, off := range map[string]uintptr{
		"Ifindex": keyIfindex, "Proto": keyProto, "Src": keySrc, "Dst": keyDst, "SrcPort": keySrcPort, "DstPort": keyDstPort,
	} {
		f, _ := reflect.TypeOf(Key{}).FieldByName(name)
		if f.Offset != off {
			t.Errorf("Key.%s at offset %d, the map has it at %d", name, f.Offset, off)
		}
	}
	k, err := NewKey(7, ProtoTCP, netip.MustParseAddrPort("192.168.1.10:40000"), netip.MustParseAddrPort("198.51.100.7:443"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, KeySize)
	binary.NativeEndian.PutUint32(want, 7)
	copy(want[4:], []byte{6, 0, 0, 0, 192, 168, 1, 10, 198, 51, 100, 7, 0x9c, 0x40, 0x01, 0xbb})
	if !bytes.Equal(b, want) {
		t.Fatalf("key encodes as %x, want %x", b, want)
	}
	var back Key
	if err := back.UnmarshalBinary(b); err != nil || back != k {
		t.Fatalf("decoded %v (%v), want %v", back, err, k)
	}
	if got := k.String(); got != "if7 tcp 192.168.1.10:40000->198.51.100.7:443" {
		t.Errorf("String() = %q", got)
	}
	b[5] = 1
	if err := back.UnmarshalBinary(b); err == nil {
		t.Error("a key with non-zero padding decoded")
	}
	if err := back.UnmarshalBinary(b[:KeySize-1]); err == nil {
		t.Error("a short key decoded")
	}
	for _, bad := range []struct {
		ifindex  int
		proto    uint8
		src, dst string
	}{
		{0, ProtoUDP, "10.0.0.1:1", "10.0.0.2:2"},
		{-1, ProtoUDP, "10.0.0.1:1", "10.0.0.2:2"},
		{1, 1, "10.0.0.1:1", "10.0.0.2:2"},
		{1, ProtoUDP, "[fd00::1]:1", "10.0.0.2:2"},
		{1, ProtoUDP, "10.0.0.1:1", "[::ffff:10.0.0.2]:2"},
	} {
		if _, err := NewKey(bad.ifindex, bad.proto, netip.MustParseAddrPort(bad.src), netip.MustParseAddrPort(bad.dst)); err == nil {
			t.Errorf("NewKey(%d, %d, %s, %s) accepted", bad.ifindex, bad.proto, bad.src, bad.dst)
		}
	}
}

// TestValueLayout: an entry and its counters encode to the value layout
// the programs read, and decode back.
func TestValueLayout(t *testing.T) {
	e := Entry{Rewrite: RewriteDestination, Addr: [4]byte{192, 168, 1, 10}, Port: 40000, Egress: 3, MTU: 1492,
		DstMAC: [6]byte{2, 0, 0, 0, 1, 10}, SrcMAC: [6]byte{2, 0, 0, 0, 1, 1}, FromMAC: [6]byte{2, 0, 0, 0, 2, 11}}
	s := Stats{LastSeen: 5 * time.Second, Packets: 9, Bytes: 1 << 40}
	b := encodeValue(e, s)
	want := make([]byte, ValueSize)
	want[0] = 1
	copy(want[2:], []byte{0x9c, 0x40, 192, 168, 1, 10})
	binary.NativeEndian.PutUint32(want[8:], 3)
	binary.NativeEndian.PutUint16(want[12:], 1492)
	copy(want[14:], []byte{2, 0, 0, 0, 1, 10, 2, 0, 0, 0, 1, 1, 2, 0, 0, 0, 2, 11})
	binary.NativeEndian.PutUint64(want[32:], uint64(5*time.Second))
	binary.NativeEndian.PutUint64(want[40:], 9)
	binary.NativeEndian.PutUint64(want[48:], 1<<40)
	if !bytes.Equal(b[:], want) {
		t.Fatalf("value encodes as\n %x, want\n %x", b, want)
	}
	ge, gs, err := decodeValue(b[:])
	if err != nil || ge != e || gs != s {
		t.Fatalf("decoded %+v %+v %v", ge, gs, err)
	}
	if _, _, err := decodeValue(b[1:]); err == nil {
		t.Error("a short value decoded")
	}
	from := [6]byte{2, 0, 0, 0, 1, 10}
	for _, bad := range []struct {
		e    Entry
		want string
	}{
		{Entry{Rewrite: 2, Egress: 1, MTU: 1500, FromMAC: from}, "rewrite"},
		{Entry{Rewrite: RewriteSource, Egress: 0, MTU: 1500, FromMAC: from}, "egress"},
		{Entry{Rewrite: RewriteSource, Egress: 1, MTU: MinMTU - 1, FromMAC: from}, "MTU"},
		{Entry{Rewrite: RewriteSource, Egress: 1, MTU: 1500}, "FromMAC is all zero"},
		{Entry{Rewrite: RewriteSource, Egress: 1, MTU: 1500, FromMAC: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, "group"},
		{Entry{Rewrite: RewriteSource, Egress: 1, MTU: 1500, FromMAC: [6]byte{0x01, 0, 0x5e, 0, 0, 1}}, "group"},
		{Entry{Rewrite: RewriteSource, Egress: 1, MTU: 1500, FromMAC: [6]byte{0x33, 0x33, 0, 0, 0, 1}}, "group"},
	} {
		if err := bad.e.validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("entry %+v: %v, want an error about %q", bad.e, err, bad.want)
		}
	}
	for _, ok := range [][6]byte{{0x02, 0, 0, 0, 0, 1}, {0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c}, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if err := (Entry{Rewrite: RewriteSource, Egress: 1, MTU: 1500, FromMAC: ok}).validate(); err != nil {
			t.Errorf("FromMAC %x refused: %v", ok, err)
		}
	}
	if err := e.validate(); err != nil {
		t.Error(err)
	}
}
