package traceroute

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"
)

// The error queue's control message (linux/errqueue.h): struct
// sock_extended_err, then the offender's struct sockaddr_in.
const (
	extErrLen    = 16 // ee_errno u32, ee_origin, ee_type, ee_code, ee_pad u8, ee_info, ee_data u32
	sockaddrLen  = 16 // sin_family u16 (host order), sin_port u16, sin_addr [4], zero [8]
	originICMP   = 2  // SO_EE_ORIGIN_ICMP
	solIP        = 0  // SOL_IP
	ipRecvErr    = 11 // IP_RECVERR
	familyInet   = 2  // AF_INET
	offsetOrigin = 4
)

// parseErrQueue reads an ICMP error from the control messages of one
// MSG_ERRQUEUE read (oob): its type, code and offender. The bytes come
// from the kernel, but what they describe from a router on the internet:
// every length is checked, and only an ICMP origin with an IPv4 offender
// counts. Dst is left for the caller (the read's address).
func parseErrQueue(oob []byte) (ICMPError, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return ICMPError{}, false
	}
	for _, m := range msgs {
		if m.Header.Level != solIP || m.Header.Type != ipRecvErr {
			continue
		}
		d := m.Data
		if len(d) < extErrLen+sockaddrLen || d[offsetOrigin] != originICMP {
			continue
		}
		sa := d[extErrLen:]
		if binary.NativeEndian.Uint16(sa) != familyInet {
			continue
		}
		off := netip.AddrFrom4([4]byte(sa[4:8]))
		if off.IsUnspecified() {
			continue
		}
		return ICMPError{Offender: off, Type: d[offsetOrigin+1], Code: d[offsetOrigin+2]}, true
	}
	return ICMPError{}, false
}
