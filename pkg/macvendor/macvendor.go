// Package macvendor names the maker of a LAN device from its MAC
// address's first three bytes (the IEEE-assigned block, "OUI"), for
// "show lan devices": a short name ("Apple", "Raspberry Pi", "TP-Link")
// for the makers whose devices are common at home, from a table
// generated from the IEEE registry (internal/gen; a few thousand blocks,
// a few tens of KiB). Other makers, and the made-up (locally
// administered) addresses phones and laptops use per network, have none.
package macvendor

//go:generate go run ./internal/gen -out table.go

import "sort"

// Lookup returns the maker's short name, or "" when not known.
func Lookup(mac [6]byte) string {
	if mac[0]&3 != 0 { // locally administered or multicast: no maker's block
		return ""
	}
	oui := uint32(mac[0])<<16 | uint32(mac[1])<<8 | uint32(mac[2])
	i := sort.Search(len(blocks), func(i int) bool { return blocks[i]>>8 >= oui })
	if i < len(blocks) && blocks[i]>>8 == oui {
		return makerNames[blocks[i]&0xff]
	}
	return ""
}
