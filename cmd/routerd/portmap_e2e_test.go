package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/netnstest"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/portmap"
)

const portMapConfig = `
set system hostname lab
set interfaces lan device eth0
set interfaces lan address 192.168.1.1/24
set interfaces wan device eth1
set interfaces wan mode static
set interfaces wan address 203.0.113.2/24
set interfaces wan gateway 203.0.113.1
set nat port-forward web protocol tcp port 8080 to 192.168.1.11 port 80
set service port-mapping enable
`

var natpmpcMapped = regexp.MustCompile(`Mapped public port (\d+) protocol (TCP|UDP) to local port (\d+) (?:liftime|lifetime) (\d+)`)

// TestEndToEndPortMapping: a LAN host opens a port on the WAN address for
// itself with Debian's natpmpc (libnatpmp), a WAN host connects through
// it, the configured forward's port is never handed out, the mapping
// shows in show nat mappings and goes when deleted; nothing answers NAT-PMP
// from the WAN.
func TestEndToEndPortMapping(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Natpmpc, sysdeps.Upnpc); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, portMapConfig)
	l.routerArgs = []string{"--socket", filepath.Join(l.dir, "shell.sock")}
	l.startRouter()
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	l.listenTCP("lan1", 9000, "socat", "TCP-LISTEN:9000,fork,reuseaddr", "SYSTEM:echo hello from lan1")
	wait := 20 * time.Second
	natpmpc := func(ns string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns(ns), "natpmpc"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	shell := func(cmd string) string {
		t.Helper()
		out, err := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("routerd shell -c %q: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	fromWAN := func(port string, addr ...string) string {
		to := "203.0.113.2"
		if len(addr) > 0 {
			to = addr[0]
		}
		out, _ := l.in("wan", "socat", "-T", "3", "-", "TCP:"+to+":"+port+",connect-timeout=3")
		return out
	}

	if out, err := natpmpc("lan1", "-g", "192.168.1.1"); err != nil || !strings.Contains(out, "Public IP address : 203.0.113.2") {
		t.Fatalf("natpmpc external address: %v\n%s\nrouter:\n%s", err, out, l.rtrOut.text())
	}
	out, err := natpmpc("lan1", "-g", "192.168.1.1", "-a", "9000", "9000", "tcp", "3600")
	if m := natpmpcMapped.FindStringSubmatch(out); err != nil || m == nil || m[1] != "9000" || m[4] != "3600" {
		t.Fatalf("natpmpc -a 9000 9000 tcp 3600: %v\n%s", err, out)
	}
	if got := fromWAN("9000"); !strings.Contains(got, "hello from lan1") {
		t.Fatalf("a WAN host did not reach lan1 through the mapping: %q\n%s", got, shell("show nat mappings"))
	}
	// The configured forward's port is not handed out: another one is.
	out, err = natpmpc("lan1", "-g", "192.168.1.1", "-a", "9001", "8080", "tcp", "600")
	if m := natpmpcMapped.FindStringSubmatch(out); err != nil || m == nil || m[1] == "8080" {
		t.Fatalf("natpmpc asking for the forwarded port 8080: %v\n%s", err, out)
	}
	sm := shell("show nat mappings")
	for _, want := range []string{`configured\s+web\s+tcp\s+8080\s+192\.168\.1\.11:80`, `nat-pmp\s+-\s+tcp\s+9000\s+192\.168\.1\.10:9000`} {
		if !regexp.MustCompile(want).MatchString(sm) {
			t.Errorf("show nat mappings lacks %q:\n%s", want, sm)
		}
	}
	// UPnP IGD with miniupnpc's upnpc: discovery by SSDP multicast from
	// the LAN finds the router's description. (upnpc then calls an IGD
	// "not connected" because 203.0.113.2 is a documentation address,
	// which it counts as reserved, so the actions name the description
	// URL it found.)
	upnpc := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns("lan1"), "upnpc", "-m", "eth0"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, _ := upnpc("-s"); !strings.Contains(out, "desc: http://192.168.1.1:5000/rootDesc.xml") ||
		!strings.Contains(out, "InternetGatewayDevice") {
		t.Fatalf("SSDP discovery did not find the router:\n%s\nrouter:\n%s", out, l.rtrOut.text())
	}
	igd := func(args ...string) (string, error) {
		return upnpc(append([]string{"-u", "http://192.168.1.1:5000/rootDesc.xml"}, args...)...)
	}
	l.listenTCP("lan1", 9100, "socat", "TCP-LISTEN:9100,fork,reuseaddr", "SYSTEM:echo upnp to lan1")
	out, err = igd("-e", "game", "-a", "192.168.1.10", "9100", "9100", "TCP")
	if err != nil || !strings.Contains(out, "ExternalIPAddress = 203.0.113.2") || !regexp.MustCompile(`external 203\.0\.113\.2:9100 TCP is redirected to internal 192\.168\.1\.10:9100`).MatchString(out) {
		t.Fatalf("upnpc -a: %v\n%s\nrouter:\n%s", err, out, l.rtrOut.text())
	}
	if got := fromWAN("9100"); !strings.Contains(got, "upnp to lan1") {
		t.Fatalf("a WAN host did not reach lan1 through the UPnP mapping: %q", got)
	}
	if out, _ := igd("-l"); !strings.Contains(out, "9100->192.168.1.10:9100") {
		t.Errorf("upnpc -l does not list the mapping:\n%s", out)
	}
	// Not for another host (UPnP error 606).
	if out, _ := igd("-a", "192.168.1.11", "9200", "9200", "TCP"); !strings.Contains(out, "606") {
		t.Errorf("upnpc mapping for another LAN host:\n%s", out)
	}
	if sm := shell("show nat mappings"); !regexp.MustCompile(`upnp\s+game\s+tcp\s+9100\s+192\.168\.1\.10:9100`).MatchString(sm) {
		t.Errorf("show nat mappings lacks the UPnP mapping:\n%s", sm)
	}
	if out, err := igd("-d", "9100", "TCP"); err != nil {
		t.Errorf("upnpc -d: %v\n%s", err, out)
	}
	if got := fromWAN("9100"); strings.Contains(got, "upnp to lan1") {
		t.Errorf("the deleted UPnP mapping still forwards: %q", got)
	}
	// PCP (RFC 6887) from lan1, a MAP built on the wire format by hand.
	l.listenTCP("lan1", 9400, "socat", "TCP-LISTEN:9400,fork,reuseaddr", "SYSTEM:echo pcp to lan1")
	var pcpResp portmap.PCPResponse
	netnstest.InNS(t, l.ns("lan1"), func() {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(192, 168, 1, 1), Port: portmap.Port})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The client's own address, as an IPv4-mapped IPv6 address.
		self := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().As16()
		req := []byte{2, 1, 0, 0, 0, 0, 0x0e, 0x10} // version 2, MAP, lifetime 3600
		req = append(req, self[:]...)
		req = append(req, []byte("pcp-e2e-nonce")[:12]...)
		req = append(req, 6, 0, 0, 0, 0x24, 0xb8, 0x24, 0xb8) // TCP, internal 9400, suggested 9400
		req = append(req, make([]byte, 16)...)                // no suggested external address
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1100)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no PCP answer: %v", err)
		}
		if pcpResp, err = portmap.ParsePCPResponse(buf[:n]); err != nil {
			t.Fatalf("PCP answer: %v", err)
		}
	})
	if pcpResp.Result != portmap.PCPSuccess || pcpResp.Map == nil || pcpResp.Map.ExternalPort != 9400 ||
		pcpResp.Map.ExternalAddr != netip.MustParseAddr("203.0.113.2") || pcpResp.Lifetime != 3600 {
		t.Fatalf("PCP MAP: %+v %+v", pcpResp, pcpResp.Map)
	}
	if got := fromWAN("9400"); !strings.Contains(got, "pcp to lan1") {
		t.Fatalf("a WAN host did not reach lan1 through the PCP mapping: %q", got)
	}
	// A flood from one host stays within its 16 mappings.
	refused := 0
	for p := 9300; p < 9320; p++ {
		port := strconv.Itoa(p)
		if out, err := natpmpc("lan1", "-g", "192.168.1.1", "-a", port, port, "udp", "600"); err != nil || natpmpcMapped.FindString(out) == "" {
			refused++
		}
	}
	held := strings.Count(shell("show nat mappings"), "192.168.1.10:")
	if held > 16 || refused == 0 {
		t.Errorf("after 20 more requests lan1 holds %d mappings (cap 16), %d refused", held, refused)
	}
	// From the WAN the IGD's HTTP port is closed.
	if out, err := l.in("wan", "curl", "-sS", "--max-time", "3", "http://203.0.113.2:5000/rootDesc.xml"); err == nil {
		t.Errorf("the IGD answered from the WAN: %s", out)
	}

	// Deleted: the port closes.
	if out, err := natpmpc("lan1", "-g", "192.168.1.1", "-a", "9000", "9000", "tcp", "0"); err != nil {
		t.Fatalf("natpmpc delete: %v\n%s", err, out)
	}
	if got := fromWAN("9000"); strings.Contains(got, "hello from lan1") {
		t.Fatalf("the deleted mapping still forwards: %q", got)
	}
	// From the WAN nothing answers NAT-PMP.
	l.mustIn("wan", "ip", "route", "replace", "default", "via", "203.0.113.2")
	wait = 4 * time.Second // natpmpc would retry for a minute
	if out, err := natpmpc("wan", "-g", "203.0.113.2"); err == nil || strings.Contains(out, "Public IP address") {
		t.Errorf("NAT-PMP answered from the WAN: %v\n%s", err, out)
	}
	// A new WAN address is announced to the LAN (RFC 6886 §3.2.1): the
	// all-hosts group, port 5350, from the router's port 5351.
	heard := filepath.Join(l.dir, "announce.bin")
	l.start("lan1", "socat", "-u", "UDP4-RECV:5350", "CREATE:"+heard)
	time.Sleep(300 * time.Millisecond)
	shell("configure; set interfaces wan address 203.0.113.3/24; commit")
	if !waitFor(5*time.Second, func() bool {
		b, _ := os.ReadFile(heard)
		return bytes.Contains(b, []byte{0, 128, 0, 0}) && bytes.Contains(b, []byte{203, 0, 113, 3})
	}) {
		b, _ := os.ReadFile(heard)
		t.Errorf("lan1 heard no NAT-PMP announcement of 203.0.113.3: % x", b)
	}
	// Off by commit: the mappings and their forwards go.
	wait = 20 * time.Second
	l.mustIn("wan", "ip", "route", "replace", "default", "via", "203.0.113.3")
	natpmpc("lan1", "-g", "192.168.1.1", "-a", "9000", "9000", "tcp", "3600")
	if got := fromWAN("9000", "203.0.113.3"); !strings.Contains(got, "hello from lan1") {
		t.Fatalf("mapping again on the new address: %q", got)
	}
	shell("configure; set service port-mapping disable; commit")
	if got := fromWAN("9000", "203.0.113.3"); strings.Contains(got, "hello from lan1") {
		t.Fatalf("port mapping disabled but the mapping still forwards: %q", got)
	}
}
