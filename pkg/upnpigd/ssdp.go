package upnpigd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SSDP constants.
const (
	SSDPPort = 1900
	// MaxSSDP bounds a datagram read; longer ones are dropped.
	MaxSSDP = 2048
	// MaxSSDPHeaders bounds the header lines of a request.
	MaxSSDPHeaders = 32
	// MaxMX caps the M-SEARCH delay (UPnP DA 1.1 §1.3.2: MX above 5
	// is taken as 5).
	MaxMX = 5
	// MaxPendingAnswers bounds the answers ServeSSDP holds back for
	// their delay; further searches are dropped until some are sent.
	MaxPendingAnswers = 64
)

// SSDPGroup is SSDP's IPv4 multicast destination.
var SSDPGroup = netip.MustParseAddrPort("239.255.255.250:1900")

// Answer is what AnswerSSDP returns: the datagrams to send to the
// searcher after Delay.
type Answer struct {
	To        netip.AddrPort
	Delay     time.Duration
	Datagrams [][]byte
}

// ssdpRequest is a parsed SSDP request.
type ssdpRequest struct {
	method  string
	headers map[string]string // upper-case names
}

// parseSSDP parses an SSDP request: "METHOD * HTTP/1.1" and at most
// MaxSSDPHeaders header lines, at most MaxSSDP bytes in all.
func parseSSDP(b []byte) (ssdpRequest, error) {
	if len(b) > MaxSSDP {
		return ssdpRequest{}, fmt.Errorf("ssdp: %d bytes, at most %d", len(b), MaxSSDP)
	}
	lines := bytes.Split(b, []byte("\n"))
	first := strings.Fields(string(bytes.TrimSpace(lines[0])))
	if len(first) != 3 || first[1] != "*" || !strings.HasPrefix(first[2], "HTTP/1.") {
		return ssdpRequest{}, fmt.Errorf("ssdp: request line %.64q", lines[0])
	}
	r := ssdpRequest{method: first[0], headers: map[string]string{}}
	n := 0
	for _, l := range lines[1:] {
		l = bytes.TrimRight(l, "\r")
		if len(l) == 0 {
			break // the end of the headers
		}
		if n++; n > MaxSSDPHeaders {
			return ssdpRequest{}, fmt.Errorf("ssdp: more than %d header lines", MaxSSDPHeaders)
		}
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			return ssdpRequest{}, fmt.Errorf("ssdp: header line %.64q", l)
		}
		k := strings.ToUpper(string(bytes.TrimSpace(name)))
		if _, dup := r.headers[k]; dup {
			return ssdpRequest{}, fmt.Errorf("ssdp: header %.32s twice", k)
		}
		r.headers[k] = string(bytes.TrimSpace(value))
	}
	return r, nil
}

// target is one thing the device advertises: its NT/ST and USN.
type target struct{ nt, usn string }

// targets lists what the device advertises (NOTIFY) in order: the root
// device (3), the embedded devices (2 each) and the services.
func (d *Device) targets() []target {
	root, wan, conn := d.uuids[0], d.uuids[1], d.uuids[2]
	return []target{
		{"upnp:rootdevice", root + "::upnp:rootdevice"},
		{root, root},
		{TypeIGD, root + "::" + TypeIGD},
		{wan, wan},
		{TypeWAN, wan + "::" + TypeWAN},
		{conn, conn},
		{TypeWANConn, conn + "::" + TypeWANConn},
		{TypeCIF, wan + "::" + TypeCIF},
		{TypeIPConn, conn + "::" + TypeIPConn},
	}
}

// matching returns the targets answering search target st: all for
// ssdp:all, else the one st names (a type at our version or lower,
// answered with the version searched for).
func (d *Device) matching(st string) []target {
	all := d.targets()
	if st == "ssdp:all" {
		return all
	}
	for _, t := range all {
		switch {
		case t.nt == st:
			return []target{t}
		case strings.HasPrefix(t.nt, "urn:") && matchType(st, t.nt):
			uuid, _, _ := strings.Cut(t.usn, "::")
			return []target{{st, uuid + "::" + st}}
		}
	}
	return nil
}

// AnswerSSDP answers one SSDP datagram b from from: for an M-SEARCH
// from the LAN whose ST the device matches, the answers to send to from
// after a random delay below min(MX, MaxMX) seconds (none for a unicast
// search, which has no MX). Other datagrams (NOTIFYs, other targets)
// get no answer and no error; malformed ones and outsiders an error.
func (d *Device) AnswerSSDP(b []byte, from netip.AddrPort) (Answer, error) {
	src := from.Addr().Unmap()
	if !src.Is4() || !d.cfg.LAN.Contains(src) || from.Port() == 0 {
		return Answer{}, fmt.Errorf("ssdp: %v is not in the LAN %v", from, d.cfg.LAN)
	}
	req, err := parseSSDP(b)
	if err != nil {
		return Answer{}, fmt.Errorf("ssdp from %v: %w", from, err)
	}
	if req.method != "M-SEARCH" {
		return Answer{}, nil
	}
	if req.headers["MAN"] != `"ssdp:discover"` {
		return Answer{}, fmt.Errorf("ssdp from %v: MAN %.64q", from, req.headers["MAN"])
	}
	st := req.headers["ST"]
	if st == "" {
		return Answer{}, fmt.Errorf("ssdp from %v: no ST", from)
	}
	var delay time.Duration
	if mx, ok := req.headers["MX"]; ok {
		n, err := strconv.Atoi(mx)
		if err != nil || n < 0 {
			return Answer{}, fmt.Errorf("ssdp from %v: MX %.16q", from, mx)
		}
		if n = min(n, MaxMX); n > 0 {
			d.mu.Lock()
			delay = time.Duration(d.rng.Int64N(int64(n) * int64(time.Second)))
			d.mu.Unlock()
		}
	}
	ts := d.matching(st)
	if len(ts) == 0 {
		return Answer{}, nil
	}
	a := Answer{To: netip.AddrPortFrom(src, from.Port()), Delay: delay}
	for _, t := range ts {
		a.Datagrams = append(a.Datagrams, fmt.Appendf(nil,
			"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=%d\r\nEXT:\r\nLOCATION: %s\r\nSERVER: %s\r\nST: %s\r\nUSN: %s\r\nBOOTID.UPNP.ORG: %d\r\nCONFIGID.UPNP.ORG: 1\r\n\r\n",
			int(d.cfg.MaxAge/time.Second), d.Location(), serverHeader, t.nt, t.usn, d.cfg.BootID))
	}
	return a, nil
}

// Notify returns the NOTIFY datagrams for SSDPGroup: ssdp:alive
// (alive), else ssdp:byebye.
func (d *Device) Notify(alive bool) [][]byte {
	var out [][]byte
	for _, t := range d.targets() {
		if alive {
			out = append(out, fmt.Appendf(nil,
				"NOTIFY * HTTP/1.1\r\nHOST: %s\r\nCACHE-CONTROL: max-age=%d\r\nLOCATION: %s\r\nNT: %s\r\nNTS: ssdp:alive\r\nSERVER: %s\r\nUSN: %s\r\nBOOTID.UPNP.ORG: %d\r\nCONFIGID.UPNP.ORG: 1\r\n\r\n",
				SSDPGroup, int(d.cfg.MaxAge/time.Second), d.Location(), t.nt, serverHeader, t.usn, d.cfg.BootID))
		} else {
			out = append(out, fmt.Appendf(nil,
				"NOTIFY * HTTP/1.1\r\nHOST: %s\r\nNT: %s\r\nNTS: ssdp:byebye\r\nUSN: %s\r\nBOOTID.UPNP.ORG: %d\r\nCONFIGID.UPNP.ORG: 1\r\n\r\n",
				SSDPGroup, t.nt, t.usn, d.cfg.BootID))
		}
	}
	return out
}

// ServeSSDP answers M-SEARCHes read from conn and multicasts NOTIFYs to
// SSDPGroup through it: ssdp:alive at once and every MaxAge/3, and
// ssdp:byebye when ctx is done (then it returns nil). The caller binds
// conn (UDP 1900 on the LAN side, joined to 239.255.255.250 on the LAN
// interface, multicast sent out of it) and closes it after Serve returns.
func (d *Device) ServeSSDP(ctx context.Context, conn net.PacketConn) error {
	group := net.UDPAddrFromAddrPort(SSDPGroup)
	send := func(msgs [][]byte, to net.Addr) {
		for _, m := range msgs {
			if _, err := conn.WriteTo(m, to); err != nil {
				d.logf("upnpigd: ssdp: sending to %v: %v", to, err)
				return
			}
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d.cfg.MaxAge / 3)
		defer t.Stop()
		for {
			send(d.Notify(true), group)
			select {
			case <-loopCtx.Done():
				send(d.Notify(false), group)
				return
			case <-t.C:
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	var mu sync.Mutex
	pending := 0
	buf := make([]byte, MaxSSDP+1) // one more, to see oversized datagrams
	for {
		n, addr, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("upnpigd: ssdp: reading: %w", err)
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		a, err := d.AnswerSSDP(buf[:n], ua.AddrPort())
		if err != nil {
			d.logf("upnpigd: %v", err)
			continue
		}
		if len(a.Datagrams) == 0 {
			continue
		}
		mu.Lock()
		full := pending >= MaxPendingAnswers
		if !full {
			pending++
		}
		mu.Unlock()
		if full {
			continue
		}
		to := net.UDPAddrFromAddrPort(a.To)
		wg.Add(1)
		time.AfterFunc(a.Delay, func() {
			defer wg.Done()
			if loopCtx.Err() == nil {
				send(a.Datagrams, to)
			}
			mu.Lock()
			pending--
			mu.Unlock()
		})
	}
}
