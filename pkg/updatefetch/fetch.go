// Package updatefetch downloads a firmware update file for "system update
// URL": over HTTP or HTTPS (certificates checked), bounded in size, with
// time limits on connecting and on a download that stalls. It trusts
// nothing it fetches: the update file's signature (pkg/updatefile) is
// what makes an update acceptable, checked whole before anything is
// written.
package updatefetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/passgate/passgate/internal/tlsroots"
)

// MaxURL is the longest URL accepted.
const MaxURL = 2048

// Limits for one download.
const (
	ConnectTimeout = 20 * time.Second // TCP and TLS set-up
	HeaderTimeout  = 30 * time.Second // the answer's header once asked
	StallTimeout   = 60 * time.Second // a body that sends nothing for this long
	maxRedirects   = 5
)

// stallTimeout is StallTimeout; tests shorten it.
var stallTimeout = StallTimeout

// CheckURL says what is wrong with a URL given for an update: it must be
// http:// or https://, name a host, carry no password, and be at most
// MaxURL long.
func CheckURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURL {
		return nil, fmt.Errorf("the URL has %d characters: at most %d", len(raw), MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: the update is fetched with http:// or https:// only", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q names no server", raw)
	case u.User != nil:
		return nil, fmt.Errorf("%q carries a user name or password: put the file where it can be fetched without one (it is signed; the router checks it)", u.Redacted())
	}
	return u, nil
}

// Client is the HTTP client Get uses by default.
func Client() *http.Client {
	d := &net.Dialer{Timeout: ConnectTimeout}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:            d.DialContext,
			TLSHandshakeTimeout:    ConnectTimeout,
			ResponseHeaderTimeout:  HeaderTimeout,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("a redirect to %s, which is not http or https", req.URL.Redacted())
			}
			return nil
		},
	}
}

// Get starts downloading the update at raw with client (nil: Client()).
// The body it returns ends in an error, not silently, when it is longer
// than max bytes or sends nothing for StallTimeout; ctx ends it too. The
// caller closes it.
func Get(ctx context.Context, client *http.Client, raw string, max int64) (io.ReadCloser, error) {
	u, err := CheckURL(raw)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = Client()
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("User-Agent", "passgate-routerd")
	tlsroots.Ensure() // https (or a redirect to it): the system's roots, or the built-in ones on a board
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("fetching %s: %v", u.Redacted(), unwrapURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("fetching %s: the server answered %q", u.Redacted(), resp.Status)
	}
	if resp.ContentLength > max {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("fetching %s: the file has %d bytes; an update has at most %d", u.Redacted(), resp.ContentLength, max)
	}
	b := &body{rc: resp.Body, cancel: cancel, left: max, url: u.Redacted()}
	b.stall = time.AfterFunc(stallTimeout, func() {
		b.mu.Lock()
		b.stalled = true
		b.mu.Unlock()
		cancel()
	})
	return b, nil
}

// body is a download with its limits.
type body struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	stall  *time.Timer
	left   int64
	url    string

	mu      sync.Mutex
	stalled bool
}

func (b *body) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		b.stall.Reset(stallTimeout)
	}
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("fetching %s: the file is longer than an update can be", b.url)
	}
	if err != nil && err != io.EOF {
		b.mu.Lock()
		stalled := b.stalled
		b.mu.Unlock()
		if stalled {
			return n, fmt.Errorf("fetching %s: nothing came for %v", b.url, stallTimeout)
		}
		return n, fmt.Errorf("fetching %s: %v", b.url, err)
	}
	return n, err
}

func (b *body) Close() error {
	b.stall.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

// unwrapURLError drops net/http's "Get URL:" prefix, which the caller
// says in its own words.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
