package pppoe

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/passgate/passgate/pkg/peertext"
)

// Config configures a Client.
type Config struct {
	// MAC is the WAN port's address.
	MAC [6]byte
	// ServiceName is the service asked for; "" takes any.
	ServiceName string
	// ACName takes only the concentrator of this name; "" takes the first
	// acceptable offer.
	ACName string
	// MaxPayload asks for a PPP MTU above 1492 with RFC 4638's
	// PPP-Max-Payload tag (1493..1500); 0 or 1492 sends no tag.
	MaxPayload int
	// Rand is the source of Host-Uniq values; default crypto/rand.
	Rand io.Reader
}

// State is where the discovery stage is.
type State int

// The states.
const (
	Idle        State = iota // nothing sent; Start begins
	Discovering              // PADI sent, waiting for an offer
	Requesting               // PADR sent to the chosen concentrator
	Session                  // PADS received: the session is up
	Waiting                  // a failure or PADT: discovery restarts after a backoff
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Discovering:
		return "looking for a concentrator"
	case Requesting:
		return "requesting a session"
	case Session:
		return "session up"
	case Waiting:
		return "waiting to retry"
	}
	return fmt.Sprintf("state %d", int(s))
}

// Event is a transition the driver acts on: SessionUp or SessionDown.
type Event interface{ pppoeEvent() }

// SessionUp: PADS gave a session; PPP starts in it.
type SessionUp struct {
	ID         uint16
	AC         [6]byte
	ACName     string
	MaxPayload int // the PPP-Max-Payload the concentrator confirmed, 0 if none
}

// SessionDown: the concentrator ended the session (PADT).
type SessionDown struct{ Reason string }

func (SessionUp) pppoeEvent()   {}
func (SessionDown) pppoeEvent() {}

// Status is the client's state for show commands.
type Status struct {
	State       State
	SessionID   uint16
	ACMAC       [6]byte
	ACName      string
	ServiceName string
	MaxPayload  int
	LastError   string // in words
	PADISent    int    // in the current series
}

// Counters are the frames the client ignored, by reason.
type Counters struct {
	Malformed   uint64 // not a discovery packet
	NotForUs    uint64 // another destination, or not our Host-Uniq
	Unwanted    uint64 // an offer of another concentrator or service, or with an error
	Unexpected  uint64 // a code we do not wait for now (PADI/PADR from another client…)
	StrangePADT uint64 // PADT for another session or from another MAC
}

// Timers (RFC 2516 §5: resend doubling the wait; a router keeps trying).
const (
	firstTimeout = time.Second
	maxTimeout   = 32 * time.Second
	padrTries    = 3
	// stableSession is how long a session must last for the next failure
	// to start from the shortest backoff again.
	stableSession = time.Minute
)

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Client is the host side of PPPoE discovery (RFC 2516 §5). It is not
// safe for concurrent use: one goroutine drives it.
type Client struct {
	c   Config
	st  State
	cnt Counters

	hostUniq  []byte
	deadline  time.Time
	timeout   time.Duration // the current retransmission wait
	tries     int           // PADRs sent to the current concentrator
	padiSent  int
	backoff   time.Duration // the wait after the next failure
	upSince   time.Time
	lastError string
	// why remembers offers refused in the current series, for the
	// message when no concentrator is taken.
	why string

	ac         [6]byte
	acName     string
	service    []byte
	cookie     []byte
	relay      []byte
	hasRelay   bool
	sessionID  uint16
	maxPayload int
	events     []Event
}

// NewClient checks c and returns an idle client.
func NewClient(c Config) (*Client, error) {
	if len(c.ServiceName) > 255 || len(c.ACName) > 255 {
		return nil, errors.New("pppoe: service and concentrator names are at most 255 bytes")
	}
	if c.MaxPayload != 0 && (c.MaxPayload < 1492 || c.MaxPayload > 1500) {
		return nil, fmt.Errorf("pppoe: PPP-Max-Payload %d out of range 1492..1500", c.MaxPayload)
	}
	if c.MaxPayload == 1492 {
		c.MaxPayload = 0
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return &Client{c: c, backoff: firstTimeout}, nil
}

// Start begins discovery (again) and returns the PADI to broadcast.
func (c *Client) Start(now time.Time) [][]byte {
	c.reset()
	c.hostUniq = make([]byte, 8)
	if _, err := io.ReadFull(c.c.Rand, c.hostUniq); err != nil {
		binary.BigEndian.PutUint64(c.hostUniq, uint64(now.UnixNano()))
	}
	c.st, c.timeout, c.padiSent, c.why = Discovering, firstTimeout, 0, ""
	return [][]byte{c.padi(now)}
}

func (c *Client) reset() {
	c.ac, c.acName, c.service, c.cookie, c.relay, c.hasRelay = [6]byte{}, "", nil, nil, nil, false
	c.sessionID, c.maxPayload, c.tries = 0, 0, 0
}

func (c *Client) padi(now time.Time) []byte {
	c.padiSent++
	c.deadline = now.Add(c.timeout)
	return c.frame(broadcast, Discovery{Code: PADI, Tags: c.tags([]byte(c.c.ServiceName), nil)})
}

// tags are a PADI's or PADR's: Service-Name, Host-Uniq, PPP-Max-Payload,
// then what the concentrator wants echoed.
func (c *Client) tags(service []byte, echo []Tag) []Tag {
	t := []Tag{{TagServiceName, service}, {TagHostUniq, c.hostUniq}}
	if c.c.MaxPayload != 0 {
		t = append(t, Tag{TagPPPMaxPayload, binary.BigEndian.AppendUint16(nil, uint16(c.c.MaxPayload))})
	}
	return append(t, echo...)
}

func (c *Client) frame(dst [6]byte, d Discovery) []byte {
	b := AppendEthernet(make([]byte, 0, 64), dst, c.c.MAC, EtherTypeDiscovery)
	b, err := AppendDiscovery(b, d)
	if err != nil {
		// Only our own tags are in it, all bounded far below the limit.
		panic(err)
	}
	return b
}

// Deadline is when Tick must be called next; zero when nothing waits.
func (c *Client) Deadline() time.Time {
	if c.st == Idle || c.st == Session {
		return time.Time{}
	}
	return c.deadline
}

// Tick runs the timers: a PADI or PADR resent, the wait after a failure
// ended. It returns frames to send.
func (c *Client) Tick(now time.Time) [][]byte {
	if c.st == Idle || c.st == Session || now.Before(c.deadline) {
		return nil
	}
	switch c.st {
	case Discovering:
		c.timeout = min(c.timeout*2, maxTimeout)
		c.lastError = c.noOffer()
		return [][]byte{c.padi(now)}
	case Requesting:
		if c.tries >= padrTries {
			c.lastError = fmt.Sprintf("concentrator %q did not answer %d session requests (PADR)", c.acName, c.tries)
			return c.Start(now)
		}
		c.timeout = min(c.timeout*2, maxTimeout)
		return [][]byte{c.padr(now)}
	case Waiting:
		return c.Start(now)
	}
	return nil
}

func (c *Client) noOffer() string {
	s := fmt.Sprintf("no PPPoE concentrator answered (%d PADI sent)", c.padiSent)
	if c.why != "" {
		s += "; " + c.why
	}
	return s
}

func (c *Client) padr(now time.Time) []byte {
	c.tries++
	c.deadline = now.Add(c.timeout)
	var echo []Tag
	if c.cookie != nil {
		echo = append(echo, Tag{TagACCookie, c.cookie})
	}
	if c.hasRelay {
		echo = append(echo, Tag{TagRelaySessionID, c.relay})
	}
	return c.frame(c.ac, Discovery{Code: PADR, Tags: c.tags(c.service, echo)})
}

// HandleFrame takes a discovery frame (a complete, untagged Ethernet
// frame) and returns frames to send.
func (c *Client) HandleFrame(frame []byte, now time.Time) [][]byte {
	if len(frame) < ethHeaderLen || binary.BigEndian.Uint16(frame[12:]) != EtherTypeDiscovery {
		c.cnt.Malformed++
		return nil
	}
	d, err := ParseDiscovery(frame[ethHeaderLen:])
	if err != nil {
		c.cnt.Malformed++
		return nil
	}
	dst, src := [6]byte(frame[0:6]), [6]byte(frame[6:12])
	if dst != c.c.MAC && !(d.Code == PADT && dst == broadcast) {
		c.cnt.NotForUs++
		return nil
	}
	switch d.Code {
	case PADO:
		if c.st != Discovering {
			c.cnt.Unexpected++
			return nil
		}
		return c.offer(&d, src, now)
	case PADS:
		if c.st != Requesting || src != c.ac {
			c.cnt.Unexpected++
			return nil
		}
		return c.confirm(&d, now)
	case PADT:
		if c.st != Session || src != c.ac || d.SessionID != c.sessionID {
			c.cnt.StrangePADT++
			return nil
		}
		why := d.errorTag()
		if why == "" {
			why = "no reason given"
		}
		c.lastError = "the concentrator ended the session (PADT): " + why
		c.events = append(c.events, SessionDown{Reason: why})
		c.fail(now)
		return nil
	}
	c.cnt.Unexpected++
	return nil
}

// ours reports whether d echoes our Host-Uniq.
func (c *Client) ours(d *Discovery) bool {
	v, ok := d.Tag(TagHostUniq)
	return ok && bytes.Equal(v, c.hostUniq)
}

func (c *Client) offer(d *Discovery, src [6]byte, now time.Time) [][]byte {
	if !c.ours(d) {
		c.cnt.NotForUs++
		return nil
	}
	name, ok := d.Tag(TagACName)
	if !ok {
		c.cnt.Unwanted++
		c.why = "an offer without AC-Name was ignored"
		return nil
	}
	if e := d.errorTag(); e != "" {
		c.cnt.Unwanted++
		c.why = fmt.Sprintf("concentrator %q refused: %s", peertext.Clean(name, 128), e)
		return nil
	}
	if c.c.ACName != "" && string(name) != c.c.ACName {
		c.cnt.Unwanted++
		c.why = fmt.Sprintf("concentrator %q answered, but ac-name %q is configured", peertext.Clean(name, 128), c.c.ACName)
		return nil
	}
	var service []byte
	found := false
	for _, s := range d.TagsOf(TagServiceName) {
		if c.c.ServiceName == "" || string(s) == c.c.ServiceName {
			service, found = s, true
			break
		}
	}
	if !found && c.c.ServiceName != "" {
		c.cnt.Unwanted++
		c.why = fmt.Sprintf("concentrator %q offered no service %q", peertext.Clean(name, 128), c.c.ServiceName)
		return nil
	}
	if c.c.ServiceName == "" {
		service = nil // ask for any service, as in the PADI
	}
	c.ac, c.acName = src, peertext.Clean(name, 128)
	c.service = bytes.Clone(service)
	if v, ok := d.Tag(TagACCookie); ok {
		c.cookie = bytes.Clone(v)
	}
	if v, ok := d.Tag(TagRelaySessionID); ok {
		c.relay, c.hasRelay = bytes.Clone(v), true
	}
	c.st, c.timeout, c.tries = Requesting, firstTimeout, 0
	return [][]byte{c.padr(now)}
}

func (c *Client) confirm(d *Discovery, now time.Time) [][]byte {
	if !c.ours(d) {
		c.cnt.NotForUs++
		return nil
	}
	if e := d.errorTag(); e != "" || d.SessionID == 0 {
		if e == "" {
			e = "session ID 0"
		}
		c.lastError = fmt.Sprintf("concentrator %q refused the session: %s", c.acName, e)
		c.fail(now)
		return nil
	}
	c.sessionID, c.st, c.upSince = d.SessionID, Session, now
	c.maxPayload = 0
	if v, ok := d.Tag(TagPPPMaxPayload); ok && len(v) == 2 && c.c.MaxPayload != 0 {
		c.maxPayload = min(int(binary.BigEndian.Uint16(v)), c.c.MaxPayload)
	}
	c.events = append(c.events, SessionUp{ID: c.sessionID, AC: c.ac, ACName: c.acName, MaxPayload: c.maxPayload})
	return nil
}

// fail waits a backoff before discovering again.
func (c *Client) fail(now time.Time) {
	if c.st == Session && now.Sub(c.upSince) >= stableSession {
		c.backoff = firstTimeout
	}
	c.st = Waiting
	c.deadline = now.Add(c.backoff)
	c.backoff = min(c.backoff*2, maxTimeout)
	c.sessionID = 0
}

// Terminate ends the session (a PADT to the concentrator with reason as
// Generic-Error) and leaves the client idle; Start begins again. Outside
// a session it only stops discovery.
func (c *Client) Terminate(now time.Time, reason string) [][]byte {
	var out [][]byte
	if c.st == Session {
		r := []byte(reason)
		if len(r) > 255 {
			r = r[:255]
		}
		out = append(out, c.frame(c.ac, Discovery{Code: PADT, SessionID: c.sessionID,
			Tags: []Tag{{TagGenericError, r}}}))
	}
	c.reset()
	c.st = Idle
	return out
}

// Events returns the transitions since the last call and forgets them.
func (c *Client) Events() []Event {
	e := c.events
	c.events = nil
	return e
}

// Status returns the client's state.
func (c *Client) Status() Status {
	return Status{State: c.st, SessionID: c.sessionID, ACMAC: c.ac, ACName: c.acName, ServiceName: string(c.service),
		MaxPayload: c.maxPayload, LastError: c.lastError, PADISent: c.padiSent}
}

// Counters returns the frames ignored so far.
func (c *Client) Counters() Counters { return c.cnt }
