package lab

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// waitFor polls ok every half second until it holds or d has passed.
func waitFor(d time.Duration, ok func() bool) bool {
	for end := time.Now().Add(d); ; {
		if ok() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// hasAddr reports whether dev in namespace n has an IPv4 address.
func hasAddr(n, dev string) bool {
	out, err := cmd("ip", "-n", n, "-4", "addr", "show", "dev", dev)
	return err == nil && strings.Contains(out, "inet")
}

// upDown is "up" or "down" for a link's address, for details.
func upDown(n, dev string) string {
	if hasAddr(n, dev) {
		return "up"
	}
	return "down"
}

// fileHas reports whether the file at path matches re.
func fileHas(path string, re *regexp.Regexp) bool {
	b, _ := os.ReadFile(path)
	return re.Match(b)
}

// fileCount counts the matches of re in the file at path.
func fileCount(path string, re *regexp.Regexp) int {
	b, _ := os.ReadFile(path)
	return len(re.FindAll(b, -1))
}

var received = regexp.MustCompile(`(\d+) received`)

// pingCount sends 4 echo requests from namespace n (from address src if
// not empty) to dst and returns how many replies came.
func pingCount(n, src, dst string) int {
	argv := []string{"ping", "-n", "-c", "4", "-i", "0.5", "-W", "3"}
	if src != "" {
		argv = append(argv, "-I", src)
	}
	out, _ := ns(n, append(argv, dst)...)
	m := received.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	k, _ := strconv.Atoi(m[1])
	return k
}

// pinger is one client's ping: its namespace and tunnel source address
// ("" for the default).
type pinger struct{ ns, src string }

// clients are the two LAN clients without a source address.
var clients = []pinger{{"lan1", ""}, {"lan2", ""}}

// ipsecClients are the two LAN clients from their tunnel addresses.
var ipsecClients = []pinger{{"lan1", "10.99.1.10"}, {"lan2", "10.99.2.10"}}

// pingAll pings dst from every pinger at the same time; the detail is
// "lan1:4/4,lan2:4/4" and ok says whether each got at least one reply.
func pingAll(ps []pinger, dst string) (detail string, ok bool) {
	got := make([]int, len(ps))
	parallel(len(ps), func(i int) { got[i] = pingCount(ps[i].ns, ps[i].src, dst) })
	var parts []string
	ok = true
	for i, p := range ps {
		parts = append(parts, fmt.Sprintf("%s:%d/4", p.ns, got[i]))
		ok = ok && got[i] > 0
	}
	return strings.Join(parts, ","), ok
}

// allOK runs every f at the same time and reports whether all succeeded.
func allOK(fs ...func() error) bool {
	errs := make([]error, len(fs))
	parallel(len(fs), func(i int) { errs[i] = fs[i]() })
	for _, err := range errs {
		if err != nil {
			return false
		}
	}
	return true
}

// parallel runs f(0) … f(n-1) at the same time and waits for them all.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
