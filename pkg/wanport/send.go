package wanport

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/link"
)

// txBufSize holds a full batch of the largest frames with their headers.
const txBufSize = 256 << 10

// WriteBatch implements link.Link: each frame is tagged and, in PPPoE
// mode, IPv4 is put into the session, then the batch goes to the port.
// Frames the line cannot carry are dropped and counted (Counters), like
// frames a port refuses.
func (p *Port) WriteBatch(frames []link.Frame) (int, error) {
	if !p.cfg.PPPoE && p.cfg.VLAN == 0 {
		return p.inner.WriteBatch(frames)
	}
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.txBuf == nil {
		p.txBuf = make([]byte, txBufSize)
	}
	sent := 0
	used := 0
	out := p.txOut[:0]
	s := p.sess.Load()
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		n, err := p.inner.WriteBatch(out)
		sent += n
		clear(out)
		out, used = out[:0], 0
		return err
	}
	for _, f := range frames {
		b := f.Data
		if len(b) < ethHdrLen {
			continue
		}
		if !f.Offload.IsZero() {
			p.cnt.txOffload.Add(1)
			continue
		}
		need := len(b) + maxExtraHdr
		if used+need > len(p.txBuf) {
			if err := flush(); err != nil {
				return sent, err
			}
		}
		dst := p.txBuf[used : used+need]
		n, ok := p.frame(dst, b, s)
		if !ok {
			continue
		}
		out = append(out, link.Frame{Data: dst[:n], Len: n})
		used += n
	}
	err := flush()
	p.txOut = out
	return sent, err
}

// frame writes frame b as the line carries it into dst (which has room
// for the extra headers) and returns its length; false drops it.
func (p *Port) frame(dst, b []byte, s *Session) (int, bool) {
	et := etherType(b)
	payload := b[ethHdrLen:]
	macs := b[:12]
	var proto uint16
	if p.cfg.PPPoE {
		switch et {
		case etherDiscovery, etherSession:
			// The PPPoE client's own frames: only tagged.
		case etherIPv4:
			if s == nil {
				p.cnt.txNoSession.Add(1)
				return 0, false
			}
			mtu := s.MTU
			if mtu == 0 {
				mtu = p.mtu
			}
			if len(payload) >= 4 {
				// Ethernet padding of short frames is not sent on.
				if tl := int(binary.BigEndian.Uint16(payload[2:4])); tl >= 20 && tl <= len(payload) {
					payload = payload[:tl]
				}
			}
			if len(payload) > mtu {
				p.cnt.txTooBig.Add(1)
				return 0, false
			}
			proto = pppIPv4
		default:
			p.cnt.txNotCarried.Add(1)
			return 0, false
		}
	}
	n := copy(dst, macs)
	if proto != 0 {
		copy(dst[:6], s.AC)
	}
	if p.cfg.VLAN != 0 {
		binary.BigEndian.PutUint16(dst[n:], etherVLAN)
		binary.BigEndian.PutUint16(dst[n+2:], p.tci)
		n += link.VLANTagLen
	}
	if proto == 0 {
		n += copy(dst[n:], b[12:])
		return n, true
	}
	binary.BigEndian.PutUint16(dst[n:], etherSession)
	dst[n+2], dst[n+3] = 0x11, 0x00
	binary.BigEndian.PutUint16(dst[n+4:], s.ID)
	binary.BigEndian.PutUint16(dst[n+6:], uint16(len(payload)+2))
	binary.BigEndian.PutUint16(dst[n+8:], proto)
	n += 10
	n += copy(dst[n:], payload)
	return n, true
}
