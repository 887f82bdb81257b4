package config

import (
	"fmt"
	"io"
	"net/netip"
)

// GenerateULA returns a new unique local /48 as RFC 4193 §3.2 makes one:
// fd00::/8 (L = 1, locally assigned) followed by a 40-bit Global ID read
// from r, which should be crypto/rand.Reader. routerd calls it once, when
// interfaces lan ipv6 ula is unset, and keeps the result.
func GenerateULA(r io.Reader) (netip.Prefix, error) {
	var a [16]byte
	a[0] = 0xfd
	if _, err := io.ReadFull(r, a[1:6]); err != nil {
		return netip.Prefix{}, fmt.Errorf("config: generate ULA: read the random Global ID: %w", err)
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), 48), nil
}
