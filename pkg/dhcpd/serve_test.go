package dhcpd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestServeLoopback runs Serve on a real UDP socket on 127.0.0.1 and talks
// to it with DHCP messages. The "LAN" is 127.0.0.0/24; the client listens
// on 127.0.0.1:P (where "broadcasts" go) and on 127.0.0.100:P, the address
// it will be given (where unicasts go), so every RFC 2131 §4.1 reply path
// is seen on the wire. No root needed, nothing leaves loopback.
func TestServeLoopback(t *testing.T) {
	cfg := Config{
		ServerIP:   ip("127.0.0.1"),
		Subnet:     netip.MustParsePrefix("127.0.0.0/24"),
		RangeStart: ip("127.0.0.100"),
		RangeEnd:   ip("127.0.0.110"),
		LeaseTime:  time.Hour,
		Router:     ip("127.0.0.1"),
		DNS:        []netip.Addr{ip("127.0.0.1")},
	}
	s, err := New(cfg, Options{LeaseFile: filepath.Join(t.TempDir(), "leases.json")})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	uni, err := net.ListenPacket("udp4", "127.0.0.100:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uni.Close()
	port := uni.LocalAddr().(*net.UDPAddr).Port
	bc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()

	var mu sync.Mutex
	var neighbours []string
	neighbourFails := false
	opts := ServeOptions{
		ClientPort: port,
		Broadcast:  ip("127.0.0.1"),
		Neighbor: func(a netip.Addr, hw net.HardwareAddr) error {
			mu.Lock()
			defer mu.Unlock()
			neighbours = append(neighbours, a.String()+"@"+hw.String())
			if neighbourFails {
				return errors.New("no netlink here")
			}
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, srv, opts) }()

	to := srv.LocalAddr()
	send := func(from net.PacketConn, b []byte) {
		t.Helper()
		if _, err := from.WriteTo(b, to); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(on net.PacketConn, what string) *dhcpv4.DHCPv4 {
		t.Helper()
		buf := make([]byte, 1500)
		on.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := on.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%s: no reply on %v: %v", what, on.LocalAddr(), err)
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			t.Fatalf("%s: reply does not parse: %v", what, err)
		}
		return m
	}
	nothing := func(on net.PacketConn, what string) {
		t.Helper()
		buf := make([]byte, 1500)
		on.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := on.ReadFrom(buf); err == nil {
			t.Fatalf("%s: unexpected %d-byte datagram on %v", what, n, on.LocalAddr())
		}
	}

	c := newClient("02:00:00:00:00:0a")
	// DISCOVER without the broadcast bit: unicast to yiaddr at chaddr,
	// after the neighbour hook has been told.
	send(bc, c.discover().ToBytes())
	off := recv(uni, "DISCOVER")
	if off.MessageType() != offer || yiaddr(off) != ip("127.0.0.100") {
		t.Fatalf("got %s", off.Summary())
	}
	mu.Lock()
	if len(neighbours) != 1 || neighbours[0] != "127.0.0.100@02:00:00:00:00:0a" {
		t.Errorf("neighbour hook calls %q", neighbours)
	}
	mu.Unlock()
	c.offer = off

	// REQUEST with the broadcast bit: broadcast ACK.
	req := c.selecting()
	req.SetBroadcast()
	send(bc, req.ToBytes())
	a := recv(bc, "REQUEST")
	if a.MessageType() != ack || yiaddr(a) != ip("127.0.0.100") || a.IPAddressLeaseTime(0) != time.Hour {
		t.Fatalf("got %s", a.Summary())
	}
	c.ack = a

	// RENEW from the bound address: unicast to ciaddr.
	send(uni, c.renew().ToBytes())
	if r := recv(uni, "RENEW"); r.MessageType() != ack {
		t.Fatalf("got %s", r.Summary())
	}

	// INIT-REBOOT for an address outside the pool: broadcast NAK.
	send(bc, c.initReboot(ip("127.0.0.200")).ToBytes())
	if r := recv(bc, "INIT-REBOOT"); r.MessageType() != nak {
		t.Fatalf("got %s", r.Summary())
	}

	// Junk and oversized datagrams: no reply, counted.
	send(bc, []byte("hello"))
	send(bc, bytes.Repeat([]byte{1}, 3000))
	nothing(bc, "junk")
	nothing(uni, "junk")

	// Without a working neighbour hook the reply falls back to broadcast.
	mu.Lock()
	neighbourFails = true
	mu.Unlock()
	d := newClient("02:00:00:00:00:0d")
	send(bc, d.discover().ToBytes())
	if r := recv(bc, "DISCOVER with failing hook"); r.MessageType() != offer || yiaddr(r) != ip("127.0.0.101") {
		t.Fatalf("got %s", r.Summary())
	}

	got := s.Counters()
	if got.Discovers != 2 || got.Offers != 2 || got.Acks != 2 || got.Naks != 1 || got.Dropped != 2 || got.SendErrors != 0 {
		t.Errorf("counters %+v", got)
	}

	// Serve stops when told, without closing the caller's socket.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop after cancel")
	}
	if _, err := srv.WriteTo([]byte("x"), bc.LocalAddr()); err != nil {
		t.Errorf("Serve closed the caller's socket: %v", err)
	}
}

func TestServeReadError(t *testing.T) {
	s, err := New(testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := s.Serve(context.Background(), conn, ServeOptions{}); err == nil || !strings.Contains(err.Error(), "dhcpd: read") {
		t.Errorf("Serve on a closed socket: %v", err)
	}
}

func TestListenBadInterface(t *testing.T) {
	c, err := Listen("no-such-if0")
	if err == nil {
		c.Close()
		t.Fatal("Listen on a missing interface succeeded")
	}
	if !strings.Contains(err.Error(), "dhcpd: listen on no-such-if0") {
		t.Errorf("error lacks context: %v", err)
	}
}
