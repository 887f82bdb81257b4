package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
)

// TestEndToEndDNSForwarder: the ISP's resolver is dnsmasq on the WAN
// (handed to the router by the ISP's DHCP server); LAN hosts get the
// router as their DNS server and ask it with dig: internet names through
// the cache, their own names under .lan, no private answers for public
// names; nobody on the WAN can use it; a commit turns it off and on.
func TestEndToEndDNSForwarder(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Dig); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, wanDHCPConfig+"set dns host nas address 192.168.1.5\n")
	l.routerArgs = []string{"--socket", filepath.Join(l.dir, "shell.sock")}
	l.mustIn("wan", "ip", "addr", "add", "203.0.113.53/24", "dev", "eth0")
	l.mustIn("wan", "ip", "addr", "add", "203.0.113.54/24", "dev", "eth0")
	leases := filepath.Join(l.dir, "isp.leases")
	l.start("wan", "dnsmasq", "--no-daemon", "--port=0", "--interface=eth0", "--bind-interfaces",
		"--dhcp-authoritative", "--dhcp-range=203.0.113.100,203.0.113.150,255.255.255.0,2m",
		"--dhcp-host="+routerWANMAC+",203.0.113.2", "--dhcp-option=3,203.0.113.1", "--dhcp-option=6,203.0.113.53,203.0.113.54",
		"--dhcp-leasefile="+leases, "--pid-file="+filepath.Join(l.dir, "isp.pid"))
	// The ISP's two resolvers.
	resolver := func(addr string) *exec.Cmd {
		return l.start("wan", "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--port=53",
			"--listen-address="+addr, "--bind-interfaces", "--pid-file="+filepath.Join(l.dir, "isp-dns-"+addr+".pid"),
			// Authoritative for example.test, so negative answers carry
			// the zone's SOA (RFC 2308: only those may be cached).
			"--auth-zone=example.test", "--auth-server=ns.example.test,"+addr, "--auth-ttl=300",
			"--host-record=www.example.test,198.51.100.10", "--host-record=evil.example.test,192.168.1.66",
			"--host-record=mail.example.test,198.51.100.25", "--host-record=ftp.example.test,198.51.100.21")
	}
	first := resolver("203.0.113.53")
	resolver("203.0.113.54")
	l.startRouter()
	if _, ok := l.rtrOut.wait("wan 203.0.113.2/24", 30*time.Second); !ok {
		t.Fatalf("no WAN lease from dnsmasq:\n%s", l.rtrOut.text())
	}
	shell := func(cmd string) string {
		t.Helper()
		out, err := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("routerd shell -c %q: %v\n%s", cmd, err, out)
		}
		return string(out)
	}

	// lan2 takes a lease, with a host name: the router is its DNS server.
	udhcpc := l.script("udhcpc.sh", "case \"$1\" in bound) echo \"$dns\" > \"$0.dns\"; ip addr add \"$ip/$mask\" dev \"$interface\" ;; esac\n")
	l.mustIn("lan2", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-x", "hostname:Kitchen_Tablet", "-s", udhcpc)
	if b, _ := os.ReadFile(udhcpc + ".dns"); strings.TrimSpace(string(b)) != "192.168.1.1" {
		t.Errorf("LAN clients got DNS %q, want the router 192.168.1.1", b)
	}
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	dig := func(host string, args ...string) (string, error) {
		return l.in(host, append([]string{"dig", "+time=3", "+tries=2"}, args...)...)
	}
	short := func(args ...string) string {
		t.Helper()
		out, err := dig("lan1", append([]string{"@192.168.1.1", "+short"}, args...)...)
		if err != nil {
			t.Fatalf("dig %v: %v\n%s\nrouter:\n%s", args, err, out, l.rtrOut.text())
		}
		return strings.TrimSpace(out)
	}
	if got := short("www.example.test"); got != "198.51.100.10" {
		t.Errorf("www.example.test through the router: %q", got)
	}
	if got := short("www.example.test", "+tcp"); got != "198.51.100.10" {
		t.Errorf("www.example.test over TCP: %q", got)
	}
	// From the cache: the TTL counts down.
	ttl := func() int {
		out, _ := dig("lan1", "@192.168.1.1", "+noall", "+answer", "www.example.test")
		f := strings.Fields(out)
		if len(f) < 2 {
			t.Fatalf("no answer: %q", out)
		}
		n, _ := strconv.Atoi(f[1])
		return n
	}
	t1 := ttl()
	time.Sleep(2100 * time.Millisecond)
	if t2 := ttl(); t1 > 300 || t2 > t1-2 {
		t.Errorf("cached TTL %d then %d two seconds later: not counting down", t1, t2)
	}
	if got := short("kitchen-tablet.lan"); !strings.HasPrefix(got, "192.168.1.1") || got == "192.168.1.1" {
		t.Errorf("the DHCP client's name: %q", got)
	}
	if got := short("nas.lan"); got != "192.168.1.5" {
		t.Errorf("nas.lan: %q", got)
	}
	if got := short("lab.lan"); got != "192.168.1.1" {
		t.Errorf("the router's own name: %q", got)
	}
	if got := short("-x", "192.168.1.5"); got != "nas.lan." {
		t.Errorf("reverse of nas: %q", got)
	}
	if out, _ := dig("lan1", "@192.168.1.1", "evil.example.test"); strings.Contains(out, "192.168.1.66") {
		t.Errorf("rebinding answer reached the LAN: %s", out)
	}
	// Not an open resolver: from the WAN, nothing answers.
	if out, err := dig("wan", "@203.0.113.2", "+time=1", "+tries=1", "www.example.test"); err == nil && strings.Contains(out, "198.51.100.10") {
		t.Errorf("the WAN side got an answer: %s", out)
	}
	// Negative answers are cached (RFC 2308): the second NXDOMAIN comes
	// from the cache.
	for range 2 {
		if out, _ := dig("lan1", "@192.168.1.1", "nothere.example.test"); !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "SOA") {
			t.Fatalf("nothere.example.test: want NXDOMAIN with the SOA:\n%s", out)
		}
	}
	if out := shell("show dns cache"); !regexp.MustCompile(`nothere\.example\.test\.\s+A\s+NXDOMAIN`).MatchString(out) {
		t.Errorf("the NXDOMAIN is not cached:\n%s", out)
	}
	// The first resolver dies: answers keep coming from the second.
	first.Process.Kill()
	first.Wait()
	for _, n := range []string{"mail.example.test", "ftp.example.test"} {
		if got := short(n); !strings.HasPrefix(got, "198.51.100.2") {
			t.Errorf("%s with the first resolver down: %q", n, got)
		}
	}
	out := shell("show dns")
	for _, want := range []string{"DNS forwarder on 192.168.1.1", "203.0.113.53:53  down", "203.0.113.54:53  up", "from the WAN", "rebind-dropped"} {
		if !strings.Contains(out, want) {
			t.Errorf("show dns lacks %q:\n%s", want, out)
		}
	}
	if out := shell("show dns cache"); !strings.Contains(out, "www.example.test.") {
		t.Errorf("show dns cache:\n%s", out)
	}
	// Off: the port closes, and the DHCP server hands out the ISP's.
	shell("configure; set dns forwarder disable; commit")
	if out, err := dig("lan1", "@192.168.1.1", "+time=1", "+tries=1", "www.example.test"); err == nil && strings.Contains(out, "198.51.100.10") {
		t.Errorf("forwarder disabled but answering: %s", out)
	}
	l.mustIn("lan2", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-s", udhcpc)
	if b, _ := os.ReadFile(udhcpc + ".dns"); strings.TrimSpace(string(b)) != "203.0.113.53 203.0.113.54" {
		t.Errorf("forwarder off: LAN clients got DNS %q, want the ISP's 203.0.113.53 203.0.113.54", b)
	}
	// On again.
	if out := shell("configure; set dns forwarder enable; commit"); !strings.Contains(out, "dns forwarder started") {
		t.Errorf("commit did not say the forwarder started:\n%s", out)
	}
	if got := short("www.example.test"); got != "198.51.100.10" {
		t.Errorf("after enabling again: %q", got)
	}
}
