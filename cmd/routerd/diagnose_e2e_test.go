package main

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEndVPNDiagnose creates, one after another, the conditions the
// VPN troubleshooter names, with real traffic in namespaces, and reads
// "show vpn diagnose" after each: a clean network says nothing is wrong;
// a WAN link with a small MTU and a client sending NAT-T packets that do
// not fit; an IKE server that never answers; a port forward that takes
// UDP 500; and a WAN address in the ISP's shared space (RFC 6598).
func TestEndToEndVPNDiagnose(t *testing.T) {
	// The lab without its DMZ, which is a finding of its own.
	l := newLab(t, strings.Replace(labConfig, "set nat dmz 192.168.1.51\n", "", 1)+"set interfaces wan mtu 1400\n")
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--socket", sock}
	l.startRouter()
	cli := func(cmd string) string {
		out, err := exec.Command(l.bin, "shell", "-socket", sock, "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("routerd shell -c %q: %v\n%s", cmd, err, out)
		}
		return strings.Join(strings.Fields(string(out)), " ")
	}
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.50/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	time.Sleep(300 * time.Millisecond)
	if out := cli("show vpn diagnose"); !strings.Contains(out, "No VPN problem seen") {
		t.Fatalf("a clean network:\n%s", out)
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
	out := cli("show vpn diagnose")
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
