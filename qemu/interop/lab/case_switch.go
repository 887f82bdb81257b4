package lab

import (
	"fmt"
	"os"
	"time"
)

// The switch cases (routerd only): switched off, a client cannot connect
// and routerd counts blocked packets; switched on again (no restart), it
// connects.

// switchTry is one protocol's client for a switch case.
type switchTry struct {
	proto string
	// setUp starts the server side.
	setUp func(l *Lab) error
	// attempt starts the client and reports whether it connected within
	// d; it leaves a process to end in *p, if any.
	attempt func(l *Lab, d time.Duration) (connected bool, p *proc, err error)
	// ping pings through the tunnel after connecting.
	ping func() int
	// off is the detail's word for the failed attempt ("no call").
	off string
}

// pppSwitch is a switch case whose client is pppd over PPTP or L2TP in
// lan1: connected when its ppp0 has an address; peer is the server's PPP
// address.
func pppSwitch(proto, off string, server func(*Lab) error, client func(*Lab) (*proc, error), peer string) switchTry {
	return switchTry{proto: proto, off: off,
		setUp: func(l *Lab) error {
			if err := pppSecrets(); err != nil {
				return err
			}
			return server(l)
		},
		attempt: func(l *Lab, d time.Duration) (bool, *proc, error) {
			p, err := client(l)
			if err != nil {
				return false, nil, err
			}
			return waitFor(d, func() bool { return hasAddr("lan1", "ppp0") }), p, nil
		},
		ping: func() int { return pingCount("lan1", "", peer) },
	}
}

func caseSwitchPPTP(l *Lab) Outcome {
	return l.switchCase(pppSwitch("pptp", "no call", (*Lab).pptpServer,
		func(l *Lab) (*proc, error) { return l.pptpClient("lan1") }, "192.168.50.1"))
}

func caseSwitchL2TP(l *Lab) Outcome {
	return l.switchCase(pppSwitch("l2tp", "no tunnel", (*Lab).l2tpServer,
		func(l *Lab) (*proc, error) { return l.l2tpClient("lan1", 1701) }, "192.168.60.1"))
}

func caseSwitchIPsec(l *Lab) Outcome   { return l.switchIPsec(v4) }
func caseSwitchIPsecV6(l *Lab) Outcome { return l.switchIPsec(v6) }

// switchIPsec is the ipsec switch case over family f: strongSwan IKEv2
// from lan1.
func (l *Lab) switchIPsec(f family) Outcome {
	lan1 := f.clients[0]
	attempts := 0
	return l.switchCase(switchTry{proto: "ipsec", off: "IKE failed",
		setUp: func(l *Lab) error {
			server, client := ikev2Conns(rekey{IKE: "0", Child: "0"}, f)
			return l.swanStartAll(server, client, f.clients[:1])
		},
		attempt: func(l *Lab, d time.Duration) (bool, *proc, error) {
			attempts++
			log := "lan1-initiate.log"
			if attempts == 1 {
				log = "lan1-initiate-off.log"
			}
			err := l.swanInitiate(lan1, "c", fmt.Sprint(int(d.Seconds())), log)
			if err != nil && attempts == 1 {
				l.swanctl("lan1", "--terminate", "--ike", "t", "--force")
			}
			return err == nil, nil, nil
		},
		ping: func() int { return pingCount("lan1", lan1.tunnel, f.serverTunnel) },
	})
}

// switchCase turns t.proto's switch off, checks that lan1 cannot connect
// (20 s; IPsec: 25 s) and that blocked grows, turns it on and checks that
// lan1 connects (60 s) and pings.
func (l *Lab) switchCase(t switchTry) Outcome {
	r, ok := l.nat.(*routerd)
	if !ok {
		return Outcome{NA, "routerd's switch"}
	}
	if err := t.setUp(l); err != nil {
		return fail(err.Error())
	}
	r.setSwitch(l, t.proto, false)
	b0, ok0 := r.blocked(t.proto)
	offFor := 20 * time.Second
	if t.proto == "ipsec" {
		offFor = 25 * time.Second
	}
	connected, p, err := t.attempt(l, offFor)
	if err != nil {
		return fail(err.Error())
	}
	if connected {
		r.setSwitch(l, t.proto, true)
		what := "connected"
		if t.proto == "ipsec" {
			what = "IKEv2 connected"
		}
		return fail(what + " with the switch off")
	}
	if p != nil {
		p.stop(3 * time.Second)
	}
	b1, ok1 := r.blocked(t.proto)
	show, _ := r.shell("show passthrough")
	os.WriteFile(l.file("show-passthrough-off.log"), []byte(show), 0o644)
	r.setSwitch(l, t.proto, true)
	counts := fmt.Sprintf("blocked %s->%s", count(b0, ok0), count(b1, ok1))
	connected, _, err = t.attempt(l, 60*time.Second)
	if err != nil {
		return fail(err.Error())
	}
	if !connected {
		return fail(counts + "; did not connect after switching on")
	}
	n := t.ping()
	if b1 <= b0 || n == 0 {
		return fail(fmt.Sprintf("%s; after on: ping %d/4", counts, n))
	}
	return pass(fmt.Sprintf("off: %s, blocked %d->%d; on: connected, ping %d/4", t.off, b0, b1, n))
}

// count is n, or "?" when it could not be read.
func count(n int, ok bool) string {
	if !ok {
		return "?"
	}
	return fmt.Sprint(n)
}
