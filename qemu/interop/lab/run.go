package lab

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// say prints a progress line on the console.
func say(format string, a ...any) { fmt.Printf("lab: "+format+"\n", a...) }

// uptime is the VM's uptime in seconds, as /proc/uptime says it.
func uptime() string {
	b, _ := os.ReadFile("/proc/uptime")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// Main runs the lab in the VM: Params from share, each case under each
// NAT, Results (rewritten after every case), the versions and the logs
// back into share.
func Main(share string) error {
	var p Params
	if err := ReadJSON(filepath.Join(share, ParamsFile), &p); err != nil {
		return err
	}
	if len(p.NATs) == 0 {
		p.NATs = NATs
	}
	cases := Cases
	if len(p.Cases) > 0 {
		var err error
		if cases, err = Select(p.Cases); err != nil {
			return err
		}
	}
	say("start at %ss; NATS='%s' CASES='%s'", uptime(), strings.Join(p.NATs, " "), strings.Join(CaseNames(cases), " "))
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Package} ${Version}\n").Output(); err == nil {
		os.WriteFile(filepath.Join(share, DpkgFile), out, 0o644)
	}
	if b, err := os.ReadFile("/etc/interop/versions"); err == nil {
		os.WriteFile(filepath.Join(share, VersionsFile), b, 0o644)
	}
	res := &Results{NATSeconds: map[string]int{}}
	out := filepath.Join(share, ResultsFile)
	save := func() {
		if err := WriteJSON(out, res); err != nil {
			say("writing %s: %v", out, err)
		}
	}
	save()
	work := "/tmp/lab"
	for _, name := range p.NATs {
		n, err := newNAT(name, share, work)
		if err != nil {
			return err
		}
		l := &Lab{NAT: name, share: share, work: work, dir: filepath.Join(work, "c"), nat: n}
		l.runNAT(cases, p.KeepLogs, res, save)
	}
	res.Done = true
	save()
	say("done at %ss", uptime())
	return nil
}

// runNAT builds the topology with l's NAT and runs cases on it.
func (l *Lab) runNAT(cases []Case, keepLogs string, res *Results, save func()) {
	say("=== NAT %s", l.NAT)
	t0 := time.Now()
	os.MkdirAll(l.work, 0o755)
	upErr := l.up()
	if upErr != nil {
		say("%v", upErr)
	}
	for _, c := range cases {
		os.RemoveAll(l.dir)
		os.MkdirAll(l.dir, 0o755)
		l.nat.flush()
		s := time.Now()
		say("--- %s %s at %ss", l.NAT, c.Name, uptime())
		o := l.runCase(c, upErr)
		fmt.Printf("RESULT %s %s %s %s\n", l.NAT, c.Name, o.Verdict, o.Detail)
		l.keepLogs(c.Name, o, keepLogs)
		l.endCase()
		os.Remove(pppLocal)
		r := Result{NAT: l.NAT, Case: c.Name, Verdict: o.Verdict, Detail: o.Detail, Seconds: int(time.Since(s).Seconds())}
		fmt.Printf("TIME %s %s %d\n", l.NAT, c.Name, r.Seconds)
		res.Results = append(res.Results, r)
		save()
	}
	if r, ok := l.nat.(*routerd); ok {
		if b, err := os.ReadFile(r.log()); err == nil {
			os.WriteFile(filepath.Join(l.share, LogsDir, "routerd.log"), b, 0o644)
		}
	}
	l.down()
	res.NATSeconds[l.NAT] = int(time.Since(t0).Seconds())
	fmt.Printf("TIME %s all %d\n", l.NAT, res.NATSeconds[l.NAT])
	save()
}

// runCase runs c (N/A for a routerd-only case under another NAT); a
// panic is the case's failure, not the lab's.
func (l *Lab) runCase(c Case, upErr error) (o Outcome) {
	switch {
	case c.RouterdOnly && l.NAT != "routerd":
		if c.NADetail != "" {
			return Outcome{NA, c.NADetail}
		}
		return Outcome{NA, "routerd's switch"}
	case upErr != nil:
		return fail("the NAT did not start: " + firstLine(upErr.Error()))
	}
	defer func() {
		if p := recover(); p != nil {
			o = fail(fmt.Sprintf("panic: %v", p))
		}
	}()
	return c.Run(l)
}

// keepLogs keeps the NAT's state after every case, and the case's files
// when it failed (or always with keep "all"); a failure's log tails and
// NAT state go to the console.
func (l *Lab) keepLogs(name string, o Outcome, keep string) {
	dst := filepath.Join(l.share, LogsDir, l.NAT+"-"+name)
	os.MkdirAll(dst, 0o755)
	state := l.nat.state()
	os.WriteFile(filepath.Join(dst, "nat-state.txt"), []byte(state), 0o644)
	if o.Verdict == Fail || keep == "all" {
		if err := copyFiles(l.dir, dst); err != nil {
			say("keeping the logs of %s: %v", name, err)
		}
	}
	if o.Verdict != Fail {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(l.dir, "*.log"))
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		fmt.Printf("----- %s %s: tail of %s\n%s", l.NAT, name, filepath.Base(f), tailLines(string(b), 25))
	}
	fmt.Printf("----- %s %s: NAT state\n%s", l.NAT, name, state)
}

// copyFiles copies the regular files under src to dst (not the daemons'
// sockets and FIFOs: the 9p share refuses to create them).
func copyFiles(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	ls := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "") + "\n"
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
