package dnsfwd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/passgate/passgate/internal/sysdeps"
)

// BenchmarkCacheSideBySide answers cached queries from dnsperf, passgate's
// forwarder beside dnsmasq as a caching forwarder, in one run on one
// machine: both ask the same dnsmasq upstream, both caches are warmed with
// the same 1,000 names, then dnsperf asks each, in turns, three times for
// -l seconds (DNSPERF_SECONDS, default 5). Reported: the best queries/s
// of each and their ratio.
func BenchmarkCacheSideBySide(b *testing.B) {
	if err := sysdeps.Require(sysdeps.Dnsmasq, sysdeps.Dnsperf); err != nil {
		b.Fatal(err)
	}
	secs := 5
	if s, err := strconv.Atoi(os.Getenv("DNSPERF_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	upstream := startDnsmasqArgs(b, "--address=/example.test/192.0.2.1")
	f, err := New(Config{Upstreams: []netip.AddrPort{upstream}, Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ClientRate: 1 << 30, ClientBurst: 1 << 30}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	port := freeUDPPort(b)
	pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, []net.PacketConn{pc}, nil) }()
	defer func() { cancel(); <-done }()
	ours := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	theirs := startDnsmasqArgs(b, "--server=127.0.0.1#"+strconv.Itoa(int(upstream.Port())), "--cache-size=10000")

	data := filepath.Join(b.TempDir(), "queries")
	var q strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&q, "www%d.example.test A\n", i)
	}
	if err := os.WriteFile(data, []byte(q.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		servers := []netip.AddrPort{ours, theirs}
		for _, s := range servers {
			// Warm the cache; cold, dnsmasq drops what exceeds its 150
			// forwarded queries in flight, so twice, unchecked.
			for range 2 {
				exec.Command("dnsperf", "-s", s.Addr().String(), "-p", strconv.Itoa(int(s.Port())), "-d", data, "-n", "1", "-q", "50").Run()
			}
		}
		// Three rounds, the two taking turns, the best of each: a busy
		// moment of the machine then hurts neither alone.
		var qps [2]float64
		for range 3 {
			for i, s := range servers {
				qps[i] = max(qps[i], dnsperf(b, s, data, "-l", strconv.Itoa(secs)))
			}
		}
		b.ReportMetric(qps[0], "passgate-qps")
		b.ReportMetric(qps[1], "dnsmasq-qps")
		b.ReportMetric(qps[0]/qps[1], "ratio")
	}
}

var qpsLine = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)

func dnsperf(b *testing.B, server netip.AddrPort, data string, args ...string) float64 {
	b.Helper()
	cmd := exec.Command("dnsperf", append([]string{"-s", server.Addr().String(), "-p", strconv.Itoa(int(server.Port())),
		"-d", data, "-c", "4", "-q", "200"}, args...)...)
	out, err := cmd.CombinedOutput()
	m := qpsLine.FindSubmatch(out)
	c := completed.FindSubmatch(out)
	if err != nil || m == nil || c == nil {
		b.Fatalf("dnsperf %v: %v\n%s", cmd.Args, err, out)
	}
	// A UDP server under full load may lose a few queries (its socket
	// buffer overflows); more than 0.1 % is a fault, not load.
	if pct, _ := strconv.ParseFloat(string(c[1]), 64); pct < 99.9 {
		b.Fatalf("dnsperf %v: only %.2f%% of the queries answered\n%s", cmd.Args, pct, out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

var completed = regexp.MustCompile(`Queries completed:\s+\d+ \(([0-9.]+)%\)`)

// TestCacheMemoryPerAnswer fills the cache with 10,000 typical answers (one
// A record) and measures the heap they take, for docs/performance.md.
func TestCacheMemoryPerAnswer(t *testing.T) {
	const n = 10000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newCache(64<<20, time.Hour)
	now := time.Now()
	for i := range n {
		q := query(fmt.Sprintf("www%d.example.com", i), dns.TypeA)
		m := new(dns.Msg)
		m.SetReply(q)
		rr, _ := dns.NewRR(fmt.Sprintf("www%d.example.com. 300 IN A 192.0.2.1", i))
		m.Answer = []dns.RR{rr}
		c.put(cacheKey(q.Question[0], q), m, now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	entries, accounted := c.stats()
	if entries != n {
		t.Fatalf("%d entries cached, want %d", entries, n)
	}
	perHeap := float64(after.HeapAlloc-before.HeapAlloc) / n
	perAccounted := float64(accounted) / n
	t.Logf("%.0f bytes of heap per cached answer; the cache counts %.0f against its budget", perHeap, perAccounted)
	// The budget must not undercount what an answer really costs by much,
	// or a 4 MiB budget would hold far more than 4 MiB.
	if perHeap > 1.5*perAccounted {
		t.Errorf("an answer takes %.0f bytes but counts %.0f against the budget", perHeap, perAccounted)
	}
	runtime.KeepAlive(c)
}

// BenchmarkHandleCached is the forwarder's own cost for a cached answer
// (no sockets), as the UDP loop pays it: the query parsed, answered from
// the cache (the fast path after the first hit), in wire form.
func BenchmarkHandleCached(b *testing.B) {
	up := newFake()
	up.add("www.example. 300 IN A 192.0.2.10")
	f, _ := testForwarder(b, up, func(c *Config) { c.ClientRate = 1 << 30; c.ClientBurst = 1 << 30 })
	wire, _ := queryEDNS("www.example", dns.TypeA, false).Pack()
	f.Handle(context.Background(), queryEDNS("www.example", dns.TypeA, false), host1, false) // fill the cache
	out := make([]byte, 0, ednsSize)
	b.ReportAllocs()
	for b.Loop() {
		q := new(dns.Msg)
		if err := q.Unpack(wire); err != nil {
			b.Fatal(err)
		}
		r, raw, p := f.answerNow(q, host1, false, out)
		if p != nil {
			b.Fatal("not cached")
		}
		if raw == nil {
			if _, err := r.PackBuffer(out); err != nil {
				b.Fatal(err)
			}
		}
	}
}
