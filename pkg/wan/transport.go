package wan

import (
	"context"
	"net/netip"
	"time"
)

// Transport carries DHCP messages (UDP payloads) on the WAN port. The data
// plane provides it; FrameConn is a ready implementation over Ethernet
// frames.
type Transport interface {
	// Send sends one DHCP client message from UDP port 68 to port 67. An
	// invalid to means broadcast (IPv4 255.255.255.255, Ethernet
	// broadcast); a valid to is a unicast to the server (RENEWING, RELEASE).
	// An invalid from means source 0.0.0.0; the client sets it to its
	// leased address when it has one. Send must not keep msg. An error is
	// counted and the message treated as lost; the client retransmits.
	Send(msg []byte, to, from netip.Addr) error
	// Recv returns the next DHCP message received on port 68, or ctx's
	// error when ctx is done. Any other error is counted and the client
	// calls Recv again after a pause (RecvErrorBackoff); it never gives
	// up. The client owns the returned slice.
	Recv(ctx context.Context) ([]byte, error)
}

// Clock is the client's time source. Tests inject a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, from
	// whatever advances time) once d has elapsed. f must not be called
	// after Stop has returned true.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened yet, reporting
	// whether it did so.
	Stop() bool
}

// SystemClock is the real clock (time.Now, time.AfterFunc).
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
