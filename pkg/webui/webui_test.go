package webui

import (
	"context"
	"errors"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/loginlimit"
	"github.com/passgate/passgate/pkg/passhash"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

const (
	testPassword = "correct horse battery staple"
	testHash     = "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."
)

var epoch = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

type rig struct {
	t      testing.TB
	router *shelltest.Router
	sh     *shell.Shell
	srv    *Server
	ts     *httptest.Server
	c      *http.Client
	limit  *loginlimit.Limiter

	mu  sync.Mutex
	now time.Time
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// newRig serves the page on a fake router whose configuration is the
// factory one, changed by edit.
func newRig(t testing.TB, edit func(*config.Config)) *rig {
	t.Helper()
	clock := shelltest.NewClock(epoch)
	cfg := config.Default()
	cfg.System.Admin.PasswordHash = testHash
	if edit != nil {
		edit(cfg)
	}
	st := config.NewStore(t.TempDir())
	st.Now = clock.Now
	router, err := shelltest.NewRouter(st, cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	sh := shell.New(router, shell.Options{Clock: clock})
	r := &rig{t: t, router: router, sh: sh, now: epoch, limit: loginlimit.New()}
	cert, err := LoadOrCreateCert(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	r.srv, err = New(Options{Shell: sh, Router: router, Verify: passhash.Verify, Cert: cert, Now: r.clock, Limiter: r.limit})
	if err != nil {
		t.Fatal(err)
	}
	r.ts = httptest.NewUnstartedServer(r.srv.Handler())
	r.ts.TLS = r.srv.TLSConfig()
	r.ts.StartTLS()
	t.Cleanup(r.ts.Close)
	r.c = r.newClient()
	return r
}

func (r *rig) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := r.ts.Client()
	return &http.Client{Transport: c.Transport, Jar: jar}
}

type resp struct {
	code int
	body string // as sent
	text string // with HTML entities decoded, for what a user reads
	h    http.Header
	url  string
}

func (r *rig) do(c *http.Client, req *http.Request) resp {
	r.t.Helper()
	res, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(b), html.UnescapeString(string(b)), res.Header, res.Request.URL.Path}
}

func (r *rig) get(path string) resp {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.ts.URL+path, nil)
	return r.do(r.c, req)
}

func (r *rig) post(path string, form url.Values) resp {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r.do(r.c, req)
}

var (
	tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)
	csrfRE  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func (r *rig) login(password string) resp {
	r.t.Helper()
	page := r.get("/login")
	m := tokenRE.FindStringSubmatch(page.body)
	if m == nil {
		r.t.Fatalf("login page has no token:\n%s", page.body)
	}
	return r.post("/login", url.Values{"token": {m[1]}, "password": {password}, "next": {"/"}})
}

// csrf logs in if needed and returns the session's CSRF token.
func (r *rig) csrf() string {
	r.t.Helper()
	p := r.get("/system")
	if p.url == "/login" {
		if res := r.login(testPassword); res.code != 200 {
			r.t.Fatalf("login: %d\n%s", res.code, res.body)
		}
		p = r.get("/system")
	}
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		r.t.Fatalf("no csrf token on /system (%d %s)", p.code, p.url)
	}
	return m[1]
}

func (r *rig) form(path string, kv ...string) resp {
	r.t.Helper()
	f := url.Values{"csrf": {r.csrf()}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return r.post(path, f)
}

func TestPagesNeedALogin(t *testing.T) {
	r := newRig(t, nil)
	for _, p := range []string{"/", "/vpn", "/forwards", "/leases", "/nat", "/system", "/changes", "/vpn/sessions", "/system/config.txt"} {
		res := r.get(p)
		if res.url != "/login" || !strings.Contains(res.body, `id="password"`) {
			t.Errorf("GET %s without login ended at %s (%d), want the login page", p, res.url, res.code)
		}
	}
	res := r.post("/vpn", url.Values{"pptp": {""}})
	if res.url != "/login" || !r.router.Config().Passthrough.PPTP {
		t.Errorf("POST /vpn without login: ended at %s, pptp=%v", res.url, r.router.Config().Passthrough.PPTP)
	}
}

func TestLoginAndEveryPage(t *testing.T) {
	r := newRig(t, nil)
	if res := r.login(testPassword); res.code != 200 || res.url != "/" {
		t.Fatalf("login: %d at %s", res.code, res.url)
	}
	external := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*"(https?:)?//`)
	for _, m := range menu {
		res := r.get(m.Path)
		if res.code != 200 {
			t.Errorf("GET %s = %d\n%s", m.Path, res.code, res.body)
			continue
		}
		if !strings.Contains(res.body, "<h1>"+m.Title+"</h1>") {
			t.Errorf("GET %s has no heading %q", m.Path, m.Title)
		}
		if loc := external.FindString(res.body); loc != "" {
			t.Errorf("GET %s refers outside the router: %s", m.Path, loc)
		}
		csp := res.h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", m.Path, csp)
		}
		if res.h.Get("X-Content-Type-Options") != "nosniff" || res.h.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: headers %v", m.Path, res.h)
		}
	}
	for _, p := range []string{"/static/style.css", "/static/refresh.js"} {
		if res := r.get(p); res.code != 200 || len(res.body) < 100 {
			t.Errorf("GET %s = %d, %d bytes", p, res.code, len(res.body))
		}
	}
	if res := r.get("/no-such-page"); res.code != 404 {
		t.Errorf("GET /no-such-page = %d", res.code)
	}
}

func TestSessionCookieIsHostOnlySecureStrict(t *testing.T) {
	r := newRig(t, nil)
	page := r.get("/login")
	m := tokenRE.FindStringSubmatch(page.body)
	c := r.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", r.ts.URL+"/login", strings.NewReader(url.Values{"token": {m[1]}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: m[1]})
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var got *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookie {
			got = ck
		}
	}
	if got == nil || !got.Secure || !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/" || got.Domain != "" {
		t.Fatalf("session cookie %+v", got)
	}
}

func TestNoPasswordConfigured(t *testing.T) {
	r := newRig(t, func(c *config.Config) { c.System.Admin.PasswordHash = "" })
	page := r.get("/")
	if !strings.Contains(page.body, "No admin password is set") || !strings.Contains(page.body, "set system admin password-hash") || strings.Contains(page.body, `id="password"`) {
		t.Fatalf("page without a password:\n%s", page.body)
	}
	u, _ := url.Parse(r.ts.URL)
	var tok string
	for _, c := range r.c.Jar.Cookies(u) {
		if c.Name == loginCookie {
			tok = c.Value
		}
	}
	if res := r.post("/login", url.Values{"token": {tok}, "password": {""}}); tok == "" || res.code != http.StatusForbidden {
		t.Errorf("login without a configured password = %d (token %q)", res.code, tok)
	}
}

func TestWrongPasswordRefusedAndRateLimited(t *testing.T) {
	r := newRig(t, nil)
	for i := 0; i < 3; i++ {
		res := r.login("guess")
		if res.code != http.StatusUnauthorized || !strings.Contains(res.body, "Wrong password.") {
			t.Fatalf("wrong password %d: %d", i+1, res.code)
		}
	}
	res := r.login(testPassword) // even the right one waits its turn
	if res.code != http.StatusTooManyRequests || !strings.Contains(res.body, "Too many failed logins from 127.0.0.1") || res.h.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: %d Retry-After=%q\n%s", res.code, res.h.Get("Retry-After"), res.body)
	}
	if r.get("/").url != "/login" {
		t.Fatal("logged in although refused")
	}
	time.Sleep(1100 * time.Millisecond) // the limiter runs on the real clock
	if res := r.login(testPassword); res.code != 200 || res.url != "/" {
		t.Fatalf("after the wait: %d at %s", res.code, res.url)
	}
}

func TestSSHFailuresSlowTheWebLogin(t *testing.T) {
	r := newRig(t, nil)
	ip := netip.MustParseAddr("127.0.0.1")
	for range 3 {
		r.limit.Fail(ip) // as sshd does for wrong passwords
	}
	if res := r.login(testPassword); res.code != http.StatusTooManyRequests {
		t.Fatalf("login after 3 SSH failures = %d, want 429", res.code)
	}
}

func TestLoginFormNeedsItsCookie(t *testing.T) {
	r := newRig(t, nil)
	// A login form posted from another site has no token cookie.
	res := r.post("/login", url.Values{"token": {"x"}, "password": {testPassword}})
	if res.code != http.StatusForbidden || r.get("/").url != "/login" {
		t.Fatalf("login without the form's cookie = %d", res.code)
	}
}

func TestCSRFRefused(t *testing.T) {
	r := newRig(t, nil)
	r.csrf()
	for _, tok := range []string{"", "wrong"} {
		res := r.post("/vpn", url.Values{"csrf": {tok}, "l2tp": {"on"}, "ipsec": {"on"}})
		if res.code != http.StatusForbidden {
			t.Errorf("POST /vpn with csrf %q = %d, want 403", tok, res.code)
		}
	}
	r.post("/changes/apply", url.Values{"csrf": {"wrong"}})
	if !r.router.Config().Passthrough.PPTP || r.get("/changes").body == "" || strings.Contains(r.get("/changes").body, "passthrough pptp") {
		t.Error("a refused form changed something")
	}
	// A form from another origin is refused even with the token.
	req, _ := http.NewRequest("POST", r.ts.URL+"/changes/discard", strings.NewReader(url.Values{"csrf": {r.csrf()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if res := r.do(r.c, req); res.code != http.StatusForbidden {
		t.Errorf("cross-origin POST = %d", res.code)
	}
}

func TestSessionExpires(t *testing.T) {
	r := newRig(t, nil)
	r.csrf()
	r.advance(14 * time.Minute)
	if res := r.get("/"); res.url != "/" {
		t.Fatalf("session ended after 14 idle minutes")
	}
	r.advance(16 * time.Minute)
	res := r.get("/vpn")
	if res.url != "/login" || !strings.Contains(res.body, "Your session ended") {
		t.Fatalf("after 16 idle minutes: at %s\n%s", res.url, res.body)
	}
}

func TestLogout(t *testing.T) {
	r := newRig(t, nil)
	tok := r.csrf()
	r.post("/logout", url.Values{"csrf": {tok}})
	if r.get("/").url != "/login" {
		t.Fatal("still logged in after logout")
	}
}

func TestPassthroughOffShowsTheDiffAndApplies(t *testing.T) {
	r := newRig(t, nil)
	res := r.form("/vpn", "l2tp", "on", "ipsec", "on", "esp-mode", "spi-learning")
	if res.code != 200 || !strings.Contains(res.body, "Added to your changes: set passthrough pptp disable") {
		t.Fatalf("POST /vpn: %d\n%s", res.code, res.body)
	}
	if !r.router.Config().Passthrough.PPTP {
		t.Fatal("applied before Apply")
	}
	ch := r.get("/changes")
	if !strings.Contains(ch.text, "+ set passthrough pptp disable") || !strings.Contains(ch.body, "Changes (1)") {
		t.Fatalf("changes page:\n%s", ch.body)
	}
	res = r.form("/changes/apply")
	if !strings.Contains(res.body, "Commit complete.") || !strings.Contains(res.body, "Applied.") {
		t.Fatalf("apply:\n%s", res.body)
	}
	if r.router.Config().Passthrough.PPTP {
		t.Fatal("pptp still on after Apply")
	}
	h, _ := r.router.CommitHistory()
	if len(h) == 0 || h[0].Who != "web admin from 127.0.0.1" || h[0].Comment != "from the web page" {
		t.Fatalf("history: %+v", h)
	}
	// The shell sees the commit, and the page sees the shell's.
	var out strings.Builder
	r.sh.Run(context.Background(), "show system commit", &out)
	if !strings.Contains(out.String(), "web admin from 127.0.0.1") {
		t.Errorf("show system commit:\n%s", &out)
	}
	r.sh.Run(shell.WithUser(context.Background(), "ssh admin (key laptop) from 192.168.1.20:5000"), "configure; set passthrough pptp enable; commit", &out)
	if body := r.get("/system").body; !strings.Contains(body, "ssh admin (key laptop) from 192.168.1.20:5000") {
		t.Error("the System page does not list the shell's commit")
	}
	if body := r.get("/vpn").body; !strings.Contains(body, `id="pptp" name="pptp" value="on" checked`) {
		t.Error("the VPN page does not show pptp on again")
	}
}

func TestFieldErrorsAreTheConfigurationsOwn(t *testing.T) {
	r := newRig(t, nil)
	res := r.form("/forwards/add", "name", "cam", "protocol", "tcp", "port", "8080", "to", "not-an-address")
	if res.code != http.StatusBadRequest {
		t.Fatalf("bad address = %d", res.code)
	}
	// The message is config's own, next to the field, and the typed
	// values stay.
	c := config.Default()
	want := c.Set([]string{"nat", "port-forward", "cam", "to", "not-an-address"})
	var ce *config.Error
	if !errors.As(want, &ce) || !strings.Contains(res.body, template.HTMLEscapeString(ce.Msg)) {
		t.Fatalf("the page does not show %q:\n%s", want, res.body)
	}
	if !strings.Contains(res.body, `value="not-an-address"`) {
		t.Error("the typed value is gone")
	}
	res = r.form("/forwards/add", "name", "", "port", "8080", "to", "192.168.1.50")
	if res.code != http.StatusBadRequest || !strings.Contains(res.body, "required") {
		t.Errorf("empty name = %d", res.code)
	}
	if strings.Contains(r.get("/changes").body, "port-forward") {
		t.Error("a refused form left changes")
	}
	res = r.form("/forwards/add", "name", "cam", "protocol", "tcp", "port", "8080", "to", "192.168.1.50", "to-port", "80")
	if res.code != 200 {
		t.Fatalf("good forward = %d\n%s", res.code, res.body)
	}
	r.form("/changes/apply")
	fw := r.router.Config().NAT.PortForwards
	if len(fw) != 1 || fw[0].Name != "cam" || fw[0].To != netip.MustParseAddr("192.168.1.50") || fw[0].InternalPorts().String() != "80" {
		t.Fatalf("forwards %+v", fw)
	}
	r.form("/forwards/delete", "name", "cam")
	r.form("/changes/apply")
	if len(r.router.Config().NAT.PortForwards) != 0 {
		t.Error("forward not deleted")
	}
}

func TestInvalidCandidateIsNotApplied(t *testing.T) {
	r := newRig(t, nil)
	// Every line parses; the whole fails Validate: a DHCP range outside
	// the LAN.
	up := config.Default().String() + "set dhcp-server lan range 10.9.9.1 10.9.9.9\n"
	res := r.form("/system/upload", "config", up)
	if res.url != "/changes" || !strings.Contains(res.body, `id="apply" disabled`) || !strings.Contains(res.body, "notice bad error") {
		t.Fatalf("changes page for an invalid candidate:\n%s", res.body)
	}
	before := r.router.Config().Clone()
	res = r.form("/changes/apply") // the button is disabled; post anyway
	if !r.router.Config().Equal(before) {
		t.Fatal("an invalid candidate was applied")
	}
	if !strings.Contains(res.text, "Not applied.") || !strings.Contains(res.text, "Commit failed: nothing was applied.") {
		t.Fatalf("apply of an invalid candidate:\n%s", res.text)
	}
}

func TestHostileNamesAreEscaped(t *testing.T) {
	r := newRig(t, nil)
	evil := `<script>alert(1)</script>`
	r.router.Leases = append(r.router.Leases, shell.Lease{IP: netip.MustParseAddr("192.168.1.66"), MAC: mustMAC(t, "02:00:00:00:00:66"), Hostname: evil, Expires: epoch.Add(time.Hour)})
	r.router.PT.Sessions = append(r.router.PT.Sessions, shell.PassthroughSession{Protocol: "pptp", Host: netip.MustParseAddr("192.168.1.66"), IDs: evil})
	r.csrf()
	for _, p := range []string{"/leases", "/vpn", "/vpn/sessions"} {
		body := r.get(p).body
		if strings.Contains(body, evil) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not escape the host's name", p)
		}
	}
	// One click makes that lease static, with a name made safe.
	res := r.form("/leases/static", "hostname", evil, "mac", "02:00:00:00:00:66", "ip", "192.168.1.66")
	if res.code != 200 {
		t.Fatalf("make static = %d\n%s", res.code, res.body)
	}
	r.form("/changes/apply")
	st := r.router.Config().DHCPServer.LAN.Static
	if len(st) != 1 || st[0].Name != "scriptalert1script" || st[0].IP != netip.MustParseAddr("192.168.1.66") {
		t.Fatalf("static leases %+v", st)
	}
}

func TestRiskyChangesUseCommitConfirmed(t *testing.T) {
	r := newRig(t, nil)
	r.form("/system/web") // the checkbox unticked: the page off
	ch := r.get("/changes")
	if !strings.Contains(ch.body, "commit confirmed") {
		t.Fatalf("changes page does not warn:\n%s", ch.body)
	}
	res := r.form("/changes/apply")
	if !strings.Contains(res.body, "Applied with a commit confirmed") || !strings.Contains(res.body, `id="confirm"`) {
		t.Fatalf("apply:\n%s", res.body)
	}
	if _, ok := r.sh.Pending(); !ok || r.router.Config().Service.Web.Enabled {
		t.Fatal("not a pending commit confirmed")
	}
	res = r.form("/confirm")
	if _, ok := r.sh.Pending(); ok || !strings.Contains(res.body, "Commit confirmed") {
		t.Fatalf("confirm:\n%s", res.body)
	}
	h, _ := r.router.CommitHistory()
	if h[0].How != "commit confirmed 10" {
		t.Errorf("history %+v", h[0])
	}
}

func TestDownloadAndUpload(t *testing.T) {
	r := newRig(t, func(c *config.Config) { c.System.Hostname = "home" })
	r.csrf()
	dl := r.get("/system/config.txt")
	if dl.code != 200 || !strings.Contains(dl.body, "set system hostname home") || !strings.Contains(dl.h.Get("Content-Disposition"), "home.conf") {
		t.Fatalf("download: %d %v\n%s", dl.code, dl.h, dl.body)
	}
	up := strings.Replace(dl.body, "set system hostname home", "set system hostname office", 1)
	res := r.form("/system/upload", "config", up)
	if res.url != "/changes" || !strings.Contains(res.text, "+ set system hostname office") {
		t.Fatalf("upload: %d at %s\n%s", res.code, res.url, res.body)
	}
	r.form("/changes/apply")
	if r.router.Config().System.Hostname != "office" {
		t.Fatal("upload not applied")
	}
	res = r.form("/system/upload", "config", "set nat nonsense 1\n")
	if res.code != http.StatusBadRequest || !strings.Contains(res.body, "line 1") {
		t.Fatalf("bad upload: %d\n%s", res.code, res.body)
	}
}

func TestOnlyTheRoutersNames(t *testing.T) {
	r := newRig(t, func(c *config.Config) { c.System.Hostname = "gw" })
	for host, want := range map[string]int{"evil.example": 421, "gw": 200, "gw.lan": 200, "192.168.1.1": 200, "[fd00::1]": 200} {
		req, _ := http.NewRequest("GET", r.ts.URL+"/login", nil)
		req.Host = host
		if res := r.do(r.c, req); res.code != want {
			t.Errorf("Host %s = %d, want %d", host, res.code, want)
		}
	}
	rd := httptest.NewRecorder()
	r.srv.Redirect().ServeHTTP(rd, httptest.NewRequest("GET", "http://192.168.1.1/vpn", nil))
	if rd.Code != 301 || rd.Header().Get("Location") != "https://192.168.1.1/vpn" {
		t.Errorf("redirect: %d %q", rd.Code, rd.Header().Get("Location"))
	}
	rd = httptest.NewRecorder()
	r.srv.Redirect().ServeHTTP(rd, httptest.NewRequest("GET", "http://evil.example/", nil))
	if rd.Code != 421 {
		t.Errorf("redirect for another name: %d", rd.Code)
	}
}

func TestCertificateKeptAndReplacedWhenDamaged(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreateCert(dir, []string{"192.168.1.1", "passgate"})
	if err != nil || len(c1.Notices) != 0 {
		t.Fatal(err, c1.Notices)
	}
	c2, _ := LoadOrCreateCert(dir, nil)
	if c2.Fingerprint != c1.Fingerprint || !strings.HasPrefix(c1.Fingerprint, "SHA256 ") {
		t.Fatalf("fingerprints %q %q", c1.Fingerprint, c2.Fingerprint)
	}
	if fi, _ := os.Stat(filepath.Join(dir, CertFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	os.WriteFile(filepath.Join(dir, CertFile), []byte("garbage"), 0o600)
	c3, err := LoadOrCreateCert(dir, nil)
	if err != nil || c3.Fingerprint == c1.Fingerprint || len(c3.Notices) != 1 {
		t.Fatalf("damaged: %v %q %v", err, c3.Fingerprint, c3.Notices)
	}
	if l := c3.TLS.Leaf; l == nil || l.NotAfter.Year() != 9999 || l.NotBefore.Year() != 2000 {
		t.Errorf("validity %v", l)
	}
}

func TestLANAddressChangeIsConfirmedAtTheNewAddress(t *testing.T) {
	r := newRig(t, nil)
	// A new LAN alone leaves the DHCP range outside it: the range's
	// error shows next to its field and Apply is off.
	res := r.form("/leases/lan", "lan-address", "10.0.0.1/24", "range-start", "192.168.1.100", "range-end", "192.168.1.199")
	if res.code != 200 {
		t.Fatalf("LAN form = %d\n%s", res.code, res.text)
	}
	c := r.router.Config().Clone()
	c.Set([]string{"interfaces", "lan", "address", "10.0.0.1/24"})
	errs, _ := c.Validate()
	var rangeMsg string
	for _, e := range errs {
		if e.Path == "dhcp-server lan range" {
			rangeMsg = e.Msg
		}
	}
	if rangeMsg == "" || !strings.Contains(res.text, rangeMsg) {
		t.Fatalf("the range's error %q is not on the page:\n%s", rangeMsg, res.text)
	}
	if ch := r.get("/changes"); !strings.Contains(ch.body, `id="apply" disabled`) {
		t.Fatal("Apply is not disabled for an invalid candidate")
	}
	r.form("/changes/discard")
	r.form("/leases/lan", "lan-address", "10.0.0.1/24", "range-start", "10.0.0.100", "range-end", "10.0.0.199")
	res = r.form("/changes/apply")
	if !strings.Contains(res.text, "Applied with a commit confirmed") || !strings.Contains(res.body, `href="https://10.0.0.1/"`) || !strings.Contains(res.body, `id="reboot-now"`) {
		t.Fatalf("apply of a new LAN:\n%s", res.text)
	}
	if _, ok := r.sh.Pending(); !ok {
		t.Fatal("a new LAN address was not a commit confirmed")
	}
	if got := r.router.Config().Interfaces.LAN.Address.String(); got != "10.0.0.1/24" {
		t.Fatalf("LAN address %s", got)
	}
	res = r.form("/system/reboot")
	if res.code != 200 || r.router.Reboots != 1 || !strings.Contains(res.text, "The router is restarting") {
		t.Fatalf("reboot: %d, %d reboots\n%s", res.code, r.router.Reboots, res.text)
	}
}

// TestTemplatesParse: the page templates are parsed on the first page
// view, not in New (server.go), so a fault in one would show only when
// its page is opened; every one is parsed here, with the layout, and has
// the blocks the handlers execute.
func TestTemplatesParse(t *testing.T) {
	m, err := pages()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"status", "vpn", "forwards", "leases", "nat", "system", "changes", "login", "reboot"} {
		tpl, err := pageTemplate(name)
		if err != nil {
			t.Fatal(err)
		}
		if tpl.Lookup("layout.html") == nil {
			t.Errorf("page %s has no layout", name)
		}
	}
	if tpl, _ := pageTemplate("vpn"); tpl.Lookup("sessions") == nil {
		t.Error("page vpn has no sessions block (GET /vpn/sessions)")
	}
	if len(m) != 9 {
		t.Errorf("%d page templates, want 9 (a new page needs its name above)", len(m))
	}
	if _, err := pageTemplate("nope"); err == nil {
		t.Error("a page without a template was found")
	}
}
