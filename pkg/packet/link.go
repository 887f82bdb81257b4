package packet

import "encoding/binary"

// EtherType values used by the router.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100
	EtherTypeIPv6 = 0x86dd
)

// EthernetHeaderLen is the length of an untagged Ethernet header.
const EthernetHeaderLen = 14

// Ethernet is a view of an Ethernet II frame.
type Ethernet []byte

func (e Ethernet) Dst() []byte       { return e[0:6] }
func (e Ethernet) Src() []byte       { return e[6:12] }
func (e Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(e[12:]) }
func (e Ethernet) Payload() []byte   { return e[EthernetHeaderLen:] }

// PutHeader writes the destination and source addresses and the EtherType.
func (e Ethernet) PutHeader(dst, src [6]byte, etherType uint16) {
	copy(e[0:6], dst[:])
	copy(e[6:12], src[:])
	binary.BigEndian.PutUint16(e[12:], etherType)
}

// ARPLen is the length of an Ethernet/IPv4 ARP packet.
const ARPLen = 28

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARP is a view of an Ethernet/IPv4 ARP packet.
type ARP []byte

// Valid reports whether a is a complete Ethernet/IPv4 ARP packet.
func (a ARP) Valid() bool {
	return len(a) >= ARPLen && binary.BigEndian.Uint16(a[0:]) == 1 &&
		binary.BigEndian.Uint16(a[2:]) == EtherTypeIPv4 && a[4] == 6 && a[5] == 4
}

func (a ARP) Op() uint16        { return binary.BigEndian.Uint16(a[6:]) }
func (a ARP) SenderMAC() []byte { return a[8:14] }
func (a ARP) SenderIP() uint32  { return binary.BigEndian.Uint32(a[14:]) }
func (a ARP) TargetMAC() []byte { return a[18:24] }
func (a ARP) TargetIP() uint32  { return binary.BigEndian.Uint32(a[24:]) }

// Put writes an Ethernet/IPv4 ARP packet into a[:ARPLen].
func (a ARP) Put(op uint16, senderMAC [6]byte, senderIP uint32, targetMAC [6]byte, targetIP uint32) {
	binary.BigEndian.PutUint16(a[0:], 1) // hardware type Ethernet
	binary.BigEndian.PutUint16(a[2:], EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:14], senderMAC[:])
	binary.BigEndian.PutUint32(a[14:], senderIP)
	copy(a[18:24], targetMAC[:])
	binary.BigEndian.PutUint32(a[24:], targetIP)
}
