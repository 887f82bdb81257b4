package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The IPsec cases share the addressing: client lanN has 10.99.N.10 (tunnel
// source), the server's protected network is 172.16.0.0/24 (172.16.0.1).
const (
	serverAddr   = "203.0.113.1"
	serverNet    = "172.16.0.0/24"
	serverTunnel = "172.16.0.1"
)

// client is a LAN client: its namespace, LAN address and tunnel address.
type client struct {
	n                int // 1 or 2
	ns, addr, tunnel string
	id               string // IKE identity
}

var lanClients = []client{
	{1, "lan1", "192.168.1.10", "10.99.1.10", "c1.lab"},
	{2, "lan2", "192.168.1.11", "10.99.2.10", "c2.lab"},
}

// family is one address family's addressing of the IPsec and WireGuard
// cases: the server, its protected network and tunnel address, the
// clients and the network of their tunnel addresses.
type family struct {
	server, serverNet, serverTunnel string
	clients                         []client
	tunnelNet, host                 string // the clients' tunnel network; a host prefix length ("/32")
	pingers                         []pinger
}

// IPv6: the server at 2600:5::1 on the WAN link, the clients with static
// addresses in the LAN /64 routed to the router (2600:100:0:100::/56),
// tunnel addresses from ULA space. Over IPv6 there is no NAT: ESP is
// raw, and the router's firewall (RFC 6092) is what is tested.
const (
	serverAddr6   = "2600:5::1"
	serverNet6    = "fd16::/64"
	serverTunnel6 = "fd16::1"
)

var lanClients6 = []client{
	{1, "lan1", "2600:100:0:100::10", "fd99:1::10", "c1.lab"},
	{2, "lan2", "2600:100:0:100::11", "fd99:2::10", "c2.lab"},
}

var (
	v4 = family{serverAddr, serverNet, serverTunnel, lanClients, "10.99.0.0/16", "/32", ipsecClients}
	v6 = family{serverAddr6, serverNet6, serverTunnel6, lanClients6, "fd99::/16", "/128",
		[]pinger{{"lan1", "fd99:1::10"}, {"lan2", "fd99:2::10"}}}
)

// ---- strongSwan

// swanConn is the data of templates/swanctl.conf.tmpl.
type swanConn struct {
	Name, Version, LocalAddrs, RemoteAddrs, LocalID, RemoteID string
	Child, LocalTS, RemoteTS, ESP                             string
	Transport                                                 bool
	Rekey                                                     *rekey
	PSK                                                       string
}

// rekey is a client's IKE_SA and CHILD_SA rekey_time ("0": never).
type rekey struct{ IKE, Child string }

// swanStart starts charon in namespace n with its own strongswan.conf,
// VICI socket and log, and loads conn.
func (l *Lab) swanStart(n string, conn swanConn) error {
	d := filepath.Join(l.work, "sw-"+n)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	vici := filepath.Join(d, "charon.vici")
	if err := render(filepath.Join(d, "strongswan.conf"), "strongswan.conf", map[string]string{"Vici": vici, "Log": l.file(n + "-charon.log")}); err != nil {
		return err
	}
	conn.PSK = psk
	conf := l.file(n + "-swanctl.conf")
	if err := render(conf, "swanctl.conf", conn); err != nil {
		return err
	}
	os.Remove(vici)
	if _, err := l.bgPrivate(n, n+"-charon.out", "env", "STRONGSWAN_CONF="+filepath.Join(d, "strongswan.conf"), "/usr/lib/ipsec/charon"); err != nil {
		return err
	}
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(vici); return err == nil }) {
		return fmt.Errorf("charon in %s did not start", n)
	}
	out, err := l.swanctl(n, "--load-all", "--noprompt", "--file", conf)
	appendFile(l.file(n+"-swanctl.log"), out)
	return err
}

// swanctl runs swanctl against namespace n's charon.
func (l *Lab) swanctl(n string, args ...string) (string, error) {
	return ns(n, append([]string{"env", "STRONGSWAN_CONF=" + filepath.Join(l.work, "sw-"+n, "strongswan.conf"), "swanctl"}, args...)...)
}

// swanInitiate brings up child in client c's charon, output to log.
func (l *Lab) swanInitiate(c client, child, timeout, log string) error {
	out, err := l.swanctl(c.ns, "--initiate", "--child", child, "--timeout", timeout)
	os.WriteFile(l.file(log), []byte(out), 0o644)
	return err
}

// swanUpBoth initiates child in both clients at once.
func (l *Lab) swanUpBoth(child string) bool { return l.swanUpBothIn(lanClients, child) }

// swanUpBothIn initiates child in clients cs at once.
func (l *Lab) swanUpBothIn(cs []client, child string) bool {
	var fs []func() error
	for _, c := range cs {
		fs = append(fs, func() error { return l.swanInitiate(c, child, "90", c.ns+"-initiate.log") })
	}
	return allOK(fs...)
}

// swanStartAll starts the server's charon and then the clients'.
func (l *Lab) swanStartAll(server swanConn, client func(client) swanConn, cs []client) error {
	if err := l.swanStart("wan", server); err != nil {
		return err
	}
	for _, c := range cs {
		if err := l.swanStart(c.ns, client(c)); err != nil {
			return err
		}
	}
	return nil
}

// ikev2Conns are the strongSwan IKEv2 tunnel-mode connections of family
// f: the server's and a client's with rekey times r.
func ikev2Conns(r rekey, f family) (swanConn, func(client) swanConn) {
	server := swanConn{Name: "srv", Version: "2", LocalAddrs: f.server, LocalID: "server.lab",
		Child: "c", LocalTS: f.serverNet, RemoteTS: f.tunnelNet, ESP: "aes128-sha256-modp2048"}
	return server, func(c client) swanConn {
		return swanConn{Name: "t", Version: "2", LocalAddrs: c.addr, RemoteAddrs: f.server, LocalID: c.id, RemoteID: "server.lab",
			Child: "c", LocalTS: c.tunnel + f.host, RemoteTS: f.serverNet, ESP: "aes128-sha256-modp2048", Rekey: &r}
	}
}

// l2tpConns are the strongSwan IKEv1 transport-mode connections of
// L2TP/IPsec: lanN protects its L2TP port 1700+N.
func l2tpConns() (swanConn, func(client) swanConn) {
	server := swanConn{Name: "l2tp", Version: "1", LocalAddrs: serverAddr, LocalID: "server.lab",
		Child: "l2tp", Transport: true, LocalTS: "dynamic[udp/1701]", RemoteTS: "dynamic[udp]", ESP: "aes128-sha256"}
	return server, func(c client) swanConn {
		return swanConn{Name: "l2tp", Version: "1", LocalAddrs: c.addr, RemoteAddrs: serverAddr, LocalID: c.id, RemoteID: "server.lab",
			Child: "l2tp", Transport: true, LocalTS: fmt.Sprintf("dynamic[udp/%d]", 1700+c.n), RemoteTS: "dynamic[udp/1701]", ESP: "aes128-sha256"}
	}
}

// ---- libreswan

const libreswan = "/usr/libexec/ipsec"

// lswConf is the data of templates/ipsec.conf.tmpl.
type lswConf struct {
	IKEv2, Encapsulation string // yes|no
	Conns                []lswConn
}

type lswConn struct {
	Name, Left, LeftID, LeftSubnet, Right, RightID, RightSubnet string
	Initiator                                                   bool
}

// lswConfigs are the clients' (conn "c" each) and the server's (conn
// "cN" per client) configurations in family f.
func lswConfigs(ikev2, encap string, f family) (server lswConf, clients []lswConf) {
	server = lswConf{IKEv2: ikev2, Encapsulation: encap}
	for _, c := range f.clients {
		clients = append(clients, lswConf{IKEv2: ikev2, Encapsulation: encap, Conns: []lswConn{{
			Name: "c", Left: c.addr, LeftID: "@" + c.id, LeftSubnet: c.tunnel + f.host,
			Right: f.server, RightID: "@server.lab", RightSubnet: f.serverNet, Initiator: true}}})
		server.Conns = append(server.Conns, lswConn{Name: fmt.Sprintf("c%d", c.n), Left: f.server, LeftID: "@server.lab", LeftSubnet: f.serverNet,
			Right: "%any", RightID: "@" + c.id, RightSubnet: c.tunnel + f.host})
	}
	return server, clients
}

// lswStart starts pluto in namespace n with conf, its own run and NSS
// directories and a PSK for any peer, and adds the conns.
func (l *Lab) lswStart(n string, conf lswConf) error {
	d := filepath.Join(l.work, "lsw-"+n)
	os.RemoveAll(d)
	for _, s := range []string{"run", "nss", "ipsec.d"} {
		if err := os.MkdirAll(filepath.Join(d, s), 0o755); err != nil {
			return err
		}
	}
	secrets := filepath.Join(d, "ipsec.secrets")
	if err := os.WriteFile(secrets, []byte(fmt.Sprintf("%%any %%any : PSK %q\n", psk)), 0o600); err != nil {
		return err
	}
	cfg := l.file(n + "-ipsec.conf")
	if err := render(cfg, "ipsec.conf", conf); err != nil {
		return err
	}
	cmd("certutil", "-N", "-d", "sql:"+filepath.Join(d, "nss"), "--empty-password")
	_, err := l.bg(n, n+"-pluto.log", libreswan+"/pluto", "--nofork", "--stderrlog", "--config", cfg,
		"--secretsfile", secrets, "--nssdir", filepath.Join(d, "nss"), "--rundir", filepath.Join(d, "run"), "--ipsecdir", filepath.Join(d, "ipsec.d"))
	if err != nil {
		return err
	}
	ctl := filepath.Join(d, "run", "pluto.ctl")
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(ctl); return err == nil }) {
		return fmt.Errorf("pluto in %s did not start", n)
	}
	out, _ := l.whack(n, "--listen")
	out2, _ := ns(n, libreswan+"/addconn", "--ctlsocket", ctl, "--config", cfg, "--autoall")
	appendFile(l.file(n+"-whack.log"), out+out2)
	return nil
}

// whack runs whack against namespace n's pluto.
func (l *Lab) whack(n string, args ...string) (string, error) {
	return ns(n, append([]string{libreswan + "/whack", "--ctlsocket", filepath.Join(l.work, "lsw-"+n, "run", "pluto.ctl")}, args...)...)
}

// ---- the SAs

var spiRE = regexp.MustCompile(`spi (0x[0-9a-f]+)`)

// xfrmState is namespace n's IPsec SAs as ip xfrm state prints them.
func xfrmState(n string) string {
	out, _ := cmd("ip", "-n", n, "xfrm", "state")
	return out
}

var saHeadRE = regexp.MustCompile(`(?m)^src (\S+) dst (\S+)`)

// saSummary is the SAs of an ip xfrm state listing in one line, each as
// src>dst with "+udp" when it is UDP-encapsulated: a failure's detail.
func saSummary(state string) string {
	var out []string
	blocks := saHeadRE.FindAllStringSubmatchIndex(state, -1)
	for i, b := range blocks {
		end := len(state)
		if i+1 < len(blocks) {
			end = blocks[i+1][0]
		}
		s := state[b[2]:b[3]] + ">" + state[b[4]:b[5]]
		if strings.Contains(state[b[0]:end], "encap type espinudp") {
			s += "+udp"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "no SA"
	}
	return strings.Join(out, " ")
}

// spis lists namespace n's SPIs, sorted.
func spis(n string) string {
	var s []string
	for _, m := range spiRE.FindAllStringSubmatch(xfrmState(n), -1) {
		s = append(s, m[1])
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}
