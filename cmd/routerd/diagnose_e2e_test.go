package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
)

// TestEndToEndVPNDiagnose creates, one after another, the conditions the
// VPN troubleshooter names, with real traffic in namespaces, and reads
// "show vpn diagnose" after each: a clean network says nothing is wrong;
// a WAN link with a small MTU and a client sending NAT-T packets that do
// not fit; an IKE server that never answers; a PPTP server whose firewall
// drops GRE (the call is set up over TCP 1723, the GRE gets nothing back);
// a port forward that takes UDP 500; and a WAN address in the ISP's shared
// space (RFC 6598). Before those, the trace beyond the gateway (issue #18):
// the ISP's gateway forwards to a second router, isp2, whose address is
// first public (clean), then in the shared space (carrier-grade NAT
// although the WAN address looks public); then the gateway forwards
// nothing, the trace gets no answer and says nothing.
func TestEndToEndVPNDiagnose(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Python3); err != nil {
		t.Fatal(err)
	}
	// The lab without its DMZ, which is a finding of its own.
	l := newLab(t, strings.Replace(labConfig, "set nat dmz 192.168.1.51\n", "", 1)+"set interfaces wan mtu 1400\n")
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--socket", sock}
	l.startRouter()
	cli := func(cmd string) string { return l.cli(sock, cmd) }
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.50/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	time.Sleep(300 * time.Millisecond)

	// The ISP's network beyond its gateway (wan): a second router, isp2.
	// The router's trace towards 9.9.9.9 (held by nobody here) expires at
	// the gateway (hop 1); isp2 has no route further and answers net
	// unreachable (hop 2), which ends the trace.
	l.addHost("isp2", "wan", "eth1")
	isp2 := func(wanSide, isp2Side string) {
		t.Helper()
		l.mustIn("wan", "ip", "addr", "flush", "dev", "eth1")
		l.mustIn("isp2", "ip", "addr", "flush", "dev", "eth0")
		l.mustIn("wan", "ip", "addr", "add", wanSide+"/30", "dev", "eth1")
		l.mustIn("isp2", "ip", "addr", "add", isp2Side+"/30", "dev", "eth0")
		l.mustIn("wan", "ip", "route", "replace", "default", "via", isp2Side)
		l.mustIn("isp2", "ip", "route", "replace", "203.0.113.0/24", "via", wanSide)
	}
	isp2("192.0.2.1", "192.0.2.2")
	for _, ns := range []string{"wan", "isp2"} {
		l.mustIn(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	if out := cli("show vpn diagnose"); !strings.Contains(out, "No VPN problem seen") ||
		!strings.Contains(out, "the routers beyond the gateway that answered a traceroute are not in the ISPs' shared space") {
		t.Fatalf("a clean network, its second hop public:\n%s", out)
	}
	// isp2 in the shared space; a new WAN address makes the router trace
	// anew.
	isp2("100.64.9.1", "100.64.9.2")
	cli("configure; set interfaces wan address 203.0.113.3/24; commit")
	out := cli("show vpn diagnose")
	for _, w := range []string{"carrier-grade NAT beyond the gateway: the ISP very likely translates this router's traffic again",
		"hop 2 (hop 1 is the gateway) answered from 100.64.9.2, in 100.64.0.0/10",
		"all hops towards 9.9.9.9: hop 1 203.0.113.1, hop 2 100.64.9.2 do:",
		"Ask the ISP for a public IPv4 address, or use the VPN over IPv6"} {
		if !strings.Contains(out, w) {
			t.Errorf("a router in 100.64.0.0/10 beyond the gateway: the troubleshooter lacks %q:\n%s", w, out)
		}
	}
	if !regexp.MustCompile(`a traceroute from the router at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: hop 2`).MatchString(out) {
		t.Errorf("the finding does not say when the trace was made:\n%s", out)
	}
	// The gateway forwards nothing again, as in the rest of this test: the
	// trace (anew for the lab's WAN address) gets no answer and says
	// nothing.
	l.mustIn("wan", "sysctl", "-qw", "net.ipv4.ip_forward=0")
	cli("configure; set interfaces wan address 203.0.113.2/24; commit")
	if out := cli("show vpn diagnose"); !strings.Contains(out, "No VPN problem seen") || strings.Contains(out, "traceroute") {
		t.Fatalf("a clean network whose trace gets no answer:\n%s", out)
	}
	// A client's NAT-T packets, 1478 bytes with Don't Fragment, over a
	// WAN link of MTU 1400.
	send := func(port int, dst string, n, size int, df bool) {
		t.Helper()
		script := `
import socket, sys
port, dst, n, size, df = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if df:
    s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
s.bind(("", port))
for i in range(n):
    try:
        s.sendto(b"x" * size, (dst, port))
    except OSError:
        pass
`
		if out, err := l.in("lan1", "python3", "-c", script, strconv.Itoa(port), dst, strconv.Itoa(n), strconv.Itoa(size), map[bool]string{true: "1", false: "0"}[df]); err != nil {
			t.Fatalf("sending UDP %d: %v\n%s", port, err, out)
		}
	}
	send(4500, "198.51.100.10", 3, 1450, true)
	out = cli("show vpn diagnose")
	for _, w := range []string{"ESP in UDP 4500 (NAT-T) packets from 192.168.1.50 to 198.51.100.10 are too big for the WAN link (MTU 1400)",
		"with Don't Fragment set; the router answered Fragmentation Needed", "set the VPN client's MTU to 1310"} {
		if !strings.Contains(out, w) {
			t.Errorf("a tunnel too big for the WAN: the troubleshooter lacks %q:\n%s", w, out)
		}
	}

	// An IKE server that never answers (nothing at that address).
	send(500, "198.51.100.99", 6, 200, false)
	time.Sleep(11 * time.Second)
	send(500, "198.51.100.99", 1, 200, false)
	out = cli("show vpn diagnose")
	if !strings.Contains(out, "no IKE (UDP 500) has come back from 198.51.100.99 to 192.168.1.50") ||
		!strings.Contains(out, "the VPN server does not answer IKE") {
		t.Errorf("a silent IKE server:\n%s", out)
	}

	// A PPTP server whose firewall drops GRE: the control connection
	// works (call set up), the GRE the client sends gets nothing back.
	l.mustIn("wan", "nft", "add table ip pg; add chain ip pg in { type filter hook input priority 0; policy accept; }; add rule ip pg in ip protocol gre drop")
	l.listenTCP("wan", 1723, "python3", "-c", pptpServer, "198.51.100.11")
	client := l.start("lan1", "python3", "-c", pptpClient, "198.51.100.11", "14")
	defer client.Process.Kill()
	time.Sleep(12 * time.Second)
	out = cli("show vpn diagnose")
	if !strings.Contains(out, "no GRE (IP protocol 47) has come back from 198.51.100.11 to 192.168.1.50") ||
		!strings.Contains(out, "the VPN server's firewall or the ISP drops GRE") {
		t.Errorf("a server that drops GRE:\n%s\n%s", out, cli("show passthrough"))
	}

	// A port forward that takes UDP 500 from the LAN's VPN clients.
	cli("configure; set nat port-forward nas-vpn protocol udp port 500 to 192.168.1.60; commit")
	if out := cli("show vpn diagnose"); !strings.Contains(out, `port forward "nas-vpn" takes IKE (UDP 500) for 192.168.1.60`) {
		t.Errorf("a forward of UDP 500:\n%s", out)
	}

	// The ISP hands out an address from the shared space: carrier-grade NAT.
	l.mustIn("wan", "ip", "addr", "add", "100.64.7.1/24", "dev", "eth0")
	cli("configure; set interfaces wan address 100.64.7.2/24; set interfaces wan gateway 100.64.7.1; commit")
	if out := cli("show vpn diagnose"); !strings.Contains(out, "carrier-grade NAT: the ISP translates this router's traffic again") {
		t.Errorf("a WAN address in 100.64.0.0/10:\n%s", out)
	}
}

// pptpServer answers a PPTP control connection (RFC 2637): the
// Start-Control-Connection and one Outgoing-Call, accepted.
const pptpServer = `
import socket, struct, sys
def msg(t, body, n):
    return struct.pack("!HHIHH", n, 1, 0x1a2b3c4d, t, 0) + body + bytes(n - 12 - len(body))
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 1723)); l.listen(1)
c, _ = l.accept()
c.recv(156); c.sendall(msg(2, struct.pack("!BB", 1, 1), 156))
r = c.recv(168); pns = struct.unpack("!H", r[12:14])[0]
c.sendall(msg(8, struct.pack("!HHB", 0x5678, pns, 1), 32))
c.recv(1)
`

// pptpClient opens a PPTP call to a server, sends GRE on it (enhanced GRE
// with the server's call ID) and keeps the call up for argv[2] seconds.
const pptpClient = `
import socket, struct, sys, time
def msg(t, body, n):
    return struct.pack("!HHIHH", n, 1, 0x1a2b3c4d, t, 0) + body + bytes(n - 12 - len(body))
srv = sys.argv[1]
s = socket.create_connection((srv, 1723))
s.sendall(msg(1, struct.pack("!H", 0x0100), 156)); s.recv(156)
s.sendall(msg(7, struct.pack("!HH", 0x1234, 1), 168))
pac = struct.unpack("!H", s.recv(32)[12:14])[0]
g = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
for i in range(8):
    g.sendto(struct.pack("!HHHHI", 0x3001, 0x880b, 4, pac, i) + b"ppp!", (srv, 0))
    time.sleep(0.2)
time.sleep(float(sys.argv[2]))
`
