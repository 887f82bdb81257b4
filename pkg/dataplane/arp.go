package dataplane

import (
	"encoding/binary"
	"time"

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
}

type arpEntry struct {
	mac     [6]byte
	learned time.Duration
	static  bool
}

type pendingQ struct {
	frames    [][]byte // complete frames with the source MAC set; destination filled on resolution
	lastQuery time.Duration
	queries   int
}

const (
	arpPendingPerIP = 4
	arpPendingMax   = 256
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
func (t *arpTable) learn(ip uint32, mac []byte, now time.Duration) [][]byte {
	if ip == 0 || mac[0]&1 != 0 {
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
		copy(f[0:6], m[:])
	}
	return q.frames
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

// queue keeps a copy of frame until ip resolves; it reports whether an ARP
// request should be sent now.
func (t *arpTable) queue(ip uint32, frame []byte, now time.Duration) (query bool, queued bool) {
	q := t.pending[ip]
	if q == nil {
		if len(t.pending) >= arpPendingMax {
			return false, false
		}
		q = &pendingQ{lastQuery: -arpRetry}
		t.pending[ip] = q
	}
	if len(q.frames) < arpPendingPerIP && t.nPend < arpPendingMax {
		q.frames = append(q.frames, append([]byte(nil), frame...))
		t.nPend++
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
			delete(t.pending, ip)
		}
	}
	return dropped
}

// buildARP writes an ARP packet in an Ethernet frame into b (≥ 42 bytes).
func buildARP(b []byte, op uint16, srcMAC []byte, srcIP uint32, dstMAC []byte, dstIP uint32) []byte {
	b = b[:packet.EthernetHeaderLen+packet.ARPLen]
	if op == packet.ARPRequest {
		copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	} else {
		copy(b[0:6], dstMAC)
	}
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], packet.EtherTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], packet.EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:14], srcMAC)
	binary.BigEndian.PutUint32(a[14:], srcIP)
	if op == packet.ARPRequest {
		clear(a[18:24])
	} else {
		copy(a[18:24], dstMAC)
	}
	binary.BigEndian.PutUint32(a[24:], dstIP)
	return b
}

func (d *Dataplane) arpRequest(port int, ip uint32) {
	b := d.alloc(packet.EthernetHeaderLen + packet.ARPLen)
	if port == PortWAN {
		buildARP(b, packet.ARPRequest, d.wanMAC[:], d.wanIP, nil, ip)
	} else {
		buildARP(b, packet.ARPRequest, d.lanMAC[:], d.lanIP, nil, ip)
	}
	d.cnt.ARPRequests++
	d.out[port] = append(d.out[port], b)
}

func (d *Dataplane) arpFromLAN(f []byte, now time.Duration) {
	d.cnt.ARPIn++
	a := packet.ARP(f[packet.EthernetHeaderLen:])
	if !a.Valid() {
		d.cnt.Truncated++
		return
	}
	sip := a.SenderIP()
	if sip&d.lanMask == d.lanIP&d.lanMask && sip != d.lanIP {
		d.out[PortLAN] = append(d.out[PortLAN], d.lanARP.learn(sip, a.SenderMAC(), now)...)
	}
	switch {
	case a.Op() == packet.ARPRequest && a.TargetIP() == d.lanIP && sip != d.lanIP:
		b := d.alloc(packet.EthernetHeaderLen + packet.ARPLen)
		buildARP(b, packet.ARPReply, d.lanMAC[:], d.lanIP, a.SenderMAC(), sip)
		d.cnt.ARPRepliesSent++
		d.out[PortLAN] = append(d.out[PortLAN], b)
	case a.Op() == packet.ARPReply && d.links[PortSelf] != nil:
		// The kernel on self0 may have asked too (it talks to LAN hosts).
		d.out[PortSelf] = append(d.out[PortSelf], f)
	}
}

func (d *Dataplane) arpFromWAN(f []byte, now time.Duration) {
	d.cnt.ARPIn++
	a := packet.ARP(f[packet.EthernetHeaderLen:])
	if !a.Valid() || d.wanIP == 0 {
		return
	}
	sip := a.SenderIP()
	if sip&d.wanMask == d.wanIP&d.wanMask && sip != d.wanIP {
		d.out[PortWAN] = append(d.out[PortWAN], d.wanARP.learn(sip, a.SenderMAC(), now)...)
	}
	if a.Op() == packet.ARPRequest && a.TargetIP() == d.wanIP {
		b := d.alloc(packet.EthernetHeaderLen + packet.ARPLen)
		buildARP(b, packet.ARPReply, d.wanMAC[:], d.wanIP, a.SenderMAC(), sip)
		d.cnt.ARPRepliesSent++
		d.out[PortWAN] = append(d.out[PortWAN], b)
	}
}
