package webui

import (
	"bytes"
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/passgate/passgate/pkg/loginlimit"
	"github.com/passgate/passgate/pkg/shell"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server. Zero values take the defaults named.
type Options struct {
	// Shell applies every change (its configuration model: candidate,
	// checks, commit, commit confirmed, history). Required.
	Shell *shell.Shell
	// Router gives the views (status, leases, sessions). Required.
	Router shell.Router
	// Limiter counts failed logins per source address; routerd shares
	// it with SSH. nil: one of the page's own.
	Limiter *loginlimit.Limiter
	// Verify checks a password against the configured hash
	// (passhash.Verify). Required.
	Verify func(hash, password string) bool
	// Cert is the TLS certificate (LoadOrCreateCert). Required to Serve.
	Cert *Cert
	// Logf receives logins, failed logins and errors (nil: discarded).
	Logf func(format string, args ...any)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// IdleTimeout ends a session without requests for this long (15m);
	// Lifetime ends any session this long after login (12h).
	IdleTimeout time.Duration
	Lifetime    time.Duration
	// MaxSessions logged-in browsers at once (16); MaxConns connections
	// per listener (64).
	MaxSessions int
	MaxConns    int
	// ConfirmMinutes is the time a risky change (LAN, SSH, web or a whole
	// uploaded configuration) has to be confirmed (10).
	ConfirmMinutes int
}

// Server is the admin page.
type Server struct {
	o     Options
	ss    *sessions
	mux   *http.ServeMux
	pwSem chan struct{} // one password check at a time (yescrypt: 16 MiB)

	mu      sync.Mutex
	servers []*http.Server
}

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.Shell == nil || o.Router == nil || o.Verify == nil {
		return nil, errors.New("webui: Shell, Router and Verify are required")
	}
	if o.Limiter == nil {
		o.Limiter = loginlimit.New()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&o.IdleTimeout, 15*time.Minute)
	def(&o.Lifetime, 12*time.Hour)
	defInt(&o.MaxSessions, 16)
	defInt(&o.MaxConns, 64)
	defInt(&o.ConfirmMinutes, 10)
	s := &Server{o: o, ss: newSessions(o.MaxSessions, o.IdleTimeout, o.Lifetime), pwSem: make(chan struct{}, 1)}
	s.routes()
	return s, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.o.Logf != nil {
		s.o.Logf(format, args...)
	}
}

var funcs = template.FuncMap{
	"bytes":  humanBytes,
	"dur":    humanDur,
	"join":   strings.Join,
	"onoff":  func(b bool) string { return map[bool]string{true: "on", false: "off"}[b] },
	"string": func(v fmt.Stringer) string { return v.String() },
}

// pages are the page templates by name, each parsed with layout.html:
// once per process, when the first page is rendered, not in New. The
// templates are built into the binary (and TestTemplatesParse parses
// them all), so New cannot find a fault there that a page view would
// not; parsing them cost 100-150 ms of the router's start-up on
// qemu-arm64 under TCG (docs/performance.md) for a page that may never
// be opened.
var pages = sync.OnceValues(func() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	m := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("webui: template %s: %w", n, err)
		}
		m[base] = t
	}
	return m, nil
})

// pageTemplate returns the template of page name, or why there is none.
func pageTemplate(name string) (*template.Template, error) {
	m, err := pages()
	if err != nil {
		return nil, err
	}
	t := m[name]
	if t == nil {
		return nil, fmt.Errorf("webui: no template for page %q", name)
	}
	return t, nil
}

// Handler is the HTTPS site.
func (s *Server) Handler() http.Handler { return s.guard(s.mux) }

// guard sets the security headers of every answer and refuses what the
// site never serves: a Host that is not the router (DNS rebinding), a
// cross-site POST, an oversized body.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes browsers send "Origin: null" on our own forms
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if !s.hostAllowed(r.Host) {
			http.Error(w, "This is the router's admin page: open it by the router's address or name.", http.StatusMisdirectedRequest)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPost:
			if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
				http.Error(w, "Refused: the form was sent from another site ("+o+").", http.StatusForbidden)
				return
			}
			if sf := r.Header.Get("Sec-Fetch-Site"); sf != "" && sf != "same-origin" && sf != "none" {
				http.Error(w, "Refused: the form was sent from another site.", http.StatusForbidden)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxBody bounds a request body: a form, or an uploaded configuration
// (config.MaxFileSize at most, plus the form around it).
const maxBody = 1<<20 + 64<<10

// hostAllowed accepts an IP literal (DNS rebinding needs a name) or the
// router's own host name, alone or in its DNS domain.
func (s *Server) hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	c := s.o.Router.Config()
	name := strings.ToLower(c.System.Hostname)
	if name == "" {
		name = "passgate"
	}
	host = strings.ToLower(host)
	return host == name || (c.DNS.Domain != "" && host == name+"."+strings.ToLower(c.DNS.Domain))
}

// Redirect is the plain HTTP site: every request goes to the same path
// over HTTPS.
func (s *Server) Redirect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !s.hostAllowed(host) {
			http.Error(w, "This is the router's admin page: open it by the router's address or name.", http.StatusMisdirectedRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + strings.Trim(host, "[]") + "]"
		}
		path := r.URL.Path
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
			path = "/"
		}
		http.Redirect(w, r, "https://"+host+path, http.StatusMovedPermanently)
	})
}

// TLSConfig is the HTTPS listener's: TLS 1.2 or newer, the certificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{s.o.Cert.TLS}}
}

// ServeTLS serves the page on ln (TLS is added here) until ctx ends.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	if s.o.Cert == nil {
		return errors.New("webui: no certificate")
	}
	return s.serve(ctx, tls.NewListener(netutil.LimitListener(ln, s.o.MaxConns), s.TLSConfig()), s.Handler())
}

// ServeRedirect serves the plain HTTP redirect on ln until ctx ends.
func (s *Server) ServeRedirect(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, netutil.LimitListener(ln, s.o.MaxConns), s.Redirect())
}

func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		// Browsers refusing the self-signed certificate are not news.
		ErrorLog:    log.New(io.Discard, "", 0),
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// render writes page name with data.
func (s *Server) render(w http.ResponseWriter, status int, name string, data *pageData) {
	t, err := pageTemplate(name)
	if err != nil {
		s.logf("web: %v", err)
		http.Error(w, "the page could not be made: "+err.Error(), http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.logf("web: page %s: %v", name, err)
		http.Error(w, "the page could not be made: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderFragment writes one named template of page name (no layout).
func (s *Server) renderFragment(w http.ResponseWriter, name, block string, data any) {
	t, err := pageTemplate(name)
	if err != nil {
		s.logf("web: %v", err)
		http.Error(w, "the page could not be made: "+err.Error(), http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanDur(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
