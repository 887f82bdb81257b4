package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/passgate/passgate/internal/sysdeps"
)

// The IPv6 lab: the ISP (namespace wan) runs radvd on its link to the
// router (prefix 2600:5::/64, M and O set) and Debian's kea-dhcp6,
// delegating exactly one /56 (2600:100:0:100::/56) and routing it to the
// router's WAN link-local address, as a BNG does; an internet server
// holds 2600:9::10. LAN hosts configure themselves with the kernel's own
// SLAAC from routerd's router advertisements. Addresses are real global
// unicast ones: the router refuses to forward documentation prefixes.

const ipv6LabConfig = `
set system hostname lab6
set interfaces lan device eth0
set interfaces lan address 192.168.1.1/24
set interfaces wan device eth1
set interfaces wan mode static
set interfaces wan address 203.0.113.2/24
set interfaces wan gateway 203.0.113.1
set interfaces lan ipv6 ula fd5a:1:2::/48
set dhcp-server lan range 192.168.1.100 192.168.1.199
set firewall ipv6 allow web2 protocol tcp port 8081 to 2600:100:0:100:0:ff:fe00:102
`

var ipv6LabTools = []sysdeps.Tool{sysdeps.KeaDHCP6, sysdeps.Radvd, sysdeps.Rdisc6, sysdeps.Nmap, sysdeps.Dhclient, sysdeps.Dig, sysdeps.Dnsmasq}

const radvdConfig = `interface eth0 {
  AdvSendAdvert on;
  AdvManagedFlag on;
  AdvOtherConfigFlag on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 10;
  AdvDefaultLifetime 60;
  prefix 2600:5::/64 { AdvOnLink on; AdvAutonomous on; AdvValidLifetime 600; AdvPreferredLifetime 300; };
};
`

// keaISPConfig delegates the one /56 pool to the router, with short
// timers so a renumbering shows within the test.
func keaISPConfig(dir, pool, leases string) string {
	return fmt.Sprintf(`{
"Dhcp6": {
  "interfaces-config": { "interfaces": [ "eth0" ] },
  "lease-database": { "type": "memfile", "persist": true, "name": %q, "lfc-interval": 0 },
  "server-id": { "type": "EN", "enterprise-id": 2495, "identifier": "6973703a6c6162", "persist": false },
  "preferred-lifetime": 40, "valid-lifetime": 60, "renew-timer": 10, "rebind-timer": 30,
  "option-data": [
    { "name": "dns-servers", "data": "2600:5::53" },
    { "name": "domain-search", "data": "isp.example" }
  ],
  "subnet6": [ {
    "id": 1, "subnet": "2600:5::/64", "interface": "eth0",
    "pools": [ { "pool": "2600:5::100-2600:5::1ff" } ],
    "pd-pools": [ { "prefix": %q, "prefix-len": 56, "delegated-len": 56 } ]
  } ],
  "loggers": [ { "name": "kea-dhcp6", "output_options": [ { "output": "stdout" } ], "severity": "INFO" } ]
}
}`, filepath.Join(dir, leases), pool)
}

// routerWANLinkLocal is the router's WAN link-local address (EUI-64 of
// routerWANMAC): the ISP routes the delegated prefix to it.
const routerWANLinkLocal = "fe80::ff:fe00:201"

// startKea6 runs kea-dhcp6 in the ISP namespace delegating pool.
func (l *lab) startKea6(pool, leases string) *exec.Cmd {
	l.t.Helper()
	conf := filepath.Join(l.dir, "kea-"+leases+".json")
	if err := os.WriteFile(conf, []byte(keaISPConfig(l.dir, pool, leases)), 0o600); err != nil {
		l.t.Fatal(err)
	}
	// ip netns exec execs env, which execs Kea: the PID is Kea's.
	return l.start("wan", "env", "KEA_PIDFILE_DIR="+l.dir, "KEA_LOCKFILE_DIR="+l.dir, "KEA_DHCP_DATA_DIR="+l.dir,
		"KEA_LOG_FILE_DIR="+l.dir, "kea-dhcp6", "-c", conf)
}

// waitFor polls fn until it returns true or the timeout passes.
func waitFor(timeout time.Duration, fn func() bool) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if fn() {
			return true
		}
	}
	return fn()
}

// globalAddrs lists a host's global IPv6 addresses on eth0 with their
// flags ("2600:…/64 … deprecated").
func (l *lab) globalAddrs(ns string) string {
	out, _ := l.in(ns, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
	return out
}

func TestEndToEndIPv6(t *testing.T) {
	if err := sysdeps.Require(ipv6LabTools...); err != nil {
		t.Fatalf("IPv6 end-to-end prerequisites: %v", err)
	}
	l := newLab(t, "")
	l.config = ipv6LabConfig + "set service ssh authorized-key lab \"" + l.sshKey("admin") + "\"\n"
	l.routerArgs = []string{"--socket", filepath.Join(l.dir, "shell.sock")}
	shell := func(cmd string) string {
		out, err := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("shell %q: %v\n%s", cmd, err, out)
		}
		return string(out)
	}

	// The ISP.
	l.mustIn("wan", "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
	l.mustIn("wan", "ip", "-6", "addr", "add", "2600:5::1/64", "dev", "eth0", "nodad")
	l.mustIn("wan", "ip", "-6", "addr", "add", "2600:9::10/128", "dev", "lo")
	// The ISP's resolver, at the address its RAs and DHCPv6 name.
	l.mustIn("wan", "ip", "-6", "addr", "add", "2600:5::53/64", "dev", "eth0", "nodad")
	l.start("wan", "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--port=53",
		"--listen-address=2600:5::53", "--bind-interfaces", "--pid-file="+filepath.Join(l.dir, "isp-dns6.pid"),
		"--local=/example.test/", "--local-ttl=300", "--host-record=www6.example.test,2600:9::10")
	l.mustIn("wan", "ip", "-6", "route", "add", "2600:100:0:100::/56", "via", routerWANLinkLocal, "dev", "eth0")
	l.mustIn("wan", "ip", "-6", "route", "add", "2600:100:0:200::/56", "via", routerWANLinkLocal, "dev", "eth0")
	radvd := filepath.Join(l.dir, "radvd.conf")
	if err := os.WriteFile(radvd, []byte(radvdConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	l.start("wan", "radvd", "--nodaemon", "-C", radvd, "-p", filepath.Join(l.dir, "radvd.pid"), "-m", "stderr")
	// Kea binds the link-local address: wait until DAD is done with it.
	if !waitFor(10*time.Second, func() bool {
		out, _ := l.in("wan", "ip", "-6", "addr", "show", "dev", "eth0", "tentative")
		return strings.TrimSpace(out) == ""
	}) {
		t.Fatal("the ISP's link-local address stays tentative")
	}
	kea := l.startKea6("2600:100:0:100::", "leases-a.csv")
	l.start("wan", "busybox", "httpd", "-f", "-p", "[2600:9::10]:8000", "-h", l.webroot("internet6"))
	for _, h := range []string{"lan1", "lan2"} {
		l.start(h, "socat", "TCP6-LISTEN:8081,fork,reuseaddr", "SYSTEM:echo "+h)
	}

	l.startRouter()
	if _, ok := l.rtrOut.wait("ipv6: delegated prefix 2600:100:0:100::/56", 60*time.Second); !ok {
		t.Fatalf("routerd got no delegated prefix from Kea:\n%s", l.rtrOut.text())
	}

	// LAN hosts number themselves from the delegated /64 and the ULA
	// /64 (RFC 7084 L-2, L-6), with the router as default router.
	lan1 := "2600:100:0:100:0:ff:fe00:101"
	lan2 := "2600:100:0:100:0:ff:fe00:102"
	if !waitFor(30*time.Second, func() bool {
		a := l.globalAddrs("lan1")
		return contains(a, lan1+"/64") && contains(a, "fd5a:1:2::ff:fe00:101/64") && contains(l.globalAddrs("lan2"), lan2+"/64")
	}) {
		t.Fatalf("LAN hosts not configured by SLAAC:\nlan1: %s\nlan2: %s\n%s", l.globalAddrs("lan1"), l.globalAddrs("lan2"), l.rtrOut.text())
	}
	if !waitFor(20*time.Second, func() bool { return contains(l.mustIn("lan1", "ip", "-6", "route", "show", "default"), "via fe80::") }) {
		t.Fatalf("lan1 has no IPv6 default route via the router: %s", l.mustIn("lan1", "ip", "-6", "route"))
	}
	// rdisc6 reads the RA as the router sends it: the prefixes, RDNSS
	// with the router's DNS forwarder at its ULA address (RFC 8106), the
	// ISP's search domain, O set and M clear (L-9).
	ra := l.mustIn("lan1", "rdisc6", "-1", "eth0")
	// Route Information for the delegated /56 and the ULA /48 (L-3).
	for _, want := range []string{`2600:100:0:100::/64`, `fd5a:1:2::/64`, `DNS server\s*:\s*fd5a:1:2::1`, `isp\.example`,
		`Route\s*:\s*2600:100:0:100::/56`, `Route\s*:\s*fd5a:1:2::/48`,
		`Stateful other conf\.\s*:\s*Yes`, `Stateful address conf\.\s*:\s*No`} {
		if !regexp.MustCompile(want).MatchString(ra) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, ra)
		}
	}

	// Stateless DHCPv6 hands out the same DNS (RFC 7084 L-8, L-10).
	dump := filepath.Join(l.dir, "dhcp6.env")
	script := l.script("dhclient6.sh", "env | grep '^new_dhcp6' > "+dump+"\n")
	l.start("lan1", "dhclient", "-6", "-S", "-d", "-sf", script, "-lf", filepath.Join(l.dir, "dhclient6.leases"),
		"-pf", filepath.Join(l.dir, "dhclient6.pid"), "eth0")
	if !waitFor(20*time.Second, func() bool { b, _ := os.ReadFile(dump); return contains(string(b), "fd5a:1:2::1") }) {
		b, _ := os.ReadFile(dump)
		t.Errorf("stateless DHCPv6 did not give lan1 the router as DNS server: %q", b)
	}
	// The forwarder over IPv6, asking the ISP's IPv6 resolver (the WAN
	// has no IPv4 DNS server in this lab).
	for _, server := range []string{"fd5a:1:2::1", "2600:100:0:100::1"} {
		out, err := l.in("lan1", "dig", "+time=3", "+tries=2", "+short", "@"+server, "www6.example.test", "AAAA")
		if err != nil || strings.TrimSpace(out) != "2600:9::10" {
			t.Errorf("dig @%s www6.example.test: %v %q", server, err, out)
		}
	}
	if out, err := l.in("lan1", "dig", "+time=3", "+tries=2", "+short", "@fd5a:1:2::1", "lab6.lan", "A"); err != nil || strings.TrimSpace(out) != "192.168.1.1" {
		t.Errorf("the router's name over IPv6: %v %q", err, out)
	}
	if out := shell("show dns"); !contains(out, "[2600:5::53]:53") || !contains(out, "fd5a:1:2::1") {
		t.Errorf("show dns:\n%s", out)
	}

	// Through the router to the internet.
	if out, err := l.in("lan1", "ping", "-6", "-c", "2", "-W", "2", "2600:9::10"); err != nil {
		t.Fatalf("ping -6 from lan1: %v\n%s", err, out)
	}
	if out, err := l.in("lan1", "curl", "-6", "-sS", "--max-time", "10", "http://[2600:9::10]:8000/"); err != nil || !contains(out, "hello from internet6") {
		t.Fatalf("curl -6 from lan1: %v\n%s", err, out)
	}
	// The firewall's rules hold over IPv6 too: a rule rejecting lan1's
	// MAC to the WAN makes its curl -6 fail at once; lan2's goes on;
	// with the rule gone lan1's works again.
	shell("configure; set firewall rule lan1-off from 02:00:00:00:01:01 to wan action reject; commit")
	start := time.Now()
	if out, err := l.in("lan1", "curl", "-6", "-sS", "--max-time", "5", "http://[2600:9::10]:8000/"); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("curl -6 from lan1 with a rule rejecting it: %v after %v\n%s", err, time.Since(start), out)
	}
	if out, err := l.in("lan2", "curl", "-6", "-sS", "--max-time", "10", "http://[2600:9::10]:8000/"); err != nil || !contains(out, "hello from internet6") {
		t.Errorf("curl -6 from lan2 beside a rule for lan1: %v\n%s", err, out)
	}
	shell("configure; delete firewall rule lan1-off; commit")
	if out, err := l.in("lan1", "curl", "-6", "-sS", "--max-time", "10", "http://[2600:9::10]:8000/"); err != nil || !contains(out, "hello from internet6") {
		t.Fatalf("curl -6 from lan1 once the rule is gone: %v\n%s", err, out)
	}
	// The router is the first hop (hop limit decremented, Time Exceeded).
	tr := l.mustIn("lan1", "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "3", "2600:9::10")
	if !regexp.MustCompile(`(?m)^\s*1\s+(2600:100:0:100::1|fd5a:1:2::1|fe80::\S+)\s`).MatchString(tr) {
		t.Errorf("traceroute -6 does not show the router as hop 1:\n%s", tr)
	}

	// The router's own LAN address answers pings and SSH from the LAN
	// (its stack, self0); from the WAN, nmap below finds port 22 closed.
	if out, err := l.in("lan1", "ping", "-6", "-c", "1", "-W", "2", "2600:100:0:100::1"); err != nil {
		t.Errorf("ping -6 to the router's LAN address: %v\n%s", err, out)
	}
	if out, err := l.in("lan1", "ssh", "-i", filepath.Join(l.dir, "admin"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "admin@2600:100:0:100::1", "show system"); err != nil || !contains(out, "Hostname") {
		t.Errorf("ssh over IPv6 from the LAN: %v\n%s", err, out)
	}
	// A rule to the router itself holds over IPv6 too: lan1's SSH to the
	// router's IPv6 address is refused at once, then allowed again.
	shell("configure; set firewall rule lan1-no-ssh from 02:00:00:00:01:01 to self protocol tcp port 22 action reject; commit")
	start = time.Now()
	if out, err := l.in("lan1", "ssh", "-i", filepath.Join(l.dir, "admin"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "admin@2600:100:0:100::1", "show system"); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("ssh over IPv6 with a rule rejecting it: %v after %v\n%s", err, time.Since(start), out)
	}
	shell("configure; delete firewall rule lan1-no-ssh; commit")

	// Inbound: unsolicited connections to LAN hosts are refused (RFC
	// 6092), except through the allow rule for lan2's port 8081.
	if out, err := l.in("wan", "curl", "-6", "-sS", "--http0.9", "--max-time", "4", "http://["+lan2+"]:8081/"); err != nil || !contains(out, "lan2") {
		t.Errorf("the allow rule does not admit a connection to lan2:8081: %v\n%s", err, out)
	}
	if out, err := l.in("wan", "curl", "-6", "-sS", "--http0.9", "--max-time", "4", "http://["+lan1+"]:8081/"); err == nil {
		t.Errorf("an unsolicited connection to lan1:8081 got through:\n%s", out)
	}
	// nmap from the ISP finds nothing open on the router or lan1.
	for _, target := range []string{"2600:100:0:100::1", lan1} {
		out := l.mustIn("wan", "nmap", "-6", "-n", "-Pn", "-T5", "--max-retries", "1", "-p", "22,53,80,443,8000,8081", target)
		if regexp.MustCompile(`(?m)^\d+/tcp\s+open`).MatchString(out) {
			t.Errorf("nmap -6 from the WAN finds open ports on %s:\n%s", target, out)
		}
	}
	// Transparent mode (RFC 6092 REC-49) lets the same connection in;
	// switched off again, it is refused once more.
	if out := shell("configure; set firewall ipv6 transparent enable; commit"); !contains(out, "anyone on the Internet can") {
		t.Errorf("enabling transparent mode gives no warning:\n%s", out)
	}
	if out, err := l.in("wan", "curl", "-6", "-sS", "--http0.9", "--max-time", "4", "http://["+lan1+"]:8081/"); err != nil || !contains(out, "lan1") {
		t.Errorf("transparent mode does not admit a connection to lan1:8081: %v\n%s", err, out)
	}
	shell("configure; set firewall ipv6 transparent disable; commit")
	if out, err := l.in("wan", "curl", "-6", "-sS", "--http0.9", "--max-time", "4", "http://["+lan1+"]:8081/"); err == nil {
		t.Errorf("with transparent mode off again, a connection to lan1:8081 got through:\n%s", out)
	}

	// The router's own diagnostics over IPv6: ping and traceroute from
	// the shell, and a capture with an IPv6 filter.
	if out := shell("ping 2600:9::10 count 2"); !contains(out, "2 sent, 2 received") {
		t.Errorf("the shell's ping to 2600:9::10:\n%s", out)
	}
	if out := shell("traceroute 2600:9::10"); !regexp.MustCompile(`(?m)^\s*\d+\s+2600:9::10\s`).MatchString(out) {
		t.Errorf("the shell's traceroute does not reach 2600:9::10:\n%s", out)
	}
	l.checkCapture6()

	// What the shell shows.
	for cmd, wants := range map[string][]string{
		"show interfaces":                    {"delegated prefix 2600:100:0:100::/56", "2600:100:0:100::1/64", "fd5a:1:2::1/64", "2600:5::ff:fe00:201/128"},
		"show ipv6 route":                    {"::/0", "2600:100:0:100::/64", "fd5a:1:2::/64", "unreachable"},
		"show ipv6 neighbors":                {lan1, "reachable router"},
		"show ipv6 sessions host 2600:9::10": {"[2600:9::10]:8000"},
		"show counters":                      {"IPv6:", "frames-in", "drop unsolicited-syn"},
	} {
		out := shell(cmd)
		for _, w := range wants {
			if !contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", cmd, w, out)
			}
		}
	}

	// Renumbering: the ISP delegates another prefix (Kea restarted with
	// another pool and no leases). At the next renewal the router takes
	// it, the LAN gets the new /64 and the old one is deprecated at once
	// (RFC 7084 L-13, RFC 9096).
	kea.Process.Kill()
	kea.Wait()
	l.startKea6("2600:100:0:200::", "leases-b.csv")
	if _, ok := l.rtrOut.wait("2600:100:0:200::/56", 60*time.Second); !ok {
		t.Fatalf("routerd did not take the new prefix:\n%s", l.rtrOut.text())
	}
	if !waitFor(30*time.Second, func() bool {
		a := l.globalAddrs("lan1")
		return regexp.MustCompile(`2600:100:0:200:0:ff:fe00:101/64 scope global dynamic`).MatchString(a) && regexp.MustCompile(`2600:100:0:100:0:ff:fe00:101/64 .*deprecated`).MatchString(a)
	}) {
		t.Fatalf("lan1 not renumbered (new address, old one deprecated):\n%s", l.globalAddrs("lan1"))
	}
	if out, err := l.in("lan1", "curl", "-6", "-sS", "--max-time", "10", "http://[2600:9::10]:8000/"); err != nil || !contains(out, "hello from internet6") {
		t.Fatalf("curl -6 from lan1 after renumbering: %v\n%s\n%s\nlan1 routes: %s\n%s", err, out, shell("show counters"),
			l.mustIn("lan1", "ip", "-6", "route"), l.globalAddrs("lan1"))
	}
	if strings.Contains(l.rtrOut.text(), "panic") {
		t.Fatal("routerd panicked")
	}
}

// checkCapture6 captures on the WAN port with an IPv6 filter while lan1
// pings the internet host, and reads the pcap file back with gopacket:
// the four frames are echo requests and replies, nothing else.
func (l *lab) checkCapture6() {
	t := l.t
	cmd := exec.Command(l.bin, "shell", "-socket", filepath.Join(l.dir, "shell.sock"), "-c",
		"capture wan count 4 filter host 2600:9::10 and proto icmp6")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The shell prints when the command ends: ping until it has its frames.
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-deadline:
			cmd.Process.Kill()
			<-done
			t.Fatalf("capture did not end within 30 s of pinging:\n%s", out.String())
		case <-time.After(300 * time.Millisecond):
			l.in("lan1", "ping", "-6", "-c", "1", "-W", "1", "2600:9::10")
		}
	}
	m := regexp.MustCompile(`Wrote (\S+\.pcap)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("capture wrote no file:\n%s", out.String())
	}
	f, err := os.Open(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[uint8]int{}
	n := 0
	for {
		data, _, err := pr.ReadPacketData()
		if err != nil {
			break
		}
		n++
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		if ip == nil || ic == nil || (ip.SrcIP.String() != "2600:9::10" && ip.DstIP.String() != "2600:9::10") {
			t.Errorf("captured a frame the filter excludes: %v", p)
			continue
		}
		kinds[ic.TypeCode.Type()]++
	}
	if n != 4 || kinds[128] == 0 || kinds[129] == 0 || kinds[128]+kinds[129] != 4 {
		t.Errorf("captured %d frames, ICMPv6 types %v; want 4 echo requests and replies", n, kinds)
	}
}
