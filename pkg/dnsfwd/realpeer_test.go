package dnsfwd

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/passgate/passgate/internal/sysdeps"
)

// startDnsmasq runs dnsmasq as the upstream resolver on 127.0.0.1 at a
// free port, authoritative for example.test.
func startDnsmasq(t *testing.T) netip.AddrPort {
	t.Helper()
	return startDnsmasqArgs(t, "--local=/example.test/",
		"--host-record=www.example.test,192.0.2.10,2001:db8::10",
		"--host-record=evil.example.test,192.168.1.1",
		"--txt-record=big.example.test,"+strings.Repeat("x", 250)+","+strings.Repeat("y", 250)+","+strings.Repeat("z", 250))
}

// startDnsmasqArgs runs dnsmasq on 127.0.0.1 at a free port with args.
func startDnsmasqArgs(t testing.TB, args ...string) netip.AddrPort {
	t.Helper()
	if err := sysdeps.Require(sysdeps.Dnsmasq); err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	cmd := exec.Command("dnsmasq", append([]string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--port=" + strconv.Itoa(port), "--pid-file=",
		"--user=root", "--local-ttl=300"}, args...)...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq: %s", out)
		}
	})
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", ap.String()); err == nil {
			c.Close()
			return ap
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("dnsmasq did not start: %s", out)
	return ap
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	for {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			l.Close()
			return p
		}
	}
}

// TestRealPeers: dnsmasq upstream, the forwarder on sockets, dig as the
// LAN client — the whole path with real DNS software on both sides.
func TestRealPeers(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Dig); err != nil {
		t.Fatal(err)
	}
	upstream := startDnsmasq(t)
	f, err := New(Config{Upstreams: []netip.AddrPort{upstream}, Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RebindProtection: true, Hosts: []Host{{Name: "nas", Addrs: []netip.Addr{netip.MustParseAddr("192.168.1.5")}}}},
		Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	port := freeUDPPort(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, []net.PacketConn{pc}, []net.Listener{ln}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	dig := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("dig", append([]string{"@127.0.0.1", "-p", strconv.Itoa(port), "+time=3", "+tries=1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	short := func(args ...string) string { return strings.TrimSpace(dig(append(args, "+short")...)) }

	if got := short("www.example.test", "A"); got != "192.0.2.10" {
		t.Errorf("www A: %q", got)
	}
	if got := short("www.example.test", "AAAA", "+tcp"); got != "2001:db8::10" {
		t.Errorf("www AAAA over TCP: %q", got)
	}
	if got := short("nas.lan", "A"); got != "192.168.1.5" {
		t.Errorf("nas.lan: %q", got)
	}
	if got := short("-x", "192.168.1.5"); got != "nas.lan." {
		t.Errorf("reverse nas: %q", got)
	}
	if out := dig("nobody.example.test", "A"); !strings.Contains(out, "status: NXDOMAIN") {
		t.Errorf("nobody: %s", out)
	}
	if out := dig("evil.example.test", "A"); strings.Contains(out, "192.168.1.1") || !strings.Contains(out, "EDE: 15") {
		t.Errorf("rebinding answer passed: %s", out)
	}
	// 750 bytes of TXT: truncated for a plain UDP client, dig retries over
	// TCP on its own and gets it whole.
	if out := dig("big.example.test", "TXT", "+noedns"); !strings.Contains(out, "Truncated, retrying in TCP mode") ||
		!strings.Contains(out, strings.Repeat("z", 250)) {
		t.Errorf("big TXT: %s", out)
	}
	if c := f.Counters(); c.Forwarded < 4 || c.Local != 2 || c.RebindDropped != 1 {
		t.Errorf("counters %+v", c)
	}
	// Cached: still answered with the upstream gone.
	before := f.Counters().CacheHits
	if got := short("www.example.test", "A"); got != "192.0.2.10" {
		t.Errorf("www again: %q", got)
	}
	if f.Counters().CacheHits != before+1 {
		t.Errorf("second www not from the cache: %+v", f.Counters())
	}
}

// TestServeBothFamilies: the batched UDP loop and the TCP server answer
// over IPv4 and IPv6 sockets (routerd listens on [::]:53 too).
func TestServeBothFamilies(t *testing.T) {
	up := newFake()
	up.add("www.example. 300 IN A 192.0.2.10")
	f, err := New(Config{Upstreams: []netip.AddrPort{up1}, Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
		Options{Exchange: up})
	if err != nil {
		t.Fatal(err)
	}
	var pcs []net.PacketConn
	var lns []net.Listener
	var addrs []string
	for _, a := range []string{"127.0.0.1:0", "[::1]:0"} {
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		pcs, lns, addrs = append(pcs, pc), append(lns, ln), append(addrs, pc.LocalAddr().String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, pcs, lns) }()
	defer func() { cancel(); <-done }()
	for _, a := range addrs {
		for _, proto := range []string{"udp", "tcp"} {
			for range 2 { // forwarded, then from the cache
				c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
				r, _, err := c.Exchange(query("www.example", dns.TypeA), a)
				if err != nil || len(r.Answer) != 1 {
					t.Fatalf("%s %s: %v %v", proto, a, err, r)
				}
			}
		}
	}
}
