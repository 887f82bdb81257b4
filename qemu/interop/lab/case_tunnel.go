package lab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// openvpnConf is the data of templates/openvpn.conf.tmpl.
type openvpnConf struct {
	Server    bool
	Cert, Key string
	Peers     []string // pinned fingerprints: the clients' (server) or the server's
}

// caseOpenVPN: OpenVPN 2.6 over UDP, TLS with the per-run self-signed
// certificates pinned by fingerprint, both clients from port 1194.
func caseOpenVPN(l *Lab) Outcome {
	fp := map[string]string{}
	for _, who := range []string{"server", "c1", "c2"} {
		for _, ext := range []string{".crt", ".key", ".fp"} {
			b, err := os.ReadFile(filepath.Join(l.share, OpenVPNDir, who+ext))
			if err != nil {
				return fail("certificates: " + err.Error())
			}
			if err := os.WriteFile(l.file(who+ext), b, 0o600); err != nil {
				return fail(err.Error())
			}
			if ext == ".fp" {
				fp[who] = strings.TrimSpace(string(b))
			}
		}
	}
	confs := map[string]openvpnConf{"wan": {Server: true, Cert: l.file("server.crt"), Key: l.file("server.key"), Peers: []string{fp["c1"], fp["c2"]}}}
	for _, c := range lanClients {
		id := fmt.Sprintf("c%d", c.n)
		confs[c.ns] = openvpnConf{Cert: l.file(id + ".crt"), Key: l.file(id + ".key"), Peers: []string{fp["server"]}}
	}
	for _, n := range caseNamespaces {
		if err := render(l.file(n+"-openvpn.conf"), "openvpn.conf", confs[n]); err != nil {
			return fail(err.Error())
		}
	}
	for _, n := range []string{"wan", "lan1", "lan2"} {
		if _, err := l.bg(n, n+"-openvpn.log", "openvpn", "--config", l.file(n+"-openvpn.conf")); err != nil {
			return fail(err.Error())
		}
		if n == "wan" {
			time.Sleep(time.Second)
		}
	}
	done := regexp.MustCompile(`Initialization Sequence Completed`)
	waitFor(60*time.Second, func() bool { return fileHas(l.file("lan1-openvpn.log"), done) })
	waitFor(30*time.Second, func() bool { return fileHas(l.file("lan2-openvpn.log"), done) })
	ping, ok := pingAll(clients, "10.8.0.1")
	if !ok {
		return fail("ping " + ping)
	}
	return pass("UDP, TLS + peer-fingerprint, both from port 1194; ping " + ping)
}

// caseWireGuard: kernel WireGuard, all three on port 51820.
func caseWireGuard(l *Lab) Outcome { return l.wireGuard(v4) }

// caseWireGuardV6: the same with the server at its IPv6 address; the
// tunnel carries IPv4 as before.
func caseWireGuardV6(l *Lab) Outcome { return l.wireGuard(v6) }

// wireGuard runs the WireGuard case with the server's endpoint in family f.
func (l *Lab) wireGuard(f family) Outcome {
	defer func() {
		for _, n := range caseNamespaces {
			cmd("ip", "-n", n, "link", "del", "wg0")
		}
	}()
	pub := map[string]string{}
	for _, n := range caseNamespaces {
		key, err := cmd("wg", "genkey")
		if err != nil {
			return fail(err.Error())
		}
		if err := os.WriteFile(l.file(n+".key"), []byte(key), 0o600); err != nil {
			return fail(err.Error())
		}
		c := exec.Command("wg", "pubkey")
		c.Stdin = strings.NewReader(key)
		p, err := c.Output()
		if err != nil {
			return fail("wg pubkey: " + err.Error())
		}
		pub[n] = strings.TrimSpace(string(p))
		if _, err := cmd("ip", "-n", n, "link", "add", "wg0", "type", "wireguard"); err != nil {
			return fail(err.Error())
		}
	}
	err := must(
		inNS("wan", "wg", "set", "wg0", "listen-port", "51820", "private-key", l.file("wan.key"),
			"peer", pub["lan1"], "allowed-ips", "10.9.0.2/32", "peer", pub["lan2"], "allowed-ips", "10.9.0.3/32"),
		[]string{"ip", "-n", "wan", "addr", "add", "10.9.0.1/24", "dev", "wg0"},
		[]string{"ip", "-n", "wan", "link", "set", "wg0", "up"},
	)
	endpoint := net.JoinHostPort(f.server, "51820")
	for _, c := range f.clients {
		if err != nil {
			break
		}
		err = must(
			inNS(c.ns, "wg", "set", "wg0", "listen-port", "51820", "private-key", l.file(c.ns+".key"),
				"peer", pub["wan"], "endpoint", endpoint, "allowed-ips", "10.9.0.0/24", "persistent-keepalive", "5"),
			[]string{"ip", "-n", c.ns, "addr", "add", fmt.Sprintf("10.9.0.%d/24", c.n+1), "dev", "wg0"},
			[]string{"ip", "-n", c.ns, "link", "set", "wg0", "up"},
		)
	}
	if err != nil {
		return fail(err.Error())
	}
	ping, ok := pingAll(clients, "10.9.0.1")
	eps, _ := ns("wan", "wg", "show", "wg0", "endpoints")
	if !ok {
		return fail("ping " + ping + "; " + strings.NewReplacer("\n", ";", "\t", " ").Replace(eps))
	}
	var seen []string
	for _, ln := range strings.Split(strings.TrimSpace(eps), "\n") {
		if _, ep, ok := strings.Cut(ln, "\t"); ok {
			seen = append(seen, ep)
		}
	}
	return pass("both from port 51820; ping " + ping + "; server sees " + strings.Join(seen, " "))
}
