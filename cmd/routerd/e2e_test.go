package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const labConfig = `
set system hostname lab
set interfaces lan device eth0
set interfaces lan address 192.168.1.1/24
set interfaces wan device eth1
set interfaces wan mode static
set interfaces wan address 203.0.113.2/24
set interfaces wan gateway 203.0.113.1
set interfaces wan dns 203.0.113.1
set dhcp-server lan range 192.168.1.100 192.168.1.199
set dhcp-server lan lease-time 1h
set dhcp-server lan static lan1 mac 02:00:00:00:01:01 ip 192.168.1.50
set nat port-forward web protocol tcp port 8080 to 192.168.1.50 port 80
set nat dmz 192.168.1.51
set dhcp-server lan static lan2 mac 02:00:00:00:01:02 ip 192.168.1.51
`

// dhclient and udhcpc are run with small scripts that only configure the
// address and default route (not the host's resolv.conf).
const dhclientScript = `
case "$reason" in BOUND|RENEW|REBIND|REBOOT)
  ip addr flush dev "$interface"
  ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
  for r in $new_routers; do ip route replace default via "$r"; break; done
  echo "$new_ip_address" > "$0.addr" ;;
esac
`

const udhcpcScript = `
case "$1" in bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$subnet" dev "$interface"
  for r in $router; do ip route replace default via "$r"; break; done
  echo "$ip" > "$0.addr" ;;
esac
`

func TestEndToEnd(t *testing.T) {
	l := newLab(t, "")
	key := l.sshKey("admin")
	l.sshKey("intruder")
	l.config = labConfig + "set service ssh authorized-key lab \"" + key + "\"\n"
	l.routerArgs = []string{"--socket", filepath.Join(l.dir, "shell.sock")}
	l.startRouter()
	dhclient := l.script("dhclient.sh", dhclientScript)
	udhcpc := l.script("udhcpc.sh", udhcpcScript)

	t.Run("lan leases: ISC dhclient and busybox udhcpc", func(t *testing.T) {
		pidFile := filepath.Join(l.dir, "dhclient.pid")
		l.mustIn("lan1", "dhclient", "-1", "-v", "-pf", pidFile, "-lf", filepath.Join(l.dir, "dhclient.leases"), "-sf", dhclient, "eth0")
		l.adoptPIDFile(pidFile) // dhclient stays as a daemon after its lease
		if a, _ := os.ReadFile(dhclient + ".addr"); strings.TrimSpace(string(a)) != "192.168.1.50" {
			t.Fatalf("dhclient got %q, want the static lease 192.168.1.50", a)
		}
		l.mustIn("lan2", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-s", udhcpc)
		if a, _ := os.ReadFile(udhcpc + ".addr"); strings.TrimSpace(string(a)) != "192.168.1.51" {
			t.Fatalf("udhcpc got %q", a)
		}
	})

	l.listenTCP("wan", 8000, "busybox", "httpd", "-f", "-p", "198.51.100.10:8000", "-h", l.webroot("internet"))
	l.listenTCP("lan1", 80, "busybox", "httpd", "-f", "-p", "80", "-h", l.webroot("lan1-web"))

	t.Run("icmp: ping through the NAT", func(t *testing.T) {
		out := l.mustIn("lan1", "ping", "-c", "3", "-W", "2", "198.51.100.10")
		if !contains(out, " 0% packet loss") {
			t.Fatalf("ping: %s", out)
		}
	})
	t.Run("tcp: curl through the NAT", func(t *testing.T) {
		if out := l.mustIn("lan1", "curl", "-sS", "--max-time", "10", "http://198.51.100.10:8000/index.html"); !contains(out, "hello from internet") {
			t.Fatalf("curl: %s", out)
		}
	})
	t.Run("icmp errors: traceroute shows the router", func(t *testing.T) {
		out := l.mustIn("lan1", "traceroute", "-n", "-q", "1", "-w", "2", "-m", "3", "198.51.100.10")
		if !regexp.MustCompile(`(?m)^\s*1\s+192\.168\.1\.1\s`).MatchString(out) || !contains(out, "198.51.100.10") {
			t.Fatalf("traceroute:\n%s", out)
		}
	})
	t.Run("udp: iperf3 through the NAT", func(t *testing.T) {
		l.listenTCP("wan", 5201, "iperf3", "-s", "-B", "198.51.100.10", "-p", "5201")
		out := l.mustIn("lan1", "iperf3", "-c", "198.51.100.10", "-p", "5201", "-u", "-b", "10M", "-t", "1", "--connect-timeout", "3000")
		if !contains(out, "receiver") {
			t.Fatalf("iperf3 -u: %s", out)
		}
	})
	t.Run("port forward from the WAN", func(t *testing.T) {
		if out := l.mustIn("wan", "curl", "-sS", "--max-time", "10", "http://203.0.113.2:8080/index.html"); !contains(out, "hello from lan1-web") {
			t.Fatalf("curl to the forward: %s", out)
		}
	})
	t.Run("hairpin: lan2 reaches lan1's forward at the public address", func(t *testing.T) {
		if out := l.mustIn("lan2", "curl", "-sS", "--max-time", "10", "http://203.0.113.2:8080/index.html"); !contains(out, "hello from lan1-web") {
			t.Fatalf("hairpin curl: %s", out)
		}
	})
	t.Run("dmz: unclaimed UDP goes to the DMZ host", func(t *testing.T) {
		recv := filepath.Join(l.dir, "dmz.txt")
		l.start("lan2", "socat", "-u", "UDP4-RECVFROM:9999,reuseaddr", "CREATE:"+recv)
		time.Sleep(300 * time.Millisecond)
		l.mustIn("wan", "sh", "-c", "echo knock | socat - UDP4-SENDTO:203.0.113.2:9999")
		deadline := time.Now().Add(5 * time.Second)
		for {
			if b, _ := os.ReadFile(recv); strings.Contains(string(b), "knock") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("DMZ host did not receive the datagram")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("RFC 5780 behaviour with coturn", func(t *testing.T) {
		l.start("wan", "turnserver", "-n", "--stun-only", "--no-cli", "-L", "198.51.100.10", "-L", "198.51.100.11", "--log-file", "stdout", "--no-stdout-log")
		time.Sleep(time.Second)
		out := l.mustIn("lan1", "turnutils_natdiscovery", "-m", "-f", "198.51.100.10")
		t.Logf("turnutils_natdiscovery:\n%s", out)
		if !contains(out, "Endpoint Independent Mapping") {
			t.Errorf("mapping is not reported endpoint-independent")
		}
		if !contains(out, "Address Dependent Filtering") {
			t.Errorf("filtering is not reported address-dependent (the default)")
		}
		// Hairpinning: the client sends to its own mapped address and must
		// receive its request back (RFC 4787 REQ-9).
		out = l.mustIn("lan1", "turnutils_natdiscovery", "-H", "198.51.100.10")
		t.Logf("turnutils_natdiscovery -H:\n%s", out)
		if !contains(out, "Received a request (maybe a successful hairpinning)") {
			t.Errorf("hairpinning not seen by coturn")
		}
	})
	ssh := func(ns, key string, extra ...string) (string, error) {
		args := []string{"ssh", "-i", filepath.Join(l.dir, key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"}
		return l.in(ns, append(args, extra...)...)
	}
	t.Run("shell over SSH with the OpenSSH client", func(t *testing.T) {
		out, err := ssh("lan1", "admin", "admin@192.168.1.1", "show system")
		if err != nil || !contains(out, "lab") {
			t.Fatalf("ssh show system: %v\n%s", err, out)
		}
		if out, err := ssh("lan1", "intruder", "admin@192.168.1.1", "show system"); err == nil {
			t.Fatalf("a key not in the configuration logged in:\n%s", out)
		}
		if out, err := ssh("lan1", "admin", "-o", "PreferredAuthentications=password", "admin@192.168.1.1", "show system"); err == nil {
			t.Fatalf("password login without a configured hash:\n%s", out)
		}
	})
	t.Run("passthrough switches in the shell change what passes", func(t *testing.T) {
		// A UDP 1701 (L2TP) and a TCP 1723 (PPTP control) server on the internet.
		l2tpLog := filepath.Join(l.dir, "l2tp.txt")
		l.start("wan", "socat", "-u", "UDP4-RECVFROM:1701,bind=198.51.100.10,reuseaddr,fork", "OPEN:"+l2tpLog+",creat,append")
		l.listenTCP("wan", 1723, "socat", "TCP4-LISTEN:1723,bind=198.51.100.10,reuseaddr,fork", "EXEC:echo pptp-server")
		time.Sleep(300 * time.Millisecond) // the UDP sink: nothing to poll for
		l2tp := func(word string) bool {
			l.mustIn("lan1", "sh", "-c", "echo "+word+" | socat - UDP4-SENDTO:198.51.100.10:1701,sourceport=1701")
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if b, _ := os.ReadFile(l2tpLog); strings.Contains(string(b), word) {
					return true
				}
			}
			return false
		}
		pptp := func() bool {
			out, err := l.in("lan1", "socat", "-T", "2", "-", "TCP4:198.51.100.10:1723,connect-timeout=2")
			return err == nil && contains(out, "pptp-server")
		}
		shellCmd := func(cmd string) string {
			out, err := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c", cmd).CombinedOutput()
			if err != nil {
				t.Fatalf("routerd shell -c %q: %v\n%s", cmd, err, out)
			}
			return string(out)
		}
		if !l2tp("before") || !pptp() {
			t.Fatal("L2TP or PPTP does not pass with the switches on")
		}
		out := shellCmd("configure; set passthrough l2tp disable; commit")
		if !contains(out, "l2tp passthrough disabled") {
			t.Fatalf("commit said:\n%s", out)
		}
		if l2tp("while-off") {
			t.Fatal("L2TP passed with its switch off")
		}
		if out, err := ssh("lan1", "admin", "admin@192.168.1.1", "configure; set passthrough pptp disable; commit"); err != nil || !contains(out, "pptp passthrough disabled") {
			t.Fatalf("ssh commit: %v\n%s", err, out)
		}
		if pptp() {
			t.Fatal("PPTP control connection passed with its switch off")
		}
		out = shellCmd("show passthrough")
		if !regexp.MustCompile(`(?m)^pptp\s+disabled`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^l2tp\s+disabled\s.*\n.*blocked [1-9]`).MatchString(out) {
			t.Errorf("show passthrough does not show both switches off and L2TP's blocked datagram:\n%s", out)
		}
		shellCmd("configure; set passthrough l2tp enable; set passthrough pptp enable; commit")
		if !l2tp("after") || !pptp() {
			t.Fatal("L2TP or PPTP does not pass after switching back on")
		}
		if b, _ := os.ReadFile(filepath.Join(l.dir, "passgate.conf")); contains(string(b), "disable") {
			t.Fatalf("the saved configuration still has a switch off:\n%s", b)
		}
	})
	t.Run("router tools in the shell: ping, traceroute, capture, show", func(t *testing.T) {
		run := func(cmd string) string {
			out, err := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c", cmd).CombinedOutput()
			if err != nil {
				t.Fatalf("routerd shell -c %q: %v\n%s", cmd, err, out)
			}
			return string(out)
		}
		// From the router's own stack, through its own NAT.
		// A commit that moves the LAN is saved for the next start; the rest
		// of it applies now and the router keeps routing.
		if out := run("configure; set interfaces lan address 10.9.0.1/24; set dhcp-server lan range 10.9.0.100 10.9.0.150; delete dhcp-server lan static; delete nat port-forward; delete nat dmz; set nat timeout udp 400; commit"); !contains(out, `interfaces lan address 10.9.0.1/24 takes effect after a restart ("reboot")`) {
			t.Errorf("commit moving the LAN said:\n%s", out)
		}
		if out := run("show configuration commands"); !contains(out, "set interfaces lan address 10.9.0.1/24") || !contains(out, "set nat timeout udp 400") {
			t.Errorf("committed configuration:\n%s", out)
		}
		if out := l.mustIn("lan1", "curl", "-sS", "--max-time", "10", "http://198.51.100.10:8000/index.html"); !contains(out, "hello from internet") {
			t.Fatalf("routing stopped after a commit that moves the LAN: %s", out)
		}
		run("configure; rollback 1; commit")
		if out := run("show configuration commands"); !contains(out, "set interfaces lan address 192.168.1.1/24") {
			t.Fatalf("rollback did not restore the LAN:\n%s", out)
		}
		if out := run("ping 198.51.100.10 count 2"); !contains(out, "2 received") {
			t.Errorf("ping from the router:\n%s", out)
		}
		if out := run("traceroute 198.51.100.10"); !regexp.MustCompile(`(?m)^\s*1\s+198\.51\.100\.10`).MatchString(out) {
			t.Errorf("traceroute from the router:\n%s", out)
		}
		// A capture of the next ICMP frames on the LAN port.
		done := make(chan string, 1)
		go func() { done <- run("capture lan count 2 filter proto icmp") }()
		time.Sleep(500 * time.Millisecond)
		l.mustIn("lan1", "ping", "-c", "1", "-W", "2", "198.51.100.10")
		var out string
		select {
		case out = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("capture did not finish")
		}
		m := regexp.MustCompile(`/\S+\.pcap`).FindString(out)
		if m == "" {
			t.Fatalf("capture did not say where the file is:\n%s", out)
		}
		if b, err := os.ReadFile(m); err != nil || len(b) < 24+2*(16+98) || b[0] != 0xd4 || b[1] != 0xc3 {
			t.Fatalf("capture file %s: %v, %d bytes", m, err, len(b))
		}
		checkCaptureICMP(t, m, 2)
		for _, c := range []struct{ cmd, want string }{
			{"show interfaces", "eth1"},
			{"show dhcp leases", "192.168.1.50"},
			{"show nat sessions protocol icmp", "198.51.100.10"},
			{"show passthrough", "ipsec"},
			{"show counters", "forward"},
			{"show configuration commands", "set nat dmz 192.168.1.51"},
			{"show log", "ssh: listening"},
			{"ping -c 2 -s 1200 198.51.100.10", "1208 bytes from 198.51.100.10: seq=2"},
		} {
			if out := run(c.cmd); !contains(out, c.want) {
				t.Errorf("%s: no %q in\n%s", c.cmd, c.want, out)
			}
		}
		// The Junos-style views of the real router: its routes, the
		// neighbours it learnt by ARP on both ports, who committed.
		for _, c := range []struct{ cmd, want string }{
			{"show route", `(?m)^0\.0\.0\.0/0\s+203\.0\.113\.1\s+wan\s+static$`},
			{"show route", `(?m)^192\.168\.1\.0/24\s+-\s+lan\s+connected$`},
			{"show route", `(?m)^203\.0\.113\.0/24\s+-\s+wan\s+connected$`},
			{"show arp", `(?m)^192\.168\.1\.50\s+02:00:00:00:01:01\s+lan$`},
			{"show arp", `(?m)^203\.0\.113\.1\s+\S+\s+wan$`},
			{"show system commit", `(?m)^\s+by ssh admin \(key lab\) from 192\.168\.1\.50:\d+$`},
			{"show system commit", `(?m)^\s+by routerd shell -c$`},
			{"show log | match ssh | count", `^Count: [1-9]\d* lines\n$`},
		} {
			if out := run(c.cmd); !regexp.MustCompile(c.want).MatchString(out) {
				t.Errorf("%s: no match for %s in\n%s", c.cmd, c.want, out)
			}
		}
	})
	t.Run("SIGHUP reloads; a bad file is refused and the running configuration stays", func(t *testing.T) {
		cfgPath := filepath.Join(l.dir, "passgate.conf")
		saved, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		// Edit by hand the way the saved file says: drop its two checksum
		// lines (a file that keeps them is taken as a hand edit too).
		var kept []string
		for _, ln := range strings.Split(string(saved), "\n") {
			if !strings.HasPrefix(ln, "# sha256") {
				kept = append(kept, ln)
			}
		}
		good := []byte(strings.Join(kept, "\n"))
		if err := os.WriteFile(cfgPath, append(append([]byte(nil), good...), []byte("set nat timeout udp 30x\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		l.rtr.Process.Signal(syscall.SIGHUP)
		if ln, ok := l.rtrOut.wait("reload refused", 10*time.Second); !ok || !contains(ln, "30x") {
			t.Fatalf("bad configuration not refused with its reason:\n%s", l.rtrOut.text())
		}
		if out := l.mustIn("lan1", "curl", "-sS", "--max-time", "10", "http://198.51.100.10:8000/index.html"); !contains(out, "hello from internet") {
			t.Fatalf("routing stopped after a refused reload: %s", out)
		}
		// A good change is applied: the port forward goes away.
		changed := strings.Replace(string(good), "set nat port-forward web protocol tcp port 8080 to 192.168.1.50 port 80\n", "", 1)
		if err := os.WriteFile(cfgPath, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
		l.rtr.Process.Signal(syscall.SIGHUP)
		if _, ok := l.rtrOut.wait("configuration reloaded", 10*time.Second); !ok {
			t.Fatalf("good configuration not reloaded:\n%s", l.rtrOut.text())
		}
		if out, err := l.in("wan", "curl", "-sS", "--max-time", "3", "http://203.0.113.2:8080/index.html"); err == nil && contains(out, "lan1-web") {
			t.Fatal("the removed port forward still works after the reload")
		}
		os.WriteFile(cfgPath, saved, 0o644)
		l.rtr.Process.Signal(syscall.SIGHUP)
	})
	t.Run("routerd restart keeps leases", func(t *testing.T) {
		l.stopRouter()
		leases, err := os.ReadFile(filepath.Join(l.dir, "leases.json"))
		if err != nil || !contains(string(leases), "02:00:00:00:01:02") {
			t.Fatalf("lease file after stop: %v %s", err, leases)
		}
		l.startRouter()
		os.Remove(udhcpc + ".addr")
		l.mustIn("lan2", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-s", udhcpc)
		if a, _ := os.ReadFile(udhcpc + ".addr"); strings.TrimSpace(string(a)) != "192.168.1.51" {
			t.Fatalf("after restart udhcpc got %q", a)
		}
		if out := l.mustIn("lan1", "curl", "-sS", "--max-time", "10", "http://198.51.100.10:8000/index.html"); !contains(out, "hello from internet") {
			t.Fatalf("curl after restart: %s", out)
		}
	})
}

// webroot makes a directory with an index.html that names it.
func (l *lab) webroot(name string) string {
	d := filepath.Join(l.dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "index.html"), []byte(fmt.Sprintf("hello from %s\n", name)), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return d
}

// sshKey makes an ed25519 key pair in the lab directory and returns the
// public key line.
func (l *lab) sshKey(name string) string {
	p := filepath.Join(l.dir, name)
	l.sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@lab", "-f", p)
	b, err := os.ReadFile(p + ".pub")
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

const wanDHCPConfig = `
set system hostname lab
set interfaces lan device eth0
set interfaces lan address 192.168.1.1/24
set interfaces wan device eth1
set interfaces wan mode dhcp
set dhcp-server lan range 192.168.1.100 192.168.1.199
`

// The WAN address from the ISP's DHCP server (dnsmasq), then renumbered:
// at renewal the server refuses the old address, the router takes the new
// one, and flows move to it.
func TestEndToEndWANDHCP(t *testing.T) {
	l := newLab(t, wanDHCPConfig)
	dnsmasq := func(addr string) *exec.Cmd {
		leases := filepath.Join(l.dir, "isp.leases")
		os.Remove(leases)
		return l.start("wan", "dnsmasq", "--no-daemon", "--port=0", "--interface=eth0", "--bind-interfaces",
			"--dhcp-authoritative", "--dhcp-range=203.0.113.100,203.0.113.150,255.255.255.0,2m",
			"--dhcp-host="+routerWANMAC+","+addr, "--dhcp-option=3,203.0.113.1", "--dhcp-option=6,203.0.113.53",
			"--dhcp-leasefile="+leases, "--pid-file="+filepath.Join(l.dir, "isp.pid"), "--log-dhcp")
	}
	isp := dnsmasq("203.0.113.2")
	l.startRouter()
	if _, ok := l.rtrOut.wait("wan 203.0.113.2/24", 30*time.Second); !ok {
		t.Fatalf("no WAN lease from dnsmasq:\n%s", l.rtrOut.text())
	}
	l.listenTCP("wan", 8000, "busybox", "httpd", "-f", "-p", "198.51.100.10:8000", "-h", l.webroot("internet"))
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	time.Sleep(300 * time.Millisecond)
	if out := l.mustIn("lan1", "curl", "-sS", "--max-time", "10", "http://198.51.100.10:8000/index.html"); !contains(out, "hello from internet") {
		t.Fatalf("curl over the DHCP WAN: %s", out)
	}
	// The LAN DHCP server hands out the router, whose forwarder asks the
	// DNS server learnt on the WAN (TestEndToEndDNSForwarder; with the
	// forwarder off, clients get the WAN's directly).
	udhcpc := l.script("udhcpc.sh", "case \"$1\" in bound) echo \"$dns\" > \"$0.dns\" ;; esac\n")
	l.mustIn("lan2", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-s", udhcpc)
	if b, _ := os.ReadFile(udhcpc + ".dns"); !contains(string(b), "192.168.1.1") {
		t.Errorf("LAN clients got DNS %q, want the router 192.168.1.1", b)
	}
	// Renumbering: the ISP now reserves .3 for the router.
	isp.Process.Kill()
	isp.Wait()
	dnsmasq("203.0.113.3")
	if _, ok := l.rtrOut.wait("wan 203.0.113.3/24", 150*time.Second); !ok {
		t.Fatalf("the router did not move to the new address at renewal:\n%s", l.rtrOut.text())
	}
	out, err := l.in("wan", "ping", "-c", "1", "-W", "2", "203.0.113.3")
	if err != nil {
		t.Fatalf("the router does not answer on its new WAN address: %s", out)
	}
	if out := l.mustIn("lan1", "curl", "-sS", "--max-time", "10", "http://198.51.100.10:8000/index.html"); !contains(out, "hello from internet") {
		t.Fatalf("curl after renumbering: %s", out)
	}
}

// The ISP's router hands out an address inside the LAN's own prefix (a
// second router behind a consumer router on 192.168.1.0/24): routerd takes
// the lease but says so loudly, on the console and in show interfaces,
// with the fix (RFC 4787 REQ-7).
func TestEndToEndWANLeaseInsideLAN(t *testing.T) {
	l := newLab(t, wanDHCPConfig)
	l.routerArgs = []string{"--socket", filepath.Join(l.dir, "shell.sock")}
	l.mustIn("wan", "ip", "addr", "add", "192.168.1.254/24", "dev", "eth0")
	leases := filepath.Join(l.dir, "isp.leases")
	l.start("wan", "dnsmasq", "--no-daemon", "--port=0", "--interface=eth0", "--bind-interfaces",
		"--dhcp-authoritative", "--dhcp-range=192.168.1.100,192.168.1.150,255.255.255.0,2m",
		"--dhcp-option=3,192.168.1.254", "--dhcp-leasefile="+leases, "--pid-file="+filepath.Join(l.dir, "isp.pid"))
	l.startRouter()
	if _, ok := l.rtrOut.wait("WARNING: the WAN address 192.168.1.1", 30*time.Second); !ok {
		t.Fatalf("no warning on the console about the WAN lease inside the LAN:\n%s", l.rtrOut.text())
	}
	out := l.rtrOut.text()
	for _, want := range []string{"overlaps the LAN 192.168.1.0/24", "the WAN gateway 192.168.1.254 is inside the LAN", "set interfaces lan address 192.168.77.1/24"} {
		if !contains(out, want) {
			t.Errorf("the warning lacks %q:\n%s", want, out)
		}
	}
	if out, err := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c", "show interfaces").CombinedOutput(); err != nil || !contains(string(out), "PROBLEM: the WAN address 192.168.1.1") {
		t.Errorf("show interfaces does not show the problem (%v):\n%s", err, out)
	}
}

// A LAN device cannot send with another device's address (to take its
// mappings or reset its connections) nor from many addresses at once (to
// multiply its session quota): the source guard drops and counts it.
func TestEndToEndLANSourceGuard(t *testing.T) {
	l := newLab(t, labConfig)
	l.routerArgs = []string{"--socket", filepath.Join(l.dir, "shell.sock")}
	l.startRouter()
	l.start("wan", "busybox", "httpd", "-f", "-p", "198.51.100.10:8000", "-h", l.webroot("internet"))
	curl := func(ns, src string) bool {
		out, err := l.in(ns, "curl", "-sS", "--max-time", "3", "--interface", src, "http://198.51.100.10:8000/index.html")
		return err == nil && contains(out, "hello from internet")
	}
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan2", "ip", "addr", "add", "192.168.1.20/24", "dev", "eth0")
	for _, ns := range []string{"lan1", "lan2"} {
		l.mustIn(ns, "ip", "route", "add", "default", "via", "192.168.1.1")
	}
	time.Sleep(300 * time.Millisecond)
	if !curl("lan1", "192.168.1.10") || !curl("lan2", "192.168.1.20") {
		t.Fatal("the two devices cannot reach the internet from their own addresses")
	}
	// lan2 takes lan1's address as well.
	l.mustIn("lan2", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	if curl("lan2", "192.168.1.10") {
		t.Error("lan2 reached the internet with lan1's address")
	}
	if !curl("lan1", "192.168.1.10") {
		t.Error("lan1 lost its traffic to the spoofer")
	}
	// lan2 adds addresses: a second one works, a third does not.
	for _, a := range []string{"192.168.1.21", "192.168.1.22"} {
		l.mustIn("lan2", "ip", "addr", "add", a+"/24", "dev", "eth0")
	}
	if !curl("lan2", "192.168.1.21") {
		t.Error("lan2's second address does not work")
	}
	if curl("lan2", "192.168.1.22") {
		t.Error("lan2's third address works")
	}
	out, err := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c", "show counters").CombinedOutput()
	if err != nil || !regexp.MustCompile(`lan-source-spoofed\s+[1-9]`).Match(out) || !regexp.MustCompile(`lan-device-address-limit\s+[1-9]`).Match(out) {
		t.Errorf("show counters does not count the refused packets (%v):\n%s", err, out)
	}
}

// A port that appears after routerd starts (a USB NIC, a late module):
// routerd says what it waits for and comes up when the port is there,
// instead of exiting.
func TestEndToEndLatePort(t *testing.T) {
	l := newLab(t, labConfig)
	l.mustIn("rtr", "ip", "link", "set", "eth1", "down")
	l.mustIn("rtr", "ip", "link", "set", "eth1", "name", "late1")
	l.launchRouter()
	if _, ok := l.rtrOut.wait("waiting for port eth1", 10*time.Second); !ok {
		t.Fatalf("routerd did not say it waits for eth1:\n%s", l.rtrOut.text())
	}
	l.mustIn("rtr", "ip", "link", "set", "late1", "name", "eth1")
	l.mustIn("rtr", "ip", "link", "set", "eth1", "up")
	l.waitReady()
	if contains(l.rtrOut.text(), "restarting") {
		t.Fatalf("the worker was restarted while waiting:\n%s", l.rtrOut.text())
	}
}

// A start-up failure after the data plane is running (here: UDP 67 taken
// by another program) must end the worker with the reason, for the
// supervisor to retry, not hang; once the port is free the router comes up.
func TestEndToEndStartupFailureIsRetried(t *testing.T) {
	l := newLab(t, labConfig)
	squatter := l.start("rtr", "socat", "-u", "UDP4-RECVFROM:67,reuseaddr=0,fork", "OPEN:/dev/null")
	time.Sleep(300 * time.Millisecond)
	l.launchRouter()
	if _, ok := l.rtrOut.wait("restarting in", 20*time.Second); !ok {
		t.Fatalf("the worker did not end and get restarted:\n%s", l.rtrOut.text())
	}
	if !contains(l.rtrOut.text(), "67") {
		t.Errorf("the reason (port 67 in use) was not logged:\n%s", l.rtrOut.text())
	}
	squatter.Process.Kill()
	squatter.Wait()
	l.waitReady()
}

// checkCaptureICMP reads a capture file with gopacket's pcap reader and
// decoder (independent of routerd's writer): n Ethernet frames, each an
// ICMP packet.
func checkCaptureICMP(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil || r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("capture %s: %v (link type %v)", path, err, r.LinkType())
	}
	for i := range n {
		data, _, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("capture %s: frame %d: %v", path, i, err)
		}
		if p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default); p.Layer(layers.LayerTypeICMPv4) == nil {
			t.Errorf("capture %s: frame %d is not ICMP: %v", path, i, p)
		}
	}
}
