package dhcpv6

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
)

// Reconfigure (RFC 8415 §18.2.11) with the Reconfigure Key Authentication
// Protocol (RKAP, §20.4), for RFC 7084 WAA-4. With Config.AcceptReconfigure
// the client offers Reconfigure Accept in Solicit, Request, Renew and
// Rebind; a server that agrees puts a reconfigure key in an Authentication
// option of its Reply. A Reconfigure is then taken only if it carries an
// HMAC-MD5 of itself under that key, a replay counter above the last one
// seen, our client identifier, the identifier of the server that holds the
// binding and a Reconfigure Message option asking for Renew or Rebind; the
// client must be bound and not in an exchange, and at most one Reconfigure
// is taken per ReconfigureMinInterval. Anything else is counted and
// dropped. The key lives with the binding in memory: it is not written to
// the lease file, so after a restart Reconfigure waits for the next Reply
// with a key (the server sends one with every Reply to Request, and a
// Rebind after the restart gets a Reply too). Information-request (msg-type
// 11) is refused: the client is stateful, and RFC 8415 §18.3.11 uses it for
// clients that hold no binding.

// Option codes and RKAP values.
const (
	optAuth         = 11 // OPTION_AUTH, RFC 8415 §21.11
	authProtoRKAP   = 3
	authAlgHMACMD5  = 1
	authRDMCounter  = 0
	rkapKey         = 1 // the reconfigure key value, in a Reply
	rkapHMAC        = 2 // the HMAC-MD5 digest, in a Reconfigure
	rkapKeyLen      = 16
	authOptionLen   = 3 + 8 + 1 + rkapKeyLen
	authDigestStart = 3 + 8 + 1 // where the key or digest starts in the option's data
)

// ReconfigureMinInterval is the least time between two Reconfigures taken:
// a flood of valid ones (a replaying or runaway server) costs one Renew.
const ReconfigureMinInterval = 10 * time.Second

// reconfKey is a reconfigure key from a Reply: the server it belongs to and
// the replay counter of the message that carried it.
type reconfKey struct {
	key      []byte
	serverID []byte
	replay   uint64
}

// parseKey reads an RKAP key from the data of a Reply's Authentication
// option; ok is false for anything else.
func parseKey(data []byte) (key []byte, replay uint64, ok bool) {
	if len(data) != authOptionLen || data[0] != authProtoRKAP || data[1] != authAlgHMACMD5 || data[2] != authRDMCounter || data[11] != rkapKey {
		return nil, 0, false
	}
	return bytes.Clone(data[authDigestStart:]), binary.BigEndian.Uint64(data[3:]), true
}

// rawReconfigure is what checkReconfigure reads from a Reconfigure.
type rawReconfigure struct {
	ids     rawIDs
	msgType []byte // the Reconfigure Message option's data
	nMsg    int
	auth    int // offset of the (first) Authentication option's data
	nAuth   int
}

// walkReconfigure walks the top-level options of a Reconfigure (at most
// maxOptions) without the codec.
func walkReconfigure(b []byte) (rawReconfigure, bool) {
	var r rawReconfigure
	off, n := 4, 0
	for off < len(b) {
		if off+4 > len(b) || n == maxOptions {
			return r, false
		}
		code := binary.BigEndian.Uint16(b[off:])
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l > len(b)-off-4 {
			return r, false
		}
		data := b[off+4 : off+4+l]
		switch d6.OptionCode(code) {
		case d6.OptionClientID:
			if r.ids.client == nil {
				r.ids.client = data
			}
		case d6.OptionServerID:
			if r.ids.server == nil {
				r.ids.server = data
			}
		case d6.OptionReconfMessage:
			r.msgType = data
			r.nMsg++
		case optAuth:
			if r.nAuth == 0 {
				r.auth = off + 4
			}
			r.nAuth++
		}
		off += 4 + l
		n++
	}
	return r, true
}

// checkReconfigure validates the Reconfigure b against the binding's key
// and returns the message type asked for and the replay counter, or why it
// is refused.
func checkReconfigure(b, clientID []byte, k *reconfKey) (d6.MessageType, uint64, string) {
	if len(b) < 4 || len(b) > MaxMessageLen {
		return 0, 0, "malformed"
	}
	r, ok := walkReconfigure(b)
	switch {
	case !ok:
		return 0, 0, "malformed options"
	case k == nil:
		return 0, 0, "no reconfigure key from the server"
	case r.ids.client == nil || !bytes.Equal(r.ids.client, clientID):
		return 0, 0, "not our client identifier"
	case !bytes.Equal(r.ids.server, k.serverID):
		return 0, 0, "not from the server of the binding"
	case r.nMsg != 1 || len(r.msgType) != 1:
		return 0, 0, "no single Reconfigure Message option"
	case r.nAuth != 1:
		return 0, 0, fmt.Sprintf("%d Authentication options, want 1", r.nAuth)
	}
	typ := d6.MessageType(r.msgType[0])
	if typ != d6.MessageTypeRenew && typ != d6.MessageTypeRebind {
		return 0, 0, fmt.Sprintf("asks for %v: only Renew and Rebind are taken", typ)
	}
	a := b[r.auth:]
	l := int(binary.BigEndian.Uint16(b[r.auth-2:]))
	if l != authOptionLen || a[0] != authProtoRKAP || a[1] != authAlgHMACMD5 || a[2] != authRDMCounter || a[11] != rkapHMAC {
		return 0, 0, "not an RKAP HMAC-MD5 authentication"
	}
	replay := binary.BigEndian.Uint64(a[3:])
	if replay <= k.replay {
		return 0, 0, fmt.Sprintf("replay counter %d not above %d", replay, k.replay)
	}
	// The digest covers the whole message with the digest field zeroed.
	zeroed := bytes.Clone(b)
	clear(zeroed[r.auth+authDigestStart : r.auth+authOptionLen])
	mac := hmac.New(md5.New, k.key)
	mac.Write(zeroed)
	if !hmac.Equal(mac.Sum(nil), a[authDigestStart:authOptionLen]) {
		return 0, 0, "HMAC-MD5 does not match the reconfigure key"
	}
	return typ, replay, ""
}

// reconfigure handles a Reconfigure message.
func (m *machine) reconfigure(now time.Time, b []byte) {
	refuse := func(why string) { m.drop(now, dropReconfigure, why) }
	if !m.c.cfg.AcceptReconfigure {
		refuse("Reconfigure Accept not offered")
		return
	}
	typ, replay, why := checkReconfigure(b, m.c.duid, m.key)
	switch {
	case why != "":
		refuse(why)
		return
	case m.st != stateBound:
		// §18.2.11: none while an exchange is in progress. The replay
		// counter is not consumed.
		refuse("not bound, or an exchange is in progress")
		return
	case !m.lastReconf.IsZero() && now.Sub(m.lastReconf) < ReconfigureMinInterval:
		m.key.replay = replay
		refuse("too soon after the last one")
		return
	}
	m.key.replay = replay
	m.lastReconf = now
	m.c.inc(func(k *Counters) { k.ReconfigureAccepted++ })
	m.c.logf("dhcpv6: Reconfigure from the server: %v now", typ)
	if typ == d6.MessageTypeRebind {
		m.enterRebinding(now)
	} else {
		m.enterRenewing(now)
	}
}

// takeKey keeps the reconfigure key of a Reply that bound or extended the
// lease; a Reply without one keeps the key of the same server.
func (m *machine) takeKey(r *reply) {
	switch {
	case !m.c.cfg.AcceptReconfigure:
	case r.reconfKey != nil:
		k := &reconfKey{key: r.reconfKey, serverID: r.serverID, replay: r.replay}
		if old := m.key; old != nil && bytes.Equal(old.key, k.key) && bytes.Equal(old.serverID, k.serverID) {
			// The same key again: a Reconfigure already taken must not
			// become acceptable because the Reply's counter is lower.
			k.replay = max(k.replay, old.replay)
		}
		m.key = k
	case m.key != nil && !bytes.Equal(m.key.serverID, r.serverID):
		m.key = nil
	}
}
