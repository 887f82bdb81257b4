package traceroute

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errCmsg builds the control message of one MSG_ERRQUEUE read as the
// kernel writes it.
func errCmsg(level, typ int32, origin, icmpType, code uint8, family uint16, off [4]byte, dataLen int) []byte {
	d := make([]byte, dataLen)
	if dataLen >= extErrLen {
		binary.NativeEndian.PutUint32(d, uint32(unix.EHOSTUNREACH))
		d[4], d[5], d[6] = origin, icmpType, code
	}
	if dataLen >= extErrLen+8 {
		binary.NativeEndian.PutUint16(d[extErrLen:], family)
		copy(d[extErrLen+4:], off[:])
	}
	b := make([]byte, unix.CmsgSpace(dataLen))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(dataLen))
	copy(b[unix.CmsgLen(0):], d)
	return b
}

func TestParseErrQueue(t *testing.T) {
	off := [4]byte{100, 64, 9, 2}
	full := extErrLen + sockaddrLen
	if e, ok := parseErrQueue(errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, unix.AF_INET, off, full)); !ok ||
		e.Offender != netip.MustParseAddr("100.64.9.2") || e.Type != 11 || e.Code != 0 {
		t.Errorf("time exceeded: %+v %v", e, ok)
	}
	if e, ok := parseErrQueue(errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 3, 3, unix.AF_INET, off, full)); !ok || e.Type != 3 || e.Code != 3 {
		t.Errorf("port unreachable: %+v %v", e, ok)
	}
	for name, b := range map[string][]byte{
		"local origin":   errCmsg(unix.SOL_IP, unix.IP_RECVERR, 1, 0, 0, unix.AF_INET, off, full),
		"IPv6 level":     errCmsg(unix.SOL_IPV6, unix.IPV6_RECVERR, originICMP, 11, 0, unix.AF_INET, off, full),
		"other type":     errCmsg(unix.SOL_IP, unix.IP_TTL, originICMP, 11, 0, unix.AF_INET, off, full),
		"no offender":    errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, 0, [4]byte{}, full),
		"zero offender":  errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, unix.AF_INET, [4]byte{}, full),
		"short":          errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, unix.AF_INET, off, extErrLen+8),
		"no data":        errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, unix.AF_INET, off, 0),
		"truncated":      errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, unix.AF_INET, off, full)[:20],
		"nothing at all": nil,
	} {
		if e, ok := parseErrQueue(b); ok {
			t.Errorf("%s: parsed as %+v", name, e)
		}
	}
}

// FuzzParseErrQueue: any bytes as the control messages of an error-queue
// read are parsed without a panic, and what is accepted names an IPv4
// offender.
func FuzzParseErrQueue(f *testing.F) {
	full := extErrLen + sockaddrLen
	f.Add(errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, unix.AF_INET, [4]byte{203, 0, 113, 1}, full))
	f.Add(errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 3, 3, unix.AF_INET, [4]byte{9, 9, 9, 9}, full))
	f.Add(errCmsg(unix.SOL_IP, unix.IP_RECVERR, originICMP, 11, 0, unix.AF_INET, [4]byte{10, 0, 0, 1}, 8))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := parseErrQueue(b)
		if ok && (!e.Offender.Is4() || e.Offender.IsUnspecified()) {
			t.Fatalf("accepted offender %v", e.Offender)
		}
	})
}
