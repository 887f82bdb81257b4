package webui

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// clientAddr is the address of the browser (the limiter's key).
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return ap.Addr().Unmap()
}

// localPort is the router's port the request reached (443).
func localPort(r *http.Request) uint16 {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Port()
		}
	}
	return 0
}

// who names the browser's user for the log and the commit history.
func who(r *http.Request) string { return "web admin from " + clientAddr(r).String() }

// current returns the request's session, refreshing its idle time.
func (s *Server) current(r *http.Request) (sess *session, expired bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	return s.ss.lookup(c.Value, s.o.Now())
}

// safeNext is the page to return to after login: a local path only.
func safeNext(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.HasPrefix(p, "/login") || len(p) > 256 {
		return "/"
	}
	return p
}

type loginData struct {
	NoPassword bool
	Next       string
	Token      string
	Error      string
	Expired    bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, ld loginData) {
	if ld.Token == "" {
		ld.Token = randomToken()
	}
	// The login form's token is tied to a cookie of this browser: another
	// site cannot log the user in to an account of its choosing.
	setCookie(w, loginCookie, ld.Token, 30*time.Minute)
	ld.NoPassword = s.o.Router.Config().System.Admin.PasswordHash == ""
	s.render(w, status, "login", &pageData{Title: "Log in", Hostname: s.hostname(), Data: ld})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		if sess, _ := s.current(r); sess != nil {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		s.loginPage(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next")), Expired: r.URL.Query().Get("expired") != ""})
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	ld := loginData{Next: safeNext(r.PostForm.Get("next"))}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostForm.Get("token"), c.Value) {
		ld.Error = "The login form was out of date: try again."
		s.loginPage(w, r, http.StatusForbidden, ld)
		return
	}
	hash := s.o.Router.Config().System.Admin.PasswordHash
	if hash == "" {
		s.loginPage(w, r, http.StatusForbidden, ld)
		return
	}
	ip := clientAddr(r)
	// Failures are shared with SSH: guessing on either slows both.
	if d := s.o.Limiter.Peek(ip); d > 0 {
		secs := int((d + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		ld.Error = fmt.Sprintf("Too many failed logins from %s: try again in %d second(s).", ip, secs)
		s.logf("web: login from %s refused: too many failed logins, %d s to wait", ip, secs)
		s.loginPage(w, r, http.StatusTooManyRequests, ld)
		return
	}
	if d := s.o.Limiter.Wait(ip); d > 0 { // a parallel attempt took the turn
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	pw := r.PostForm.Get("password")
	ok := false
	if len(pw) <= 1024 {
		select {
		case s.pwSem <- struct{}{}:
			ok = s.o.Verify(hash, pw)
			<-s.pwSem
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		n := s.o.Limiter.Fail(ip)
		s.logf("web: failed login from %s: wrong password (%d failure(s) from there)", ip, n)
		ld.Error = "Wrong password."
		s.loginPage(w, r, http.StatusUnauthorized, ld)
		return
	}
	s.o.Limiter.Succeed(ip)
	sess := s.ss.create(ip, s.o.Now())
	s.logf("web: login admin from %s", ip)
	setCookie(w, loginCookie, "", -1)
	setCookie(w, sessionCookie, sess.token, 0)
	http.Redirect(w, r, ld.Next, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, sess *session) {
	s.ss.end(sess.token)
	setCookie(w, sessionCookie, "", -1)
	s.logf("web: logout from %s", clientAddr(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// authed is a handler for a logged-in browser.
type authed func(w http.ResponseWriter, r *http.Request, sess *session)

// auth lets only a logged-in browser through; a POST must also carry the
// session's CSRF token.
func (s *Server) auth(h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, expired := s.current(r)
		if sess == nil {
			setCookie(w, sessionCookie, "", -1)
			q := "/login?next=" + safeNext(r.URL.Path)
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				q = "/login"
			}
			if expired {
				q += map[bool]string{true: "?", false: "&"}[!strings.Contains(q, "?")] + "expired=1"
			}
			http.Redirect(w, r, q, http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			var err error
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				err = r.ParseMultipartForm(maxBody)
			} else {
				err = r.ParseForm()
			}
			if err != nil {
				http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), sess.csrf) {
				http.Error(w, "Refused: the form's security token does not match this session. Reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		h(w, r, sess)
	}
}
