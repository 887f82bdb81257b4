package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
)

// loopbackServer runs Serve on UDP port 5351 of a 127.53.51.x address
// (libnatpmp sends to gateway:5351 and accepts answers only from the
// gateway's address). Clients on loopback send from 127.0.0.1, so the
// "LAN" is 127.0.0.0/8. It returns the gateway address.
func loopbackServer(t *testing.T, s *Server) netip.Addr {
	t.Helper()
	var conn net.PacketConn
	var gw netip.Addr
	for i := range 250 {
		gw = netip.AddrFrom4([4]byte{127, 53, 51, byte(2 + (time.Now().Nanosecond()/1000+i)%250)})
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, Port)))
		if err == nil {
			conn = c
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("listen on %v port %d: %v", gw, Port, err)
		}
	}
	if conn == nil {
		t.Fatal("no free 127.53.51.x:5351 to listen on")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Serve(ctx, conn, nil); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); conn.Close() })
	return gw
}

func natpmpc(t *testing.T, gw netip.Addr, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sysdeps.Natpmpc.Bin, append([]string{"-g", gw.String()}, args...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("natpmpc %s:\n%s", strings.Join(cmd.Args[1:], " "), out)
	return string(out), err
}

var natpmpcMapped = regexp.MustCompile(`Mapped public port (\d+) protocol (TCP|UDP) to local port (\d+) (?:liftime|lifetime) (\d+)`)

// TestNATPMPCInterop runs Debian's natpmpc (libnatpmp), a real NAT-PMP
// client, against Serve on a loopback socket.
func TestNATPMPCInterop(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Natpmpc); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	changes := 0
	s, err := New(Config{
		LAN:      netip.MustParsePrefix("127.0.0.0/8"),
		Reserved: reservedPorts,
		OnChange: func() { mu.Lock(); changes++; mu.Unlock() },
		Logf:     t.Logf,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gw := loopbackServer(t, s)

	// No external address yet: natpmpc reports the failure.
	if out, err := natpmpc(t, gw); err == nil || strings.Contains(out, "Public IP address : 203") {
		t.Fatalf("natpmpc succeeded without an external address: %v", err)
	}

	s.SetExternal(extAddr, time.Now())
	out, err := natpmpc(t, gw)
	if err != nil || !strings.Contains(out, "Public IP address : 203.0.113.2") {
		t.Fatalf("natpmpc (external address): %v", err)
	}

	mapping := func(args ...string) (ext, internal, life int, proto string) {
		t.Helper()
		out, err := natpmpc(t, gw, append([]string{"-a"}, args...)...)
		m := natpmpcMapped.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("natpmpc -a %v: %v, no mapping in its output", args, err)
		}
		ext, _ = strconv.Atoi(m[1])
		internal, _ = strconv.Atoi(m[3])
		life, _ = strconv.Atoi(m[4])
		return ext, internal, life, m[2]
	}
	client := netip.MustParseAddr("127.0.0.1")

	if ext, in, life, proto := mapping("5000", "5001", "udp", "3600"); ext != 5000 || in != 5001 || life != 3600 || proto != "UDP" {
		t.Fatalf("UDP mapping: external %d internal %d lifetime %d %s", ext, in, life, proto)
	}
	// A huge lifetime is cut to 2 h; a reserved port is refused and
	// another one given.
	ext, in, life, _ := mapping("22", "2222", "tcp", "999999")
	if ext == 22 || ext < 1024 || in != 2222 || life != 7200 {
		t.Fatalf("TCP mapping of 22: external %d internal %d lifetime %d", ext, in, life)
	}
	want := []Mapping{
		{Proto: TCP, External: netip.AddrPortFrom(extAddr, uint16(ext)), Internal: netip.AddrPortFrom(client, 2222), Origin: OriginNATPMP},
		{Proto: UDP, External: netip.AddrPortFrom(extAddr, 5000), Internal: netip.AddrPortFrom(client, 5001), Origin: OriginNATPMP},
	}
	if err := sameMappings(s.Mappings(), want); err != nil {
		t.Fatal(err)
	}
	// The same request again: the same external port.
	if ext2, _, _, _ := mapping("5000", "5001", "udp", "3600"); ext2 != 5000 {
		t.Fatalf("renewal moved to %d", ext2)
	}
	// Lifetime 0 deletes (RFC 6886 §3.4: answered with port 0).
	if ext, in, life, _ := mapping("5000", "5001", "udp", "0"); ext != 0 || in != 5001 || life != 0 {
		t.Fatalf("delete answered external %d internal %d lifetime %d", ext, in, life)
	}
	if err := sameMappings(s.Mappings(), want[:1]); err != nil {
		t.Fatalf("after delete: %v", err)
	}
	// Private port 0, lifetime 0: all of the host's mappings of the protocol.
	if ext, in, life, _ := mapping("0", "0", "tcp", "0"); ext != 0 || in != 0 || life != 0 {
		t.Fatalf("delete all answered external %d internal %d lifetime %d", ext, in, life)
	}
	if got := s.Mappings(); len(got) != 0 {
		t.Fatalf("after delete all: %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if changes < 4 {
		t.Errorf("OnChange called %d times", changes)
	}
}

func sameMappings(got, want []Mapping) error {
	if len(got) != len(want) {
		return fmt.Errorf("mappings %v, want %v", got, want)
	}
	for i := range got {
		g := got[i]
		g.Expiry = time.Time{}
		if g != want[i] {
			return fmt.Errorf("mapping %d: %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// TestServePCPOverUDP sends hand-built PCP requests to Serve over a
// loopback socket (no PCP client is packaged in Debian bookworm): the
// answer comes back to the sender from the server's address.
func TestServePCPOverUDP(t *testing.T) {
	s, err := New(Config{LAN: netip.MustParsePrefix("127.0.0.0/8"), Reserved: reservedPorts}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.SetExternal(extAddr, time.Now())
	gw := loopbackServer(t, s)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	self := c.LocalAddr().(*net.UDPAddr).AddrPort()
	ask := func(b []byte) PCPResponse {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2000)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		r, err := ParsePCPResponse(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	q := tcpReq(8080, 8080)
	if r := ask(q.bytes(self)); r.Result != PCPSuccess || r.Map == nil || r.Map.ExternalPort != 8080 || r.Map.ExternalAddr != extAddr {
		t.Fatalf("MAP: %+v", r)
	}
	q.client = netip.MustParseAddr("127.0.0.2")
	if r := ask(q.bytes(self)); r.Result != PCPAddressMismatch {
		t.Fatalf("spoofed client: %v", r.Result)
	}
	// Oversized: read whole (the loop's buffer sees past 1100 bytes) and
	// answered MALFORMED_REQUEST with at most 1100 bytes.
	big := append(tcpReq(8081, 0).bytes(self), make([]byte, 1200)...)
	if r := ask(big); r.Result != PCPMalformedRequest || len(r.Body) > PCPMaxSize-PCPHeaderSize {
		t.Fatalf("oversized: %v, %d bytes", r.Result, len(r.Body))
	}
	if got := s.Mappings(); len(got) != 1 || got[0].Internal != netip.AddrPortFrom(self.Addr(), 8080) {
		t.Fatalf("mappings %v", got)
	}
}
