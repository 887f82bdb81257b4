package wanport

import (
	"bytes"
	"encoding/binary"

	"github.com/passgate/passgate/pkg/link"
)

// ReadBatch implements link.Link: it reads from the port and returns the
// frames the data plane should see, untagged and decapsulated in place.
// Frames it drops or hands to Control are not returned; a batch of only
// those returns 0 frames, as a poll timeout does.
func (p *Port) ReadBatch(frames []link.Frame) (int, error) {
	n, err := p.inner.ReadBatch(frames)
	k := 0
	for i := 0; i < n; i++ {
		f := frames[i]
		if f.Truncated() || len(f.Data) < ethHdrLen {
			frames[k] = f // the data plane counts it
			k++
			continue
		}
		if p.cfg.VLAN != 0 && !p.untag(&f) {
			p.cnt.rxWrongVLAN.Add(1)
			continue
		}
		if p.cfg.PPPoE && !p.decap(&f) {
			continue
		}
		frames[k] = f
		k++
	}
	return k, err
}

// untag removes the frame's 802.1Q tag if it is of our VLAN.
func (p *Port) untag(f *link.Frame) bool {
	b := f.Data
	if len(b) < ethHdrLen+link.VLANTagLen || etherType(b) != etherVLAN ||
		binary.BigEndian.Uint16(b[14:16])&0x0fff != p.cfg.VLAN {
		return false
	}
	copy(b[link.VLANTagLen:link.VLANTagLen+12], b[:12])
	f.Data = b[link.VLANTagLen:]
	f.Len -= link.VLANTagLen
	if f.Offload.NeedsCsum {
		f.Offload.CsumStart -= link.VLANTagLen
	}
	return true
}

// decap turns a PPPoE session frame carrying IPv4 into an IPv4 frame, and
// hands discovery and PPP control frames to Control; false means the
// frame is not for the data plane.
func (p *Port) decap(f *link.Frame) bool {
	b := f.Data
	switch etherType(b) {
	case etherDiscovery:
		p.control(b)
		return false
	case etherSession:
	default:
		p.cnt.rxNotPPPoE.Add(1)
		return false
	}
	if len(b) < ethHdrLen+sessionHdrLen || b[14] != 0x11 || b[15] != 0 {
		p.cnt.rxMalformed.Add(1)
		return false
	}
	plen := int(binary.BigEndian.Uint16(b[18:20])) // PPP protocol + information
	if plen < 2 || ethHdrLen+6+plen > len(b) {
		p.cnt.rxMalformed.Add(1)
		return false
	}
	proto := binary.BigEndian.Uint16(b[20:22])
	if proto != pppIPv4 {
		// LCP, authentication, IPCP… for the PPPoE client, which checks
		// the session itself (it also answers for a session it no
		// longer knows, with a PADT).
		p.control(b[:ethHdrLen+6+plen])
		return false
	}
	s := p.sess.Load()
	if s == nil || binary.BigEndian.Uint16(b[16:18]) != s.ID || !bytes.Equal(b[6:12], s.AC) {
		p.cnt.rxNoSession.Add(1)
		return false
	}
	if f.Offload != (link.Offload{}) {
		f.Offload = link.Offload{} // a PPPoE frame has complete checksums; nothing else is meaningful
	}
	// Cut the 8 bytes out: the addresses move up, the EtherType becomes
	// IPv4, and Ethernet padding after the PPPoE payload goes.
	end := ethHdrLen + 6 + plen
	copy(b[sessionHdrLen:sessionHdrLen+12], b[:12])
	b[20], b[21] = 0x08, 0x00
	f.Data = b[sessionHdrLen:end]
	f.Len = len(f.Data)
	return true
}

func (p *Port) control(frame []byte) {
	p.cnt.rxControl.Add(1)
	if p.cfg.Control != nil {
		p.cfg.Control(frame)
	}
}
