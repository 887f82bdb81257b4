package webui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// Cookie names. The __Host- prefix makes the browser keep them only from
// HTTPS, for this host and path "/", so no other site (nor a plain HTTP
// page) can set or read them.
const (
	sessionCookie = "__Host-passgate"
	loginCookie   = "__Host-passgate-login"
)

// maxEdits bounds the changes a session may queue before applying them.
const maxEdits = 200

// session is one logged-in browser.
type session struct {
	token   string
	csrf    string
	from    netip.Addr
	created time.Time
	seen    time.Time

	// The candidate: Replace (an uploaded configuration) and then the
	// edits, on the committed configuration of the moment they apply.
	replace *config.Config
	edits   []shell.Edit
	// result is the shell's output of the last apply, shown once.
	result *applyResult
	flash  string
}

type applyResult struct {
	OK        bool
	Output    string
	Confirmed int // minutes of a commit confirmed, 0 for a plain commit
	// NewAddress is the router's new LAN address when the commit moved
	// it: it takes effect after a reboot, and the commit is confirmed
	// there.
	NewAddress string
}

// sessions holds the logged-in browsers, at most max of them: a new login
// beyond that ends the session that was idle longest.
type sessions struct {
	mu       sync.Mutex
	byToken  map[string]*session
	max      int
	idle     time.Duration
	lifetime time.Duration
}

func newSessions(max int, idle, lifetime time.Duration) *sessions {
	return &sessions{byToken: map[string]*session{}, max: max, idle: idle, lifetime: lifetime}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for a login from addr.
func (ss *sessions) create(from netip.Addr, now time.Time) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for len(ss.byToken) >= ss.max {
		var oldest *session
		for _, s := range ss.byToken {
			if oldest == nil || s.seen.Before(oldest.seen) {
				oldest = s
			}
		}
		delete(ss.byToken, oldest.token)
	}
	s := &session{token: randomToken(), csrf: randomToken(), from: from, created: now, seen: now}
	ss.byToken[s.token] = s
	return s
}

// lookup returns the session of token, or why there is none: expired is
// true when it existed and ran out of time (idle or too old).
func (ss *sessions) lookup(token string, now time.Time) (s *session, expired bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s = ss.byToken[token]
	if s == nil {
		return nil, false
	}
	if now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.lifetime {
		delete(ss.byToken, token)
		return nil, true
	}
	s.seen = now
	return s, false
}

func (ss *sessions) end(token string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byToken, token)
}

// with runs f with the sessions' lock held: the session's candidate is
// read and changed under it.
func (ss *sessions) with(f func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f()
}

// sameToken compares a submitted token with the expected one in constant
// time; an empty expected token matches nothing.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}
