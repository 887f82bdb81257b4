package diag

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// quoted builds what an ICMP error quotes: an IPv4 header (with options
// when optLen > 0) and the first 8 bytes of an ICMP message.
func quoted(t *testing.T, typ uint8, id, seq uint16, optLen int) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolICMPv4,
		SrcIP: net.IPv4(192, 168, 1, 1), DstIP: net.IPv4(203, 0, 113, 1)}
	if optLen > 0 {
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}[:optLen]
	}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, ic); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEchoOf(t *testing.T) {
	udp := quoted(t, 8, 7, 3, 0)
	udp[9] = 17
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"our echo", quoted(t, 8, 7, 3, 0), true},
		{"our echo behind IP options", quoted(t, 8, 7, 3, 4), true},
		{"another id", quoted(t, 8, 8, 3, 0), false},
		{"another hop's seq", quoted(t, 8, 7, 4, 0), false},
		{"an echo reply", quoted(t, 0, 7, 3, 0), false},
		{"not ICMP", udp, false},
		{"short quote", quoted(t, 8, 7, 3, 0)[:27], false},
		{"options cut off", quoted(t, 8, 7, 3, 4)[:30], false},
	}
	for _, c := range cases {
		if got := echoOf(c.b, 7, 3); got != c.want {
			t.Errorf("%s: echoOf = %v, want %v", c.name, got, c.want)
		}
	}
}

// quoted6 builds what an ICMPv6 error quotes: an IPv6 header and the
// first 8 bytes of an ICMPv6 message.
func quoted6(t *testing.T, typ uint8, id, seq uint16) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.ParseIP("2600:100::10"), DstIP: net.ParseIP("2600:9::10")}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	echo := &layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, ic, echo); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEchoOf6(t *testing.T) {
	udp := quoted6(t, 128, 7, 3)
	udp[6] = 17
	v4 := quoted(t, 8, 7, 3, 0)
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"our echo", quoted6(t, 128, 7, 3), true},
		{"another id", quoted6(t, 128, 8, 3), false},
		{"another hop's seq", quoted6(t, 128, 7, 4), false},
		{"an echo reply", quoted6(t, 129, 7, 3), false},
		{"not ICMPv6", udp, false},
		{"an IPv4 quote", append(v4, make([]byte, 40)...), false},
		{"short quote", quoted6(t, 128, 7, 3)[:47], false},
	}
	for _, c := range cases {
		if got := echoOf6(c.b, 7, 3); got != c.want {
			t.Errorf("%s: echoOf6 = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	for in, want := range map[string]string{"192.0.2.7": "192.0.2.7", "2600:9::10": "2600:9::10", "::ffff:192.0.2.7": "192.0.2.7", "localhost": "127.0.0.1"} {
		if a, err := resolve(ctx, in); err != nil || a.String() != want {
			t.Errorf("resolve(%s) = %v, %v; want %s", in, a, err, want)
		}
	}
	for h, want := range map[string]string{
		"no-such-host.invalid": "give an IPv4 or IPv6 address",
		"fe80::1%eth0":         "without a zone",
		"ff02::1":              "not a unicast address",
		"::":                   "not a unicast address",
	} {
		if a, err := resolve(ctx, h); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resolve(%q) = %v, %v; want an error saying %q", h, a, err, want)
		}
	}
}

func needRaw(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("ping and traceroute use raw ICMP sockets: run the tests as root (make test does)")
	}
}

func TestPingLoopback(t *testing.T) {
	needRaw(t)
	var out strings.Builder
	if err := Ping(context.Background(), "127.0.0.1", 1, -1, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "PING 127.0.0.1: 56 data bytes") || !strings.Contains(s, "64 bytes from 127.0.0.1: seq=1") || !strings.Contains(s, "1 sent, 1 received") {
		t.Errorf("ping output:\n%s", s)
	}
}

// TestPingSize: -s sets the data bytes; the reply carries them back (an
// ICMP header of 8 bytes more), beyond one MTU too.
func TestPingSize(t *testing.T) {
	needRaw(t)
	for _, size := range []int{0, 1000, 4000} {
		var out strings.Builder
		if err := Ping(context.Background(), "127.0.0.1", 2, size, &out); err != nil {
			t.Fatal(err)
		}
		if s := out.String(); !strings.Contains(s, fmt.Sprintf("%d bytes from 127.0.0.1: seq=2", size+8)) || !strings.Contains(s, "2 sent, 2 received") {
			t.Errorf("ping -s %d output:\n%s", size, s)
		}
	}
	if err := Ping(context.Background(), "127.0.0.1", 1, 65508, io.Discard); err == nil || !strings.Contains(err.Error(), "65507") {
		t.Errorf("ping -s 65508: %v, want an error naming the limit", err)
	}
}

func TestPingLoopback6(t *testing.T) {
	needRaw(t)
	var out strings.Builder
	if err := Ping(context.Background(), "::1", 2, 100, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "PING ::1: 100 data bytes") || !strings.Contains(s, "108 bytes from ::1: seq=2") || !strings.Contains(s, "2 sent, 2 received") {
		t.Errorf("ping ::1 output:\n%s", s)
	}
	if err := Ping(context.Background(), "::1", 1, 65528, io.Discard); err == nil || !strings.Contains(err.Error(), "65527") {
		t.Errorf("ping -s 65528 to ::1: %v, want an error naming the limit", err)
	}
}

func TestTracerouteLoopback6(t *testing.T) {
	needRaw(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	if err := Traceroute(ctx, "::1", &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], " 1  ::1  ") {
		t.Errorf("traceroute output:\n%s\nwant the header and one hop, ::1", out.String())
	}
}

func TestTracerouteLoopback(t *testing.T) {
	needRaw(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	if err := Traceroute(ctx, "127.0.0.1", &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], " 1  127.0.0.1  ") {
		t.Errorf("traceroute output:\n%s\nwant the header and one hop, 127.0.0.1", out.String())
	}
}
