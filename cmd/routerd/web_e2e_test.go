package main

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/passgate/passgate/internal/sysdeps"
)

// webPassword is the admin password of webHash (SHA-512 crypt).
const (
	webPassword = "correct horse battery staple"
	webHash     = "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."
)

// TestEndToEndWebPage drives the admin page with a real browser: Debian's
// chromium, headless, runs in the LAN host's namespace and opens
// https://192.168.1.1/ like a user would; chromedp steers it over the
// DevTools port, which a forwarder brings out of the namespace. It logs in
// (a wrong password refused, then slowed down), turns PPTP passthrough off,
// sees the diff, applies; the shell then says PPTP is off, and a PPTP
// attempt from the LAN is blocked and counted; it turns PPTP back on, adds
// a port forward that a WAN host then reaches. Every request the browser
// makes stays on the router, and the page answers nothing from the WAN.
// A screenshot of each page goes to the test's artifact directory.
func TestEndToEndWebPage(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Chromium); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, labConfig+"set system admin password-hash \""+webHash+"\"\n")
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--socket", sock}
	l.startRouter()
	if _, ok := l.rtrOut.wait("passgate web page: https://192.168.1.1/ certificate SHA256 ", 5*time.Second); !ok {
		t.Fatalf("the console does not show the page's address and certificate:\n%s", l.rtrOut.text())
	}
	shellCmd := func(cmd string) string {
		t.Helper()
		out, err := runOut(l.bin, "shell", "-socket", sock, "-c", cmd)
		if err != nil {
			t.Fatalf("routerd shell -c %q: %v\n%s", cmd, err, out)
		}
		return out
	}
	if out := shellCmd("show system"); !regexp.MustCompile(`Web page\s+https://192\.168\.1\.1/ certificate SHA256\s+[0-9A-F:]{95}`).MatchString(out) {
		t.Errorf("show system has no web page line:\n%s", out)
	}
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.50/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	l.mustIn("wan", "ip", "route", "add", "192.168.1.0/24", "via", "203.0.113.2")

	t.Run("plain HTTP redirects to HTTPS", func(t *testing.T) {
		out, err := l.in("lan1", "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://192.168.1.1/vpn")
		if err != nil || out != "301 https://192.168.1.1/vpn" {
			t.Fatalf("curl http://192.168.1.1/vpn: %v %q", err, out)
		}
	})
	t.Run("not reachable from the WAN", func(t *testing.T) {
		for _, u := range []string{"https://203.0.113.2/", "http://203.0.113.2/", "https://192.168.1.1/", "http://192.168.1.1/"} {
			if out, err := l.in("wan", "curl", "-ksS", "--max-time", "4", "-o", "/dev/null", "-w", "%{http_code}", u); err == nil {
				t.Errorf("curl %s from the WAN answered %s", u, out)
			}
		}
	})

	// PPTP's control port on a server on the internet.
	l.listenTCP("wan", 1723, "socat", "TCP4-LISTEN:1723,bind=198.51.100.10,reuseaddr,fork", "EXEC:echo pptp-server")
	pptp := func() bool {
		out, err := l.in("lan1", "socat", "-T", "2", "-", "TCP4:198.51.100.10:1723,connect-timeout=2")
		return err == nil && strings.Contains(out, "pptp-server")
	}
	if !pptp() {
		t.Fatal("PPTP does not pass before the test")
	}

	ctx, requests, console := startBrowser(t, l)
	shots := t.ArtifactDir()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\nat %s:\n%s\nrouter:\n%s", what, err, loc, body, l.rtrOut.text())
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("read %s: %v\nat %s:\n%s\nrouter:\n%s", sel, err, loc, body, l.rtrOut.text())
		}
		return strings.TrimSpace(s)
	}
	// submit clicks a form's button and waits for the page the form
	// brings: the old page is marked first, so its content is never
	// taken for the answer.
	submit := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
				_, err := chromedp.Evaluate[chromedp.Void](`document.body.dataset.old = "1"`)(ctx, t)
				return chromedp.Void{}, err
			},
			chromedp.Click(chromedp.ID(id)),
			chromedp.WaitNotPresent(chromedp.CSS("body[data-old]")),
			chromedp.WaitReady(chromedp.CSS("h1")))
	}
	login := func(password string) {
		t.Helper()
		run("log in", chromedp.WaitVisible(chromedp.ID("password")),
			chromedp.SetValue(chromedp.ID("password"), password),
			submit("login"))
	}

	run("open the page", chromedp.Navigate("https://192.168.1.1/"), chromedp.WaitVisible(chromedp.ID("password")))
	shot("login")
	for i := 1; i <= 3; i++ {
		login("wrong password")
		if got := text("#login-error"); got != "Wrong password." {
			t.Fatalf("wrong password %d: the page says %q", i, got)
		}
	}
	login(webPassword) // refused unread: the 4th attempt must wait
	if got := text("#login-error"); !strings.HasPrefix(got, "Too many failed logins from 192.168.1.50: try again in") {
		t.Fatalf("after 3 wrong passwords the page says %q", got)
	}
	time.Sleep(1500 * time.Millisecond)
	login(webPassword)
	if got := text("h1"); got != "Status" {
		t.Fatalf("after login: %q", got)
	}
	if got := text("#wan-address"); !strings.Contains(got, "203.0.113.2/24") {
		t.Errorf("status page WAN address %q", got)
	}
	shot("status")

	// PPTP off: the diff, then apply.
	run("turn PPTP off", chromedp.Navigate("https://192.168.1.1/vpn"), chromedp.WaitVisible(chromedp.ID("pptp")),
		chromedp.RemoveAttribute(chromedp.ID("pptp"), "checked"),
		submit("vpn-save"), chromedp.WaitVisible(chromedp.CSS(".notice.good")))
	run("see the changes", chromedp.Navigate("https://192.168.1.1/changes"), chromedp.WaitVisible(chromedp.ID("diff")))
	if got := text("#diff"); strings.TrimSpace(got) != "+ set passthrough pptp disable" {
		t.Fatalf("the diff is %q", got)
	}
	shot("changes")
	run("apply", submit("apply"), chromedp.WaitVisible(chromedp.ID("result")))
	if got := text("#result"); !strings.Contains(got, "pptp passthrough disabled") || !strings.Contains(got, "Commit complete.") {
		t.Fatalf("apply said %q", got)
	}
	if out := shellCmd("show passthrough"); !regexp.MustCompile(`(?m)^pptp\s+disabled`).MatchString(out) {
		t.Fatalf("show passthrough after the page's commit:\n%s", out)
	}
	if pptp() {
		t.Fatal("PPTP passed with the switch off")
	}
	if out := shellCmd("show passthrough"); !regexp.MustCompile(`(?m)^pptp\s+disabled\s.*\n.*blocked [1-9]`).MatchString(out) {
		t.Errorf("show passthrough does not count the blocked PPTP attempt:\n%s", out)
	}
	run("see the blocked count", chromedp.Navigate("https://192.168.1.1/vpn"), chromedp.WaitVisible(chromedp.ID("proto-pptp")))
	if got := text("#proto-pptp .blocked"); got == "0" || got == "" {
		t.Errorf("the page's PPTP blocked counter is %q", got)
	}
	shot("vpn")
	run("turn PPTP on", chromedp.SetAttributeValue(chromedp.ID("pptp"), "checked", ""),
		submit("vpn-save"), chromedp.WaitVisible(chromedp.CSS(".notice.good")),
		chromedp.Navigate("https://192.168.1.1/changes"), submit("apply"), chromedp.WaitVisible(chromedp.ID("result")))
	if !pptp() {
		t.Fatal("PPTP does not pass after the page turned it back on")
	}

	// A port forward, reached from the WAN.
	l.listenTCP("lan1", 9000, "socat", "TCP-LISTEN:9000,fork,reuseaddr", "SYSTEM:echo hello from the forward")
	run("add a forward", chromedp.Navigate("https://192.168.1.1/forwards"), chromedp.WaitVisible(chromedp.ID("fw-name")),
		chromedp.SetValue(chromedp.ID("fw-name"), "cam"), chromedp.SetValue(chromedp.ID("fw-port"), "8081"),
		chromedp.SetValue(chromedp.ID("fw-to"), "192.168.1.50"), chromedp.SetValue(chromedp.ID("fw-to-port"), "9000"),
		submit("forward-add"), chromedp.WaitVisible(chromedp.CSS(".notice.good")),
		chromedp.Navigate("https://192.168.1.1/changes"), submit("apply"), chromedp.WaitVisible(chromedp.ID("result")))
	if got := text("#result"); !strings.Contains(got, "Commit complete.") {
		t.Fatalf("apply of the forward said %q", got)
	}
	if out, _ := l.in("wan", "socat", "-T", "3", "-", "TCP:203.0.113.2:8081,connect-timeout=3"); !strings.Contains(out, "hello from the forward") {
		t.Fatalf("a WAN host did not reach the forward: %q\n%s", out, shellCmd("show configuration commands"))
	}
	run("forwards page", chromedp.Navigate("https://192.168.1.1/forwards"), chromedp.WaitVisible(chromedp.ID("forwards")))
	shot("forwards")
	for _, p := range []string{"leases", "nat", "system"} {
		run(p+" page", chromedp.Navigate("https://192.168.1.1/"+p), chromedp.WaitVisible(chromedp.CSS("h1")))
		shot(p)
	}
	// On a phone.
	run("phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate("https://192.168.1.1/vpn"),
		chromedp.WaitVisible(chromedp.CSS("h1")), chromedp.Sleep(6*time.Second)) // the session table's refresh runs once
	shot("vpn-phone")
	if out := shellCmd("show system commit"); strings.Count(out, "web admin from 192.168.1.50") < 3 {
		t.Errorf("show system commit does not list the page's 3 commits:\n%s", out)
	}

	// "service web disable" stops the page at commit; enable brings it back.
	https := func() bool {
		_, err := l.in("lan1", "curl", "-ksS", "--max-time", "4", "-o", "/dev/null", "https://192.168.1.1/login")
		return err == nil
	}
	if out := shellCmd("configure; set service web disable; commit"); !strings.Contains(out, "web page stopped") || https() {
		t.Errorf("service web disable: the page still answers, or the commit did not say so:\n%s", out)
	}
	if out := shellCmd("show system"); !regexp.MustCompile(`Web page\s+off \(service web disable\)`).MatchString(out) {
		t.Errorf("show system with the page off:\n%s", out)
	}
	if out := shellCmd("configure; set service web enable; commit"); !strings.Contains(out, "web page started") || !https() {
		t.Errorf("service web enable: the page does not answer, or the commit did not say so:\n%s", out)
	}

	// Every request the browser made went to the router; the session
	// table's script refreshed it.
	if !slices.Contains(requests(), "https://192.168.1.1/vpn/sessions") {
		t.Errorf("the VPN page's script never fetched /vpn/sessions: %q", requests())
	}
	for _, u := range requests() {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "data" && p.Host != "192.168.1.1") {
			t.Errorf("the browser loaded %s, outside the router", u)
		}
	}
	// Nothing the pages do breaks their own Content-Security-Policy, and
	// no script fails.
	for _, m := range console() {
		if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("browser console: %s (%s)", m, m.URL)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// runOut runs a program and returns its combined output.
func runOut(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// startBrowser starts headless chromium in lan1 and returns a chromedp
// context steering it, and a function listing every URL it requested.
// chromedp talks to chromium over the two pipes it hands it (fds 3 and
// 4); "ip netns exec" keeps them, so the browser runs in the LAN host's
// namespace and the test steers it from here.
func startBrowser(t *testing.T, l *lab) (ctx context.Context, requests func() []string, console func() []chromedp.ConsoleMessage) {
	t.Helper()
	wrapper := l.script("chromium-lan1", "exec ip netns exec "+l.ns("lan1")+" chromium \"$@\"\n")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(wrapper), chromedp.NoSandbox,
		chromedp.IgnoreCertErrors, chromedp.UserDataDir(filepath.Join(l.dir, "chromium")), chromedp.WindowSize(1200, 900),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-component-update", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); acancel() })
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("chromium: Network.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("chromium: Log.enable: %v", err)
	}
	var mu sync.Mutex
	var urls []string
	var said []chromedp.ConsoleMessage
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			said = append(said, m)
			mu.Unlock()
		}
	}()
	events := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for e, err := range events {
			if err != nil {
				return
			}
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	}()
	return ctx, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), urls...)
		}, func() []chromedp.ConsoleMessage {
			mu.Lock()
			defer mu.Unlock()
			return append([]chromedp.ConsoleMessage(nil), said...)
		}
}
