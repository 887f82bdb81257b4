package lab

import (
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// Lab is one NAT's run inside the VM: clients lan1 (192.168.1.10) and
// lan2 (192.168.1.11) on a bridge in sw, the NAT in rtr (LAN 192.168.1.1,
// WAN 203.0.113.2), the VPN servers in wan (203.0.113.1); and the current
// case's directory and processes.
type Lab struct {
	// NAT is the NAT under test: "routerd" or "kernel".
	NAT   string
	share string // the shared directory (/lab)
	work  string // the lab's scratch directory
	dir   string // the current case's directory (configs and logs)
	nat   nat
	procs []*proc
}

// namespaces of the topology; sw holds the bridge.
var namespaces = []string{"sw", "rtr", "lan1", "lan2", "wan"}

// caseNamespaces are where a case's daemons run.
var caseNamespaces = []string{"lan1", "lan2", "wan"}

// file is the path of name in the current case's directory.
func (l *Lab) file(name string) string { return filepath.Join(l.dir, name) }

// bg runs argv in namespace n in the background, output appended to the
// case file log; it is ended when the case ends.
func (l *Lab) bg(n, log string, argv ...string) (*proc, error) {
	p, err := start(l.file(log), inNS(n, argv...)...)
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, p)
	return p, nil
}

// bgPrivate is bg with a private /run.
func (l *Lab) bgPrivate(n, log string, argv ...string) (*proc, error) {
	return l.bg(n, log, privateRun(argv...)...)
}

// endCase ends every process the case started, then whatever is left in
// the case namespaces, and drops the IPsec SAs and policies a killed
// daemon left behind: the next case reads the SAs to judge itself.
func (l *Lab) endCase() {
	for _, p := range l.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range l.procs {
		p.stop(time.Second)
	}
	l.procs = nil
	for _, n := range caseNamespaces {
		killNS(n)
		cmd("ip", "-n", n, "xfrm", "state", "flush")
		cmd("ip", "-n", n, "xfrm", "policy", "flush")
	}
}

// endSubCase ends what a case run inside another case left running: the
// processes it started (those after mark in l.procs), every other
// process in the client namespaces, those in wan that keep does not
// spare, and the IPsec SAs and policies; so the next case inside starts
// as clean as a case of its own.
func (l *Lab) endSubCase(mark int, keep func(pid int) bool) {
	for _, p := range l.procs[mark:] {
		p.stop(time.Second)
	}
	l.procs = l.procs[:mark]
	for _, n := range caseNamespaces {
		if n == "wan" {
			killNSExcept(n, keep)
		} else {
			killNS(n)
		}
		cmd("ip", "-n", n, "xfrm", "state", "flush")
		cmd("ip", "-n", n, "xfrm", "policy", "flush")
	}
	time.Sleep(500 * time.Millisecond)
}

// veth links namespace a's interface ia to b's ib; an end in sw joins the
// bridge.
func veth(a, ia, b, ib string) error {
	return must(
		[]string{"ip", "link", "add", "vlab0", "type", "veth", "peer", "name", "vlab1"},
		[]string{"ip", "link", "set", "vlab0", "netns", a},
		[]string{"ip", "link", "set", "vlab1", "netns", b},
		[]string{"ip", "-n", a, "link", "set", "vlab0", "name", ia},
		[]string{"ip", "-n", b, "link", "set", "vlab1", "name", ib},
		// routerd reads frames with AF_PACKET: no partial checksums.
		inNS(a, "ethtool", "-K", ia, "tx", "off"),
		inNS(b, "ethtool", "-K", ib, "tx", "off"),
		[]string{"ip", "-n", a, "link", "set", ia, "up"},
		[]string{"ip", "-n", b, "link", "set", ib, "up"},
	)
}

// up builds the topology and starts the NAT.
func (l *Lab) up() error {
	for _, n := range namespaces {
		if err := must([]string{"ip", "netns", "add", n}, []string{"ip", "-n", n, "link", "set", "lo", "up"}); err != nil {
			return err
		}
	}
	if err := must([]string{"ip", "-n", "sw", "link", "add", "br0", "type", "bridge"}, []string{"ip", "-n", "sw", "link", "set", "br0", "up"}); err != nil {
		return err
	}
	for _, v := range [][4]string{{"rtr", "eth0", "sw", "r0"}, {"lan1", "eth0", "sw", "l1"}, {"lan2", "eth0", "sw", "l2"}, {"rtr", "eth1", "wan", "eth0"}} {
		if err := veth(v[0], v[1], v[2], v[3]); err != nil {
			return err
		}
		if v[2] == "sw" {
			if _, err := cmd("ip", "-n", "sw", "link", "set", v[3], "master", "br0"); err != nil {
				return err
			}
		}
	}
	err := must(
		[]string{"ip", "-n", "lan1", "addr", "add", "192.168.1.10/24", "dev", "eth0"},
		[]string{"ip", "-n", "lan2", "addr", "add", "192.168.1.11/24", "dev", "eth0"},
		[]string{"ip", "-n", "lan1", "route", "add", "default", "via", "192.168.1.1"},
		[]string{"ip", "-n", "lan2", "route", "add", "default", "via", "192.168.1.1"},
		[]string{"ip", "-n", "wan", "addr", "add", "203.0.113.1/24", "dev", "eth0"},
		// Tunnel inner addresses: the clients' and the server's networks.
		[]string{"ip", "-n", "lan1", "addr", "add", "10.99.1.10/32", "dev", "lo"},
		[]string{"ip", "-n", "lan2", "addr", "add", "10.99.2.10/32", "dev", "lo"},
		[]string{"ip", "-n", "wan", "addr", "add", "172.16.0.1/24", "dev", "lo"},
		[]string{"ip", "-n", "wan", "route", "add", "default", "via", "203.0.113.2"},
		// IPv6 (the -v6 cases): the server on the WAN link, the LAN
		// /64 of the prefix routed to the router, static client
		// addresses (no router advertisements taken: the kernel router
		// sends none), ULA tunnel addresses.
		inNS("lan1", "sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=0"),
		inNS("lan2", "sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=0"),
		[]string{"ip", "-n", "wan", "-6", "addr", "add", serverAddr6 + "/64", "dev", "eth0", "nodad"},
		[]string{"ip", "-n", "wan", "-6", "addr", "add", serverTunnel6 + "/64", "dev", "lo"},
		// A default route, as on IPv4: replies to the clients' tunnel
		// addresses need a route before the IPsec policy applies.
		[]string{"ip", "-n", "wan", "-6", "route", "add", "default", "via", "2600:5::2"},
		[]string{"ip", "-n", "lan1", "-6", "addr", "add", lanClients6[0].addr + "/64", "dev", "eth0", "nodad"},
		[]string{"ip", "-n", "lan2", "-6", "addr", "add", lanClients6[1].addr + "/64", "dev", "eth0", "nodad"},
		[]string{"ip", "-n", "lan1", "-6", "addr", "add", lanClients6[0].tunnel + "/128", "dev", "lo"},
		[]string{"ip", "-n", "lan2", "-6", "addr", "add", lanClients6[1].tunnel + "/128", "dev", "lo"},
		[]string{"ip", "-n", "lan1", "-6", "route", "add", "default", "via", "2600:100:0:100::1"},
		[]string{"ip", "-n", "lan2", "-6", "route", "add", "default", "via", "2600:100:0:100::1"},
	)
	if err != nil {
		return err
	}
	if err := l.nat.up(l); err != nil {
		return fmt.Errorf("%s: %w", l.NAT, err)
	}
	return nil
}

// down ends every process and deletes the namespaces.
func (l *Lab) down() {
	l.endCase()
	l.nat.down()
	for _, n := range namespaces {
		killNS(n)
		cmd("ip", "netns", "del", n)
	}
}
