// Package upnpigd is passgate's UPnP Internet Gateway Device for LAN
// hosts: SSDP discovery, the device and service descriptions, and the
// SOAP control of WANIPConnection (port mappings, the external address,
// the connection status) and WANCommonInterfaceConfig.
//
// It keeps no mappings of its own: every mapping goes through a Mapper,
// which *portmap.Server is, so UPnP mappings share NAT-PMP's and PCP's
// table, caps, reserved ports, lifetimes and rate limit, and reach the
// NAT engine through the same seam (portmap's OnChange and Mappings).
//
// # Layers
//
//   - Device.AnswerSSDP and Device.Notify are pure: a datagram in,
//     datagrams out (with the random M-SEARCH delay to wait); ServeSSDP
//     is a thin loop over a UDP socket the caller binds (UDP 1900 on the
//     LAN address, joined to 239.255.255.250 on the LAN interface).
//   - Device is an http.Handler serving /rootDesc.xml, the service
//     descriptions and the SOAP control URLs; ServeHTTP is usable with
//     httptest. Device.Serve runs it on a listener the caller binds on
//     the router's LAN address (never the WAN's), with timeouts and a
//     cap on concurrent connections.
//
// # Safety
//
//   - Only sources in Config.LAN are answered, by SSDP and HTTP.
//   - A host maps only to itself: NewInternalClient must be the HTTP
//     client's source address, else UPnP error 606. A host sees (the
//     GetGeneric/GetSpecific entries) and deletes only its own mappings,
//     as IGDv2 prescribes for control points without DeviceProtection.
//   - NewRemoteHost must be empty (wildcard; 726 otherwise).
//   - Lease 0 (IGDv1's "permanent") and leases above it are portmap's
//     MaxLifetime (2 h by default); the host renews by asking again.
//   - Bounded input: an SSDP datagram is at most 2 KiB with at most 32
//     header lines; a SOAP body at most 16 KiB, at most 16 arguments of
//     at most 256 bytes each. XML with a DOCTYPE (entity declarations)
//     is refused; encoding/xml expands no entities but the five
//     predefined ones.
//
// # Versions
//
// The description is of an InternetGatewayDevice:2 with
// WANIPConnection:2 (AddAnyPortMapping), the WANCommonInterfaceConfig:1
// service that miniupnpc's upnpc reads link properties from; searches
// for the version-1 types are answered with the version searched for
// (UPnP Device Architecture 1.1 §1.3.2), and SOAP calls made with
// either version's service type are answered in that type.
//
// Not implemented: GENA eventing (SUBSCRIBE is answered 501), IGDv2's
// GetListOfPortMappings, DeletePortMappingRange, WANIPv6FirewallControl
// and DeviceProtection, disabled mappings (NewEnabled 0 is refused).
package upnpigd
