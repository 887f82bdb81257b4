package updatefetch

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	for _, c := range []struct{ url, err string }{
		{"http://192.0.2.1/passgate-qemu-arm64-2.0.pgu", ""},
		{"https://updates.example/a/b.pgu?x=1", ""},
		{"ftp://192.0.2.1/x.pgu", "http:// or https:// only"},
		{"192.0.2.1/x.pgu", "http:// or https:// only"},
		{"file:///etc/passwd", "http:// or https:// only"},
		{"http:///x.pgu", "names no server"},
		{"https://owner:secret@192.0.2.1/x.pgu", "carries a user name or password"},
		{"http://192.0.2.1/" + strings.Repeat("a", MaxURL), "at most 2048"},
		{"http://[::1/x", "is not a URL"},
	} {
		_, err := CheckURL(c.url)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("CheckURL(%.60q) = %v, want %q", c.url, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the password is in the message: %v", err)
		}
	}
}

func serve(t *testing.T, h http.HandlerFunc) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func fetch(t *testing.T, url string, max int64) ([]byte, error) {
	t.Helper()
	rc, err := Get(context.Background(), nil, url, max)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestGet(t *testing.T) {
	file := bytes.Repeat([]byte("passgate"), 1<<15)
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/u.pgu":
			w.Header().Set("Content-Length", strconv.Itoa(len(file)))
			w.Write(file)
		case "/moved":
			http.Redirect(w, r, "/u.pgu", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/elsewhere":
			http.Redirect(w, r, "ftp://192.0.2.1/u.pgu", http.StatusFound)
		case "/chunked":
			// No length: the limit is found while reading.
			w.(http.Flusher).Flush()
			w.Write(file)
		default:
			http.NotFound(w, r)
		}
	})
	if got, err := fetch(t, base+"/u.pgu", int64(len(file))); err != nil || !bytes.Equal(got, file) {
		t.Fatalf("the file: %v, %d bytes", err, len(got))
	}
	if got, err := fetch(t, base+"/moved", int64(len(file))); err != nil || !bytes.Equal(got, file) {
		t.Fatalf("after a redirect: %v, %d bytes", err, len(got))
	}
	for _, c := range []struct {
		path string
		max  int64
		err  string
	}{
		{"/missing.pgu", 1 << 20, `the server answered "404 Not Found"`},
		{"/u.pgu", int64(len(file)) - 1, "the file has 262144 bytes; an update has at most 262143"},
		{"/chunked", int64(len(file)) - 1, "longer than an update can be"},
		{"/loop", 1 << 20, "more than 5 redirects"},
		{"/elsewhere", 1 << 20, "not http or https"},
	} {
		_, err := fetch(t, base+c.path, c.max)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.path, err, c.err)
		}
	}
}

func TestGetStalled(t *testing.T) {
	stallTimeout = 200 * time.Millisecond
	defer func() { stallTimeout = StallTimeout }()
	release := make(chan struct{})
	defer close(release)
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("PGU"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	start := time.Now()
	_, err := fetch(t, base+"/u.pgu", 1<<20)
	if err == nil || !strings.Contains(err.Error(), "nothing came for 200ms") {
		t.Fatalf("a stalled download: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a stalled download took %v to end", d)
	}
}

func TestGetCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Get(ctx, nil, "http://192.0.2.1/u.pgu", 1); err == nil {
		t.Fatal("a cancelled fetch went on")
	}
}
