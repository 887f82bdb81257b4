// Package diag runs the shell's ping and traceroute. They use the router's
// own stack (self0) through raw ICMP sockets, so their packets are NAT-ed
// like any LAN host's: what they show is what a LAN host would see. Both
// need CAP_NET_RAW.
package diag

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/passgate/passgate/pkg/packet"
)

// resolve takes an IPv4 address or a name with an IPv4 address.
func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return a, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("cannot resolve %q; give an IPv4 address", host)
	}
	return ips[0], nil
}

// Ping sends count (default 4) ICMP echo requests of size data bytes
// (0 to 65507; negative: 56) to host, one a second, and writes each reply
// and a summary to w. Lost replies are reported, not errors; the error is
// for a host that cannot be resolved or a socket that cannot be opened.
func Ping(ctx context.Context, host string, count, size int, w io.Writer) error {
	dst, err := resolve(ctx, host)
	if err != nil {
		return err
	}
	if count <= 0 {
		count = 4
	}
	if size < 0 {
		size = 56
	}
	if size > 65507 {
		return fmt.Errorf("ping: %d data bytes do not fit an IPv4 packet (at most 65507)", size)
	}
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	fmt.Fprintf(w, "PING %s: %d data bytes\n", dst, size)
	recv := 0
	var rtts []time.Duration
	for seq := 1; seq <= count && ctx.Err() == nil; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: make([]byte, size)}}
		b, _ := msg.Marshal(nil)
		start := time.Now()
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			fmt.Fprintf(w, "seq %d: %v\n", seq, err)
			continue
		}
		deadline := start.Add(time.Second)
		for {
			c.SetReadDeadline(deadline)
			buf := make([]byte, size+1500)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				fmt.Fprintf(w, "seq %d: no reply\n", seq)
				break
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); !ok || e.ID != id || e.Seq != seq {
				continue
			}
			rtt := time.Since(start)
			rtts = append(rtts, rtt)
			recv++
			fmt.Fprintf(w, "%d bytes from %v: seq=%d time=%.3f ms\n", n, from, seq, float64(rtt.Microseconds())/1000)
			break
		}
		if seq < count {
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(start.Add(time.Second))):
			}
		}
	}
	fmt.Fprintf(w, "--- %s: %d sent, %d received\n", dst, count, recv)
	return nil
}

// Traceroute sends ICMP echo requests with growing TTLs (up to 30) and
// writes who answers each hop to w, until host itself answers.
func Traceroute(ctx context.Context, host string, w io.Writer) error {
	dst, err := resolve(ctx, host)
	if err != nil {
		return err
	}
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return fmt.Errorf("traceroute: %w", err)
	}
	defer c.Close()
	pc := c.IPv4PacketConn()
	id := (os.Getpid() + 1) & 0xffff
	fmt.Fprintf(w, "traceroute to %s, 30 hops max\n", dst)
	for ttl := 1; ttl <= 30 && ctx.Err() == nil; ttl++ {
		pc.SetTTL(ttl)
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: ttl, Data: []byte("passgate")}}
		b, _ := msg.Marshal(nil)
		start := time.Now()
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("traceroute: %w", err)
		}
		hop, done := "*", false
		deadline := start.Add(2 * time.Second)
		for {
			c.SetReadDeadline(deadline)
			buf := make([]byte, 1500)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil {
				continue
			}
			switch body := m.Body.(type) {
			case *icmp.Echo:
				if m.Type == ipv4.ICMPTypeEchoReply && body.ID == id && body.Seq == ttl {
					hop, done = fmt.Sprintf("%v  %.3f ms", from, float64(time.Since(start).Microseconds())/1000), true
				}
			case *icmp.TimeExceeded:
				if echoOf(body.Data, id, ttl) {
					hop = fmt.Sprintf("%v  %.3f ms", from, float64(time.Since(start).Microseconds())/1000)
				}
			}
			if hop != "*" {
				break
			}
		}
		fmt.Fprintf(w, "%2d  %s\n", ttl, hop)
		if done {
			return nil
		}
	}
	return nil
}

// echoOf reports whether an ICMP error embeds our echo request (id, seq).
func echoOf(b []byte, id, seq int) bool {
	if len(b) < 28 {
		return false
	}
	hl := int(b[0]&0x0f) * 4
	if len(b) < hl+8 || b[9] != packet.ProtoICMP {
		return false
	}
	e := b[hl:]
	return e[0] == 8 && int(binary.BigEndian.Uint16(e[4:])) == id && int(binary.BigEndian.Uint16(e[6:])) == seq
}
