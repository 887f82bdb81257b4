package dhcpv6

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// UDP ports of DHCPv6 (RFC 8415 §7.2).
const (
	ClientPort = 546
	ServerPort = 547
)

// AllServers is All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1), where
// the client sends unless it unicasts to a server.
var AllServers = netip.MustParseAddr("ff02::1:2")

// MaxMessageLen is the largest DHCPv6 message a Transport sends or
// accepts: what fits in one unfragmented IPv6 datagram on a 1500-byte
// link. Larger messages are refused on Send and dropped on receipt.
const MaxMessageLen = 1500 - ipv6HeaderLen - udpHeaderLen

// Transport carries DHCPv6 messages (UDP payloads) on the WAN port. On the
// router it is a FrameConn fed by the data plane; MemLink is an in-memory
// one for tests.
type Transport interface {
	// Send sends one client message from UDP port 546 to port 547 of to,
	// or of AllServers when to is the zero Addr. Send must not keep msg.
	// An error is counted and the message treated as lost; the client
	// retransmits.
	Send(msg []byte, to netip.Addr) error
	// Recv returns the next message received on port 546 and the IPv6
	// address it came from, or ctx's error when ctx is done. Any other
	// error is counted and the client calls Recv again after a pause; it
	// never gives up. The client owns the returned slice.
	Recv(ctx context.Context) (msg []byte, from netip.Addr, err error)
}

// MemQueue is how many messages MemLink (and FrameConn) hold for the
// receiver before dropping new ones.
const MemQueue = 32

// MemLink is an in-memory Transport with a server end: what the client
// Sends, the server end receives (ServerRecv) with the destination it was
// sent to; what the server end sends (ServerSend) the client Recvs. Each
// direction holds at most MemQueue messages and drops the rest, as a
// link would. It copies every message. It is safe for concurrent use.
type MemLink struct {
	toServer chan memMsg
	toClient chan memMsg
	down     atomic.Bool

	mu      sync.Mutex
	dropped uint64
}

type memMsg struct {
	b    []byte
	addr netip.Addr
}

// ErrLinkDown is what MemLink's Send and Recv return while SetDown(true).
var ErrLinkDown = errors.New("dhcpv6: link down")

// NewMemLink returns an empty MemLink.
func NewMemLink() *MemLink {
	return &MemLink{toServer: make(chan memMsg, MemQueue), toClient: make(chan memMsg, MemQueue)}
}

// Send implements Transport.
func (l *MemLink) Send(msg []byte, to netip.Addr) error {
	if l.down.Load() {
		return ErrLinkDown
	}
	if len(msg) > MaxMessageLen {
		return fmt.Errorf("dhcpv6: message of %d bytes exceeds %d", len(msg), MaxMessageLen)
	}
	if !to.IsValid() {
		to = AllServers
	}
	l.put(l.toServer, memMsg{bytes.Clone(msg), to})
	return nil
}

// Recv implements Transport.
func (l *MemLink) Recv(ctx context.Context) ([]byte, netip.Addr, error) {
	if l.down.Load() {
		return nil, netip.Addr{}, ErrLinkDown
	}
	select {
	case m := <-l.toClient:
		return m.b, m.addr, nil
	case <-ctx.Done():
		return nil, netip.Addr{}, ctx.Err()
	}
}

// ServerSend queues msg for the client as if sent from the IPv6 address
// from. It never blocks: a full queue drops msg.
func (l *MemLink) ServerSend(msg []byte, from netip.Addr) {
	if len(msg) > MaxMessageLen {
		l.mu.Lock()
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.put(l.toClient, memMsg{bytes.Clone(msg), from})
}

// ServerRecv returns the next message the client sent and the address it
// was sent to, or ctx's error.
func (l *MemLink) ServerRecv(ctx context.Context) ([]byte, netip.Addr, error) {
	select {
	case m := <-l.toServer:
		return m.b, m.addr, nil
	case <-ctx.Done():
		return nil, netip.Addr{}, ctx.Err()
	}
}

// ServerPending returns, without waiting, the messages the client has
// sent since the last call, with their destinations.
func (l *MemLink) ServerPending() (msgs [][]byte, to []netip.Addr) {
	for {
		select {
		case m := <-l.toServer:
			msgs = append(msgs, m.b)
			to = append(to, m.addr)
		default:
			return msgs, to
		}
	}
}

// SetDown makes Send and Recv fail (true) or work again (false).
func (l *MemLink) SetDown(down bool) { l.down.Store(down) }

// Dropped counts messages dropped because a queue was full or a message
// too large.
func (l *MemLink) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

func (l *MemLink) put(ch chan memMsg, m memMsg) {
	select {
	case ch <- m:
	default:
		l.mu.Lock()
		l.dropped++
		l.mu.Unlock()
	}
}

var (
	_ Transport = (*MemLink)(nil)
	_ Transport = (*FrameConn)(nil)
)
