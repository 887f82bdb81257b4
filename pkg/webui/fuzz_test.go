package webui

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzForms posts what a hostile (or confused) logged-in browser could
// send to every form: any fields, any values. The page must answer
// without a server error, and nothing is committed: forms only change
// the session's candidate.
func FuzzForms(f *testing.F) {
	f.Add(0, "name=cam&protocol=tcp&port=8080&to=192.168.1.50&to-port=80")
	f.Add(1, "dmz=10.9.9.9")
	f.Add(2, "name=%00%ff&mac=aa:bb:cc:dd:ee:ff&ip=192.168.1.5&hostname=<script>")
	f.Add(3, "lan-address=1.2.3.4/33&range-start=x&range-end=")
	f.Add(4, "filtering=none&mss-clamp=99999&timeout-udp=-1&max-sessions=1e9")
	f.Add(5, "key-name=a&key=ssh-rsa%20AAAA")
	f.Add(6, "hostname="+strings.Repeat("h", 300))
	f.Add(7, "pptp=on&esp-mode=%0a")
	r := newRig(f, nil)
	before := r.router.Config().Clone()
	paths := []string{}
	for p := range r.srv.actions() {
		paths = append(paths, p)
	}
	paths = append(paths, "/system/upload", "/changes/discard")
	slices.Sort(paths)
	f.Fuzz(func(t *testing.T, which int, body string) {
		// A session of its own: each input starts from no changes.
		sess := r.srv.ss.create(netip.MustParseAddr("192.168.1.20"), r.clock())
		defer r.srv.ss.end(sess.token)
		path := paths[uint(which)%uint(len(paths))]
		form, err := url.ParseQuery(body)
		if err != nil {
			form = url.Values{"config": {body}}
		}
		form.Set("csrf", sess.csrf)
		req := httptest.NewRequest("POST", "https://192.168.1.1"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess.token})
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { r.srv.Handler().ServeHTTP(w, req); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("POST %s %q hangs:\n%s", path, body, buf[:runtime.Stack(buf, true)])
		}
		if w.Code >= 500 {
			t.Fatalf("POST %s %q = %d\n%s", path, body, w.Code, w.Body)
		}
		if !r.router.Config().Equal(before) {
			t.Fatalf("POST %s %q committed something", path, body)
		}
		// The candidate always stays one the configuration accepts.
		if _, _, err := r.srv.candidate(sess); err != nil {
			t.Fatalf("POST %s %q left a candidate that does not apply: %v", path, body, err)
		}
	})
}
