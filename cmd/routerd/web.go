package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/loginlimit"
	"github.com/passgate/passgate/pkg/passhash"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/webui"
)

// webService is the admin page's listeners while "service web" is
// enabled.
type webService struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// setUpWeb makes the page's server (its certificate is made once and kept
// beside the SSH host key) and starts it when the configuration says so.
// The page shares the shell and the login limiter with SSH.
// The certificate is the one pre made at start-up (in parallel with the
// ports' set-up) when it was made for the same names, else made here.
func (r *router) setUpWeb(ctx context.Context, sh *shell.Shell, limiter *loginlimit.Limiter, pre *prestart) {
	r.mu.Lock()
	names := webCertNames(r.cfg)
	r.mu.Unlock()
	lan := names[0]
	var cert *webui.Cert
	var err error
	if pre != nil {
		// Waited for even when it is not used: a certificate made here
		// must not race the one made at start-up to the same file.
		cert, err = pre.webCert.get()
	}
	if pre == nil || !slices.Equal(pre.webFor, names) {
		cert, err = webui.LoadOrCreateCert(r.stateDir, names)
	}
	if err != nil {
		r.logf("web page: no certificate: %v", err)
		return
	}
	for _, n := range cert.Notices {
		r.logf("web page: WARNING: %s", n)
	}
	srv, err := webui.New(webui.Options{Shell: sh, Router: shellRouter{r}, Limiter: limiter, Verify: passhash.Verify,
		Cert: cert, Logf: r.logf})
	if err != nil {
		r.logf("web page: %v", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.webSrv, r.webCert, r.webCtx = srv, cert.Fingerprint, ctx
	if err := r.syncWebLocked(config.Running(r.running, r.cfg)); err != nil {
		r.logf("web page: %v", err)
	}
	if r.web != nil {
		// On the console too: the owner compares it with what the
		// browser shows before trusting the certificate.
		fmt.Printf("passgate web page: https://%s/ certificate %s\n", lan, cert.Fingerprint)
	}
}

func (r *router) hostnameLocked() string { return hostnameOf(r.cfg) }

func hostnameOf(cfg *config.Config) string {
	if h := cfg.System.Hostname; h != "" {
		return h
	}
	return "passgate"
}

// webCertNames are the names the page's certificate is made for: the
// LAN address first, the host name, and "passgate".
func webCertNames(cfg *config.Config) []string {
	return []string{cfg.Interfaces.LAN.Address.Addr().String(), hostnameOf(cfg), "passgate"}
}

// webAddrs are where the page listens: the router's IPv4 LAN address,
// and its own IPv6 addresses (as for SSH, sshAddrs: pkg/fw6 drops every
// packet from the WAN to them). HTTPS on 443, the redirect on 80. The
// page is never offered on the WAN: there is no forward to it.
func (r *router) webAddrs(live *config.Config) (tls, plain []string) {
	lan := live.Interfaces.LAN.Address.Addr().String()
	tls = []string{"tcp4 " + net.JoinHostPort(lan, "443")}
	plain = []string{"tcp4 " + net.JoinHostPort(lan, "80")}
	if !live.Interfaces.LAN.IPv6.Disabled {
		tls = append(tls, "tcp6 [::]:443")
		plain = append(plain, "tcp6 [::]:80")
	}
	return tls, plain
}

// syncWebLocked starts or stops the page to match live. r.mu is held.
func (r *router) syncWebLocked(live *config.Config) error {
	if r.webSrv == nil {
		return nil // not set up (yet): setUpWeb syncs
	}
	if !live.Service.Web.Enabled {
		if r.web != nil {
			r.web.cancel()
			<-r.web.done
			r.web = nil
			r.logf("web page stopped")
		}
		return nil
	}
	if r.web != nil {
		return nil
	}
	tlsAddrs, plainAddrs := r.webAddrs(live)
	ctx, cancel := context.WithCancel(r.webCtx)
	var lns []net.Listener
	var plain []bool
	var problems []string
	for i, a := range append(tlsAddrs, plainAddrs...) {
		network, addr, _ := strings.Cut(a, " ")
		ln, err := net.Listen(network, addr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("listen %s: %v", addr, err))
			continue
		}
		lns = append(lns, ln)
		plain = append(plain, i >= len(tlsAddrs))
	}
	if len(lns) == 0 {
		cancel()
		r.webProblem = strings.Join(problems, "; ")
		return fmt.Errorf("not served: %s", r.webProblem)
	}
	r.webProblem = ""
	for _, p := range problems {
		r.logf("web page: %s", p)
	}
	svc := &webService{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for i, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve := r.webSrv.ServeTLS
			if plain[i] {
				serve = r.webSrv.ServeRedirect
			}
			if err := serve(ctx, ln); err != nil && ctx.Err() == nil {
				r.logf("web page on %s stopped: %v", ln.Addr(), err)
			}
		}()
	}
	go func() { wg.Wait(); close(svc.done) }()
	r.web = svc
	return nil
}

// webInfo is the page's line in show system.
func (r *router) webInfo() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.webSrv == nil:
		return ""
	case r.web == nil && r.webProblem != "":
		return "not served: " + r.webProblem
	case r.web == nil:
		return "off (service web disable); certificate " + r.webCert
	}
	return fmt.Sprintf("https://%s/ certificate %s", r.cfg.Interfaces.LAN.Address.Addr(), r.webCert)
}

// loadAverage is /proc/loadavg's first three figures ("" if unreadable).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
