package dnsfwd

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/passgate/passgate/internal/sysdeps"
)

// signedZone is a small DNSSEC-signed zone served by a test
// authoritative server: www has a good signature, bad a broken one.
type signedZone struct {
	key     *dns.DNSKEY
	records map[string][]dns.RR // "name/type": the RRset and its RRSIG
}

func newSignedZone(t *testing.T) *signedZone {
	t.Helper()
	const zone = "signed.test."
	key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := key.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	z := &signedZone{key: key, records: map[string][]dns.RR{}}
	now := time.Now()
	add := func(broken bool, rrs ...dns.RR) {
		h := rrs[0].Header()
		sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
			TypeCovered: h.Rrtype, Algorithm: key.Algorithm, Labels: uint8(dns.CountLabel(h.Name)), OrigTtl: h.Ttl,
			Expiration: uint32(now.Add(24 * time.Hour).Unix()), Inception: uint32(now.Add(-time.Hour).Unix()),
			KeyTag: key.KeyTag(), SignerName: zone}
		if err := sig.Sign(priv.(crypto.Signer), rrs); err != nil {
			t.Fatal(err)
		}
		if broken {
			b, _ := base64.StdEncoding.DecodeString(sig.Signature)
			b[10] ^= 0xff
			sig.Signature = base64.StdEncoding.EncodeToString(b)
		}
		z.records[h.Name+"/"+dns.TypeToString[h.Rrtype]] = append(append([]dns.RR(nil), rrs...), sig)
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	add(false, key)
	add(false, rr(zone+" 300 IN SOA ns."+zone+" hostmaster."+zone+" 1 3600 600 86400 300"))
	add(false, rr(zone+" 300 IN NS ns."+zone))
	add(false, rr("www."+zone+" 300 IN A 192.0.2.80"))
	add(true, rr("bad."+zone+" 300 IN A 192.0.2.66"))
	return z
}

// serve answers for the zone on a free 127.0.0.1 UDP port.
func (z *signedZone) serve(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		do := q.IsEdns0() != nil && q.IsEdns0().Do()
		for _, r := range z.records[strings.ToLower(q.Question[0].Name)+"/"+dns.TypeToString[q.Question[0].Qtype]] {
			if r.Header().Rrtype != dns.TypeRRSIG || do {
				m.Answer = append(m.Answer, r)
			}
		}
		if len(m.Answer) == 0 {
			m.Rcode = dns.RcodeRefused // only what the test asks for exists
		}
		if q.IsEdns0() != nil {
			m.SetEdns0(1232, do)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// startUnbound runs unbound as a validating resolver with the zone's key
// as its trust anchor and the test server as the zone's address.
func startUnbound(t *testing.T, z *signedZone, auth netip.AddrPort) netip.AddrPort {
	t.Helper()
	return startUnboundWith(t, z, auth, "")
}

// startUnboundWith is startUnbound with more server: lines (each
// indented by two spaces, ending in a newline).
func startUnboundWith(t *testing.T, z *signedZone, auth netip.AddrPort, extra string) netip.AddrPort {
	t.Helper()
	if err := sysdeps.Require(sysdeps.Unbound); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freeUDPPort(t)
	anchor := strings.Join(strings.Fields(z.key.String()), " ")
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  do-daemonize: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  verbosity: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  qname-minimisation: no
  module-config: "validator iterator"
  trust-anchor: %q
  local-zone: "test." nodefault
%sstub-zone:
  name: "signed.test."
  stub-addr: %s@%d
`, port, dir, anchor, strings.ReplaceAll(extra, "DIR", dir), auth.Addr(), auth.Port())
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unbound", "-d", "-c", path)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("unbound:\n%s", out)
		}
	})
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	for range 50 {
		if c, err := net.Dial("tcp", ap.String()); err == nil {
			c.Close()
			return ap
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("unbound did not start:\n%s", out)
	return ap
}

// TestDNSSECThroughValidatingUpstream: unbound validates a signed zone;
// dig through the forwarder gets AD and the signatures with +dnssec,
// no signatures without, SERVFAIL for a broken signature and, with CD
// (checking disabled), the unvalidated answer.
func TestDNSSECThroughValidatingUpstream(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Dig); err != nil {
		t.Fatal(err)
	}
	z := newSignedZone(t)
	resolver := startUnbound(t, z, z.serve(t))
	f, err := New(Config{Upstreams: []netip.AddrPort{resolver}, Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, []net.PacketConn{pc}, nil) }()
	defer func() { cancel(); <-done }()
	port := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	dig := func(args ...string) string {
		t.Helper()
		out, _ := exec.Command("dig", append([]string{"@127.0.0.1", "-p", port, "+time=5", "+tries=1"}, args...)...).CombinedOutput()
		return string(out)
	}
	for range 2 { // from the resolver, then from the cache
		out := dig("+dnssec", "www.signed.test", "A")
		if !strings.Contains(out, "192.0.2.80") || !strings.Contains(out, "RRSIG") ||
			!strings.Contains(out, " ad") || !strings.Contains(out, "status: NOERROR") {
			t.Fatalf("+dnssec: want the answer, its RRSIG and AD:\n%s", out)
		}
	}
	if out := dig("www.signed.test", "A"); !strings.Contains(out, "192.0.2.80") || strings.Contains(out, "RRSIG") {
		t.Errorf("without DO: want the answer without RRSIG:\n%s", out)
	}
	if out := dig("+noadflag", "www.signed.test", "A"); strings.Contains(out, " ad") {
		t.Errorf("a client that asked neither DO nor AD got AD:\n%s", out)
	}
	// The resolver's own SERVFAIL reaches the client, not one of ours
	// blaming the network (EDE 23).
	if out := dig("+dnssec", "bad.signed.test", "A"); !strings.Contains(out, "status: SERVFAIL") || strings.Contains(out, "EDE: 23") {
		t.Errorf("broken signature: want the resolver's SERVFAIL:\n%s", out)
	}
	if out := dig("+dnssec", "+cd", "bad.signed.test", "A"); !strings.Contains(out, "192.0.2.66") || strings.Contains(out, " ad") {
		t.Errorf("broken signature with CD: want the unvalidated answer, no AD:\n%s", out)
	}
}
