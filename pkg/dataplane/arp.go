package dataplane

import (
	"time"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/packet"
)

// arpTable is one side's IPv4 → MAC cache, bounded, with a small queue of
// packets waiting for a resolution.
type arpTable struct {
	entries map[uint32]arpEntry
	max     int
	ttl     time.Duration
	pending map[uint32]*pendingQ
	nPend   int
	nBytes  int // bytes of the frames in pending
}

type arpEntry struct {
	mac     [6]byte
	learned time.Duration
	static  bool
}

type pendingQ struct {
	frames    []link.Frame // complete frames with the source MAC set; destination filled on resolution
	lastQuery time.Duration
	queries   int
}

const (
	arpPendingPerIP = 4
	arpPendingMax   = 256
	// arpPendingBytes bounds the memory of the queues: a super-packet
	// waiting for ARP takes up to 64 KiB.
	arpPendingBytes = 1 << 20
	arpRetry        = time.Second
	arpMaxQueries   = 3
)

func newARPTable(max int, ttl time.Duration) *arpTable {
	return &arpTable{entries: make(map[uint32]arpEntry), max: max, ttl: ttl, pending: make(map[uint32]*pendingQ)}
}

func (t *arpTable) lookup(ip uint32, now time.Duration) ([6]byte, bool) {
	e, ok := t.entries[ip]
	if !ok || (!e.static && now-e.learned > t.ttl) {
		return [6]byte{}, false
	}
	return e.mac, true
}

// learn records ip at mac and returns the frames that were waiting for it.
func (t *arpTable) learn(ip uint32, mac []byte, now time.Duration) []link.Frame {
	if ip == 0 || isGroupMAC(mac) {
		return nil
	}
	if _, ok := t.entries[ip]; !ok && len(t.entries) >= t.max {
		t.evict(now)
		if len(t.entries) >= t.max {
			return nil
		}
	}
	var m [6]byte
	copy(m[:], mac)
	if e, ok := t.entries[ip]; ok && e.static {
		return nil
	}
	t.entries[ip] = arpEntry{mac: m, learned: now}
	q := t.pending[ip]
	if q == nil {
		return nil
	}
	delete(t.pending, ip)
	t.nPend -= len(q.frames)
	for _, f := range q.frames {
		t.nBytes -= len(f.Data)
		copy(packet.Ethernet(f.Data).Dst(), m[:])
	}
	return q.frames
}

// confirm renews ip's entry as of at when it still names mac: frames from
// mac with ip's traffic (a flow the kernel forwards, which routerd no
// longer sees) show the neighbour is there, as Linux confirms a
// neighbour from a TCP connection's progress. It never changes a MAC
// or adds an entry: only ARP does.
func (t *arpTable) confirm(ip uint32, mac [6]byte, at time.Duration) {
	if e, ok := t.entries[ip]; ok && !e.static && e.mac == mac && at > e.learned {
		e.learned = at
		t.entries[ip] = e
	}
}

func (t *arpTable) evict(now time.Duration) {
	for ip, e := range t.entries {
		if !e.static && now-e.learned > t.ttl {
			delete(t.entries, ip)
		}
	}
	if len(t.entries) < t.max {
		return
	}
	var oldIP uint32
	var old time.Duration = -1
	for ip, e := range t.entries {
		if !e.static && (old < 0 || e.learned < old) {
			oldIP, old = ip, e.learned
		}
	}
	if old >= 0 {
		delete(t.entries, oldIP)
	}
}

// queue keeps a copy of frame (and its offload) until ip resolves; it
// reports whether an ARP request should be sent now.
func (t *arpTable) queue(ip uint32, frame []byte, o link.Offload, now time.Duration) (query bool, queued bool) {
	q := t.pending[ip]
	if q == nil {
		if len(t.pending) >= arpPendingMax {
			return false, false
		}
		q = &pendingQ{lastQuery: -arpRetry}
		t.pending[ip] = q
	}
	if len(q.frames) < arpPendingPerIP && t.nPend < arpPendingMax && t.nBytes+len(frame) <= arpPendingBytes {
		q.frames = append(q.frames, link.Frame{Data: append([]byte(nil), frame...), Offload: o})
		t.nPend++
		t.nBytes += len(frame)
		queued = true
	}
	if now-q.lastQuery >= arpRetry && q.queries < arpMaxQueries {
		q.lastQuery = now
		q.queries++
		return true, queued
	}
	return false, queued
}

// expire drops pending queues that got no answer.
func (t *arpTable) expire(now time.Duration) (dropped int) {
	for ip, q := range t.pending {
		if q.queries >= arpMaxQueries && now-q.lastQuery > arpRetry {
			dropped += len(q.frames)
			t.nPend -= len(q.frames)
			for _, f := range q.frames {
				t.nBytes -= len(f.Data)
			}
			delete(t.pending, ip)
		}
	}
	return dropped
}

var broadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// sendARP queues an ARP packet from the router's address on port: a
// broadcast request for targetIP, or a reply to targetMAC.
func (d *Dataplane) sendARP(port int, op uint16, targetMAC [6]byte, targetIP uint32) {
	mac, ip := d.lanMAC, d.lanIP
	if port == PortWAN {
		mac, ip = d.wanMAC, d.wanIP
	}
	dst := targetMAC
	if op == packet.ARPRequest {
		dst, targetMAC = broadcastMAC, [6]byte{}
	}
	b := d.alloc(packet.EthernetHeaderLen + packet.ARPLen)
	packet.Ethernet(b).PutHeader(dst, mac, packet.EtherTypeARP)
	packet.ARP(packet.Ethernet(b).Payload()).Put(op, mac, ip, targetMAC, targetIP)
	d.enqueue(port, b, link.Offload{})
}

func (d *Dataplane) arpRequest(port int, ip uint32) {
	d.cnt.ARPRequests++
	d.sendARP(port, packet.ARPRequest, [6]byte{}, ip)
}

func (d *Dataplane) arpFromLAN(f []byte, now time.Duration) {
	d.cnt.ARPIn++
	a := packet.ARP(packet.Ethernet(f).Payload())
	if !a.Valid() {
		d.cnt.Truncated++
		return
	}
	sip := a.SenderIP()
	if sip&d.lanMask == d.lanIP&d.lanMask && sip != d.lanIP {
		for _, f := range d.lanARP.learn(sip, a.SenderMAC(), now) {
			d.enqueue(PortLAN, f.Data, f.Offload)
		}
	}
	switch {
	case a.Op() == packet.ARPRequest && a.TargetIP() == d.lanIP && sip != d.lanIP:
		d.cnt.ARPRepliesSent++
		d.sendARP(PortLAN, packet.ARPReply, [6]byte(a.SenderMAC()), sip)
	case a.Op() == packet.ARPReply && d.links[PortSelf] != nil:
		// The kernel on self0 may have asked too (it talks to LAN hosts).
		d.enqueue(PortSelf, f, link.Offload{})
	}
}

func (d *Dataplane) arpFromWAN(f []byte, now time.Duration) {
	d.cnt.ARPIn++
	a := packet.ARP(packet.Ethernet(f).Payload())
	if !a.Valid() || d.wanIP == 0 {
		return
	}
	sip := a.SenderIP()
	if sip&d.wanMask == d.wanIP&d.wanMask && sip != d.wanIP {
		for _, f := range d.wanARP.learn(sip, a.SenderMAC(), now) {
			d.enqueue(PortWAN, f.Data, f.Offload)
		}
	}
	if a.Op() == packet.ARPRequest && a.TargetIP() == d.wanIP {
		d.cnt.ARPRepliesSent++
		d.sendARP(PortWAN, packet.ARPReply, [6]byte(a.SenderMAC()), sip)
	}
}
