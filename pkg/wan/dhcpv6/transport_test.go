package dhcpv6

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	d6 "github.com/insomniacslk/dhcp/dhcpv6"
)

// peer is the server's side of a Transport under test.
type peer interface {
	// send offers msg to the client as if from the server at from.
	send(t *testing.T, msg []byte, from netip.Addr)
	// recv returns the next message the client sent and where to.
	recv(t *testing.T) ([]byte, netip.Addr)
}

var unicastServer = netip.MustParseAddr("2001:db8::547")

// transportContract is what the client relies on from any Transport; it
// runs against MemLink and FrameConn alike.
func transportContract(t *testing.T, setup func(t *testing.T) (Transport, peer)) {
	msg := func(n int, b byte) []byte {
		m := &d6.Message{MessageType: d6.MessageTypeReply, TransactionID: d6.TransactionID{b, b, b}}
		if n > 8 {
			m.AddOption(&d6.OptionGeneric{OptionCode: 0x7fff, OptionData: bytes.Repeat([]byte{b}, n-8)})
		}
		return m.ToBytes()
	}
	t.Run("SendToAllServers", func(t *testing.T) {
		tr, p := setup(t)
		m := msg(40, 1)
		if err := tr.Send(m, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		got, to := p.recv(t)
		if !bytes.Equal(got, m) || to != AllServers {
			t.Errorf("server got %x to %v, want %x to %v", got, to, m, AllServers)
		}
	})
	t.Run("SendUnicast", func(t *testing.T) {
		tr, p := setup(t)
		m := msg(40, 2)
		if err := tr.Send(m, unicastServer); err != nil {
			t.Fatal(err)
		}
		if got, to := p.recv(t); !bytes.Equal(got, m) || to != unicastServer {
			t.Errorf("server got %x to %v", got, to)
		}
	})
	t.Run("SendDoesNotKeepMessage", func(t *testing.T) {
		tr, p := setup(t)
		m := msg(40, 3)
		want := bytes.Clone(m)
		if err := tr.Send(m, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		for i := range m {
			m[i] = 0xee
		}
		if got, _ := p.recv(t); !bytes.Equal(got, want) {
			t.Errorf("server got %x after the client reused its buffer, want %x", got, want)
		}
	})
	t.Run("SendSizeLimit", func(t *testing.T) {
		tr, p := setup(t)
		if err := tr.Send(msg(MaxMessageLen+1, 4), netip.Addr{}); err == nil {
			t.Error("a message over MaxMessageLen was sent")
		}
		m := msg(MaxMessageLen, 4)
		if err := tr.Send(m, netip.Addr{}); err != nil {
			t.Fatalf("a message of MaxMessageLen: %v", err)
		}
		if got, _ := p.recv(t); !bytes.Equal(got, m) {
			t.Error("the MaxMessageLen message arrived changed")
		}
	})
	t.Run("RecvInOrderWithSource", func(t *testing.T) {
		tr, p := setup(t)
		for i := range 5 {
			p.send(t, msg(30+i, byte(i)), serverLL)
		}
		for i := range 5 {
			got, from, err := tr.Recv(context.Background())
			if err != nil || !bytes.Equal(got, msg(30+i, byte(i))) || from != serverLL {
				t.Fatalf("message %d: %x from %v, %v", i, got, from, err)
			}
		}
	})
	t.Run("RecvOwnsItsCopy", func(t *testing.T) {
		tr, p := setup(t)
		m := msg(30, 5)
		p.send(t, m, serverLL)
		for i := range m {
			m[i] = 0
		}
		got, _, err := tr.Recv(context.Background())
		if err != nil || !bytes.Equal(got, msg(30, 5)) {
			t.Errorf("got %x, %v", got, err)
		}
	})
	t.Run("RecvHonoursContext", func(t *testing.T) {
		tr, _ := setup(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := tr.Recv(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("Recv with nothing to read: %v after %v", err, time.Since(start))
		}
	})
	t.Run("OversizeNotDelivered", func(t *testing.T) {
		tr, p := setup(t)
		p.send(t, msg(MaxMessageLen+1, 6), serverLL)
		p.send(t, msg(30, 7), serverLL)
		if got, _, err := tr.Recv(context.Background()); err != nil || !bytes.Equal(got, msg(30, 7)) {
			t.Errorf("got %x, %v; want only the small message", got, err)
		}
	})
	t.Run("QueueBounded", func(t *testing.T) {
		tr, p := setup(t)
		for i := range MemQueue + 10 {
			p.send(t, msg(30, byte(i)), serverLL)
		}
		n := 0
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, _, err := tr.Recv(ctx)
			cancel()
			if err != nil {
				break
			}
			n++
		}
		if n != MemQueue {
			t.Errorf("%d messages waited for the client, want the queue's %d", n, MemQueue)
		}
	})
	t.Run("ConcurrentUse", func(t *testing.T) {
		tr, p := setup(t)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 20 {
				tr.Send(msg(30, byte(i)), netip.Addr{})
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				tr.Recv(context.Background())
			}
		}()
		for i := range 20 {
			p.send(t, msg(30, byte(i)), serverLL)
			p.recv(t)
		}
		wg.Wait()
	})
}

func TestTransportContract(t *testing.T) {
	t.Run("MemLink", func(t *testing.T) {
		transportContract(t, func(t *testing.T) (Transport, peer) {
			l := NewMemLink()
			return l, memPeer{l}
		})
	})
	t.Run("FrameConn", func(t *testing.T) {
		transportContract(t, func(t *testing.T) (Transport, peer) {
			p := &framePeer{frames: make(chan []byte, 100)}
			p.fc = NewFrameConn(clientMAC, func(f []byte) error { p.frames <- bytes.Clone(f); return nil },
				func(a netip.Addr) (net.HardwareAddr, error) {
					if a == unicastServer {
						return serverMAC, nil
					}
					return nil, errors.New("no neighbour")
				})
			return p.fc, p
		})
	})
}

type memPeer struct{ l *MemLink }

func (p memPeer) send(t *testing.T, msg []byte, from netip.Addr) { p.l.ServerSend(msg, from) }

func (p memPeer) recv(t *testing.T) ([]byte, netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, to, err := p.l.ServerRecv(ctx)
	if err != nil {
		t.Fatalf("server receives nothing: %v", err)
	}
	return m, to
}

// framePeer plays the wire: client frames are decoded with gopacket,
// server frames built with it and offered to Deliver.
type framePeer struct {
	fc     *FrameConn
	frames chan []byte
}

func (p *framePeer) send(t *testing.T, msg []byte, from netip.Addr) {
	t.Helper()
	if !p.fc.Deliver(serverFrame(t, clientMAC, from, p.fc.LocalAddr(), 547, 546, msg)) {
		t.Fatal("Deliver refused a DHCPv6 frame for the client")
	}
}

func (p *framePeer) recv(t *testing.T) ([]byte, netip.Addr) {
	t.Helper()
	select {
	case f := <-p.frames:
		pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.DecodeOptions{})
		ip, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			t.Fatalf("client frame does not decode: %v", pk)
		}
		udp.SetNetworkLayerForChecksum(ip)
		if _, r := udp.VerifyChecksum(); !r.Valid {
			t.Errorf("client frame: bad UDP checksum")
		}
		to, _ := netip.AddrFromSlice(ip.DstIP)
		return udp.Payload, to
	case <-time.After(5 * time.Second):
		t.Fatal("no frame from the client")
	}
	return nil, netip.Addr{}
}
