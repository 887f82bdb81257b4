package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// nat is the NAT under test in namespace rtr.
type nat interface {
	// up starts it on the topology's addresses.
	up(l *Lab) error
	// state is its view of the flows, kept as evidence after every case.
	state() string
	// note is a remark for a failed ping's detail ("" for none).
	note() string
	// flush forgets every flow (between cases).
	flush()
	// down stops it.
	down()
}

func newNAT(name, share, work string) (nat, error) {
	switch name {
	case "routerd":
		return &routerd{bin: filepath.Join(share, RouterdFile), dir: filepath.Join(work, "rtr")}, nil
	case "kernel":
		return kernelNAT{}, nil
	}
	return nil, fmt.Errorf("no NAT %q (have %s)", name, strings.Join(NATs, " "))
}

// routerd is routerd under test, driven through its shell socket.
type routerd struct {
	bin, dir string
	p        *proc
	// extra are configuration lines after the lab's own (a case that
	// restarts routerd with other WAN settings).
	extra string
}

// restartWith restarts routerd with extra configuration lines ("" for
// the lab's own configuration).
func (r *routerd) restartWith(l *Lab, extra string) error {
	r.down()
	r.extra = extra
	return r.up(l)
}

func (r *routerd) socket() string { return filepath.Join(r.dir, "shell.sock") }
func (r *routerd) log() string    { return filepath.Join(r.dir, "routerd.log") }

func (r *routerd) up(l *Lab) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(r.dir, "passgate.conf")
	var data any
	if r.extra != "" {
		data = struct{ Extra string }{r.extra}
	}
	if err := render(conf, "passgate.conf", data); err != nil {
		return err
	}
	os.WriteFile(r.log(), nil, 0o644)
	p, err := start(r.log(), inNS("rtr", r.bin, "--config", conf, "--socket", r.socket())...)
	if err != nil {
		return err
	}
	r.p = p
	ready := regexp.MustCompile(`passgate ready:`)
	if !waitFor(60*time.Second, func() bool { return fileHas(r.log(), ready) }) {
		b, _ := os.ReadFile(r.log())
		return fmt.Errorf("routerd did not start:\n%s", b)
	}
	say("routerd ready at %ss", uptime())
	// How its ports are set up (readers, GRO), for the case's log.
	if out, err := r.shell("show counters"); err == nil {
		if _, setup, ok := strings.Cut(out, "Port set-up:\n"); ok {
			say("routerd ports:\n%s", strings.TrimRight(setup, "\n"))
		}
	}
	return nil
}

// shell runs one line of routerd's configuration shell.
func (r *routerd) shell(line string) (string, error) {
	return ns("rtr", r.bin, "shell", "-socket", r.socket(), "-c", line)
}

func (r *routerd) state() string {
	out, _ := r.shell("show passthrough")
	return headLines(out, 60)
}

func (r *routerd) note() string { return "" }
func (r *routerd) flush()       { r.shell("clear nat sessions") }

func (r *routerd) down() {
	if r.p != nil {
		r.p.stop(3 * time.Second)
		r.p = nil
	}
}

// blocked is the blocked counter of protocol proto in show passthrough.
func (r *routerd) blocked(proto string) (int, bool) {
	out, _ := r.shell("show passthrough")
	return parseBlocked(out, proto)
}

// setSwitch turns a passthrough switch on or off (no restart).
func (r *routerd) setSwitch(l *Lab, proto string, on bool) {
	v := "disable"
	if on {
		v = "enable"
	}
	out, err := r.shell("configure; set passthrough " + proto + " " + v + "; commit")
	appendFile(l.file("shell.log"), out)
	if err != nil {
		appendFile(l.file("shell.log"), err.Error()+"\n")
	}
}

// parseBlocked finds the "blocked N" note that follows protocol proto's
// row in show passthrough.
func parseBlocked(show, proto string) (int, bool) {
	seen := false
	for _, ln := range strings.Split(show, "\n") {
		f := strings.Fields(ln)
		if len(f) > 0 && f[0] == proto {
			seen = true
		}
		if !seen {
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "blocked" {
				n, err := strconv.Atoi(f[i+1])
				return n, err == nil
			}
		}
	}
	return 0, false
}

// kernelNAT is the kernel's nftables masquerade with the PPTP conntrack
// helper.
type kernelNAT struct{}

func (kernelNAT) up(l *Lab) error {
	rules := filepath.Join(l.work, "kernel-nat.nft")
	if err := render(rules, "kernel-nat.nft", nil); err != nil {
		return err
	}
	return must(
		[]string{"ip", "-n", "rtr", "addr", "add", "192.168.1.1/24", "dev", "eth0"},
		[]string{"ip", "-n", "rtr", "addr", "add", "203.0.113.2/24", "dev", "eth1"},
		[]string{"ip", "-n", "rtr", "route", "add", "default", "via", "203.0.113.1"},
		inNS("rtr", "sysctl", "-qw", "net.ipv4.ip_forward=1"),
		// IPv6: routed, with an RFC 6092-style stateful firewall
		// (templates/kernel-nat.nft, table ip6 filter).
		[]string{"ip", "-n", "rtr", "-6", "addr", "add", "2600:100:0:100::1/64", "dev", "eth0", "nodad"},
		[]string{"ip", "-n", "rtr", "-6", "addr", "add", "2600:5::2/64", "dev", "eth1", "nodad"},
		[]string{"ip", "-n", "rtr", "-6", "route", "add", "default", "via", serverAddr6},
		inNS("rtr", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"),
		inNS("rtr", "nft", "-f", rules),
	)
}

func (kernelNAT) state() string {
	l, _ := ns("rtr", "conntrack", "-L")
	s, _ := ns("rtr", "conntrack", "-S")
	return headLines(l, 60) + s
}

// note sums conntrack's insert_failed and drop counters (a second raw-ESP
// client's packets clash on the reply tuple there).
func (kernelNAT) note() string {
	s, _ := ns("rtr", "conntrack", "-S")
	failed, drop := conntrackCounters(s)
	return fmt.Sprintf("; conntrack insert_failed=%d drop=%d", failed, drop)
}

// conntrackCounters sums insert_failed and drop over conntrack -S's CPUs.
func conntrackCounters(stats string) (insertFailed, drop int) {
	for _, f := range strings.Fields(stats) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			continue
		}
		switch k {
		case "insert_failed":
			insertFailed += n
		case "drop":
			drop += n
		}
	}
	return insertFailed, drop
}

func (kernelNAT) flush() { ns("rtr", "conntrack", "-F") }
func (kernelNAT) down()  {}

// headLines is the first n lines of s.
func headLines(s string, n int) string {
	ls := strings.SplitAfter(s, "\n")
	if len(ls) > n {
		ls = ls[:n]
	}
	return strings.Join(ls, "")
}

// appendFile appends s to the file at path.
func appendFile(path, s string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	f.WriteString(s)
	f.Close()
}
