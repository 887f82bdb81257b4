// Package diag runs the shell's ping and traceroute, over IPv4 or IPv6.
// They use the router's own stack (self0) through raw ICMP and ICMPv6
// sockets, so their packets go through routerd like any LAN host's (NAT-ed
// over IPv4, through the IPv6 firewall over IPv6): what they show is what
// a LAN host would see. Both need CAP_NET_RAW.
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
	"golang.org/x/net/ipv6"

	"github.com/passgate/passgate/pkg/packet"
)

// resolve takes an IPv4 or IPv6 address, or a name: its IPv4 address if
// it has one, else its IPv6 address.
func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		switch {
		case a.Zone() != "":
			return netip.Addr{}, fmt.Errorf("%q: give the address without a zone", host)
		case a.IsUnspecified() || a.IsMulticast():
			return netip.Addr{}, fmt.Errorf("%s is not a unicast address", a)
		}
		return a, nil
	}
	for _, family := range []string{"ip4", "ip6"} {
		if ips, err := net.DefaultResolver.LookupNetIP(ctx, family, host); err == nil && len(ips) > 0 {
			return ips[0].Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("cannot resolve %q; give an IPv4 or IPv6 address", host)
}

// family is what differs between ICMP and ICMPv6 for ping and traceroute.
type family struct {
	network, listen string
	proto           int // for icmp.ParseMessage
	echo, reply     icmp.Type
	maxData         int // data bytes that fit one packet
	v6              bool
}

var (
	icmp4 = family{network: "ip4:icmp", listen: "0.0.0.0", proto: 1, echo: ipv4.ICMPTypeEcho, reply: ipv4.ICMPTypeEchoReply, maxData: 65507}
	// The kernel computes ICMPv6 checksums on raw ICMPv6 sockets.
	icmp6 = family{network: "ip6:ipv6-icmp", listen: "::", proto: 58, echo: ipv6.ICMPTypeEchoRequest, reply: ipv6.ICMPTypeEchoReply, maxData: 65527, v6: true}
)

func familyOf(a netip.Addr) family {
	if a.Is6() {
		return icmp6
	}
	return icmp4
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
	fam := familyOf(dst)
	if size > fam.maxData {
		return fmt.Errorf("ping: %d data bytes do not fit one packet to %s (at most %d)", size, dst, fam.maxData)
	}
	c, err := icmp.ListenPacket(fam.network, fam.listen)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	fmt.Fprintf(w, "PING %s: %d data bytes\n", dst, size)
	recv := 0
	var rtts []time.Duration
	for seq := 1; seq <= count && ctx.Err() == nil; seq++ {
		msg := icmp.Message{Type: fam.echo, Body: &icmp.Echo{ID: id, Seq: seq, Data: make([]byte, size)}}
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
			m, err := icmp.ParseMessage(fam.proto, buf[:n])
			if err != nil || m.Type != fam.reply {
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

// Traceroute sends ICMP echo requests with growing TTLs or hop limits (up
// to 30) and writes who answers each hop to w, until host itself answers.
func Traceroute(ctx context.Context, host string, w io.Writer) error {
	dst, err := resolve(ctx, host)
	if err != nil {
		return err
	}
	fam := familyOf(dst)
	c, err := icmp.ListenPacket(fam.network, fam.listen)
	if err != nil {
		return fmt.Errorf("traceroute: %w", err)
	}
	defer c.Close()
	setHops := func(n int) error { return c.IPv4PacketConn().SetTTL(n) }
	quotes := echoOf
	if fam.v6 {
		setHops = func(n int) error { return c.IPv6PacketConn().SetHopLimit(n) }
		quotes = echoOf6
	}
	id := (os.Getpid() + 1) & 0xffff
	fmt.Fprintf(w, "traceroute to %s, 30 hops max\n", dst)
	for ttl := 1; ttl <= 30 && ctx.Err() == nil; ttl++ {
		if err := setHops(ttl); err != nil {
			return fmt.Errorf("traceroute: %w", err)
		}
		msg := icmp.Message{Type: fam.echo, Body: &icmp.Echo{ID: id, Seq: ttl, Data: []byte("passgate")}}
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
			m, err := icmp.ParseMessage(fam.proto, buf[:n])
			if err != nil {
				continue
			}
			switch body := m.Body.(type) {
			case *icmp.Echo:
				if m.Type == fam.reply && body.ID == id && body.Seq == ttl {
					hop, done = fmt.Sprintf("%v  %.3f ms", from, float64(time.Since(start).Microseconds())/1000), true
				}
			case *icmp.TimeExceeded:
				if quotes(body.Data, id, ttl) {
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

// echoOf6 reports whether an ICMPv6 error embeds our echo request (id,
// seq): an IPv6 header without extension headers (ours has none), then
// the echo request's first 8 bytes.
func echoOf6(b []byte, id, seq int) bool {
	if len(b) < packet.IPv6HeaderLen+8 || b[0]>>4 != 6 || b[6] != packet.ProtoICMPv6 {
		return false
	}
	e := b[packet.IPv6HeaderLen:]
	return e[0] == packet.ICMPv6EchoRequest && int(binary.BigEndian.Uint16(e[4:])) == id && int(binary.BigEndian.Uint16(e[6:])) == seq
}
