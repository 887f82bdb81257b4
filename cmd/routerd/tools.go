package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/passgate/passgate/pkg/packet"
)

// ping and traceroute run from the router's own stack (self0), so their
// packets are NAT-ed like any LAN host's: what they show is what a LAN
// host would see.

func resolve(host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return a, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("cannot resolve %q; give an IPv4 address", host)
	}
	return ips[0], nil
}

func ping(ctx context.Context, host string, count int, w io.Writer) error {
	dst, err := resolve(host)
	if err != nil {
		return err
	}
	if count <= 0 {
		count = 4
	}
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	fmt.Fprintf(w, "PING %s: %d data bytes\n", dst, 56)
	recv := 0
	var rtts []time.Duration
	for seq := 1; seq <= count && ctx.Err() == nil; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: make([]byte, 56)}}
		b, _ := msg.Marshal(nil)
		start := time.Now()
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			fmt.Fprintf(w, "seq %d: %v\n", seq, err)
			continue
		}
		deadline := start.Add(time.Second)
		for {
			c.SetReadDeadline(deadline)
			buf := make([]byte, 1500)
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

// traceroute sends ICMP echo requests with growing TTLs and prints who
// answers each hop.
func traceroute(ctx context.Context, host string, w io.Writer) error {
	dst, err := resolve(host)
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

func gopacketCI(ts time.Time, n int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: ts, CaptureLength: n, Length: n}
}

// parseCaptureFilter understands "host A", "port N" and "proto NAME"
// terms joined by "and"; an empty filter matches everything.
func parseCaptureFilter(s string) (func([]byte) bool, error) {
	words := strings.Fields(s)
	var terms []func(packet.IPv4, []byte) bool
	wantARP := false
	for i := 0; i < len(words); i++ {
		if words[i] == "and" {
			continue
		}
		if i+1 >= len(words) {
			return nil, fmt.Errorf("capture filter: %q needs a value; use host A.B.C.D, port N or proto tcp|udp|icmp|gre|esp|arp, joined by and", words[i])
		}
		kw, v := words[i], words[i+1]
		i++
		switch kw {
		case "host":
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("capture filter: %q is not an IPv4 address", v)
			}
			h := packet.AddrTo4(a)
			terms = append(terms, func(p packet.IPv4, _ []byte) bool { return p.Src() == h || p.Dst() == h })
		case "port":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("capture filter: %q is not a port", v)
			}
			port := uint16(n)
			terms = append(terms, func(p packet.IPv4, l4 []byte) bool {
				return (p.Protocol() == packet.ProtoTCP || p.Protocol() == packet.ProtoUDP) && len(l4) >= 4 &&
					(binary.BigEndian.Uint16(l4) == port || binary.BigEndian.Uint16(l4[2:]) == port)
			})
		case "proto":
			if v == "arp" {
				wantARP = true
				continue
			}
			num := map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "gre": 47, "esp": 50}[v]
			if num == 0 {
				return nil, fmt.Errorf("capture filter: unknown protocol %q; use tcp, udp, icmp, gre, esp or arp", v)
			}
			terms = append(terms, func(p packet.IPv4, _ []byte) bool { return p.Protocol() == num })
		default:
			return nil, fmt.Errorf("capture filter: unknown term %q; use host A.B.C.D, port N or proto NAME, joined by and", kw)
		}
	}
	if len(terms) == 0 && !wantARP {
		return nil, nil
	}
	return func(f []byte) bool {
		if len(f) < 14 {
			return false
		}
		switch binary.BigEndian.Uint16(f[12:]) {
		case packet.EtherTypeARP:
			return wantARP && len(terms) == 0
		case packet.EtherTypeIPv4:
			if wantARP {
				return false
			}
		default:
			return false
		}
		p := packet.IPv4(f[14:])
		if p.Check() != packet.IPv4OK {
			return false
		}
		l4 := p[p.HeaderLen():p.TotalLen()]
		for _, t := range terms {
			if !t(p, l4) {
				return false
			}
		}
		return true
	}, nil
}
