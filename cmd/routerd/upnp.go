package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/net/ipv4"

	"github.com/passgate/passgate/pkg/atomicfile"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/netconf"
	"github.com/passgate/passgate/pkg/portmap"
	"github.com/passgate/passgate/pkg/upnpigd"
)

// upnpHTTPPort is where the UPnP IGD's descriptions and control URLs are
// served on the LAN address (LOCATION in the SSDP answers).
const upnpHTTPPort = 5000

// bootIDFileName holds SSDP's BOOTID.UPNP.ORG, increased at every start
// (UPnP Device Architecture 1.1 §1.2.2): the boards have no clock that
// survives a power cut, so it is counted, not taken from the time.
const bootIDFileName = "upnp-bootid"

// startUPnP runs the UPnP IGD over srv's table: HTTP on the LAN address,
// SSDP on 239.255.255.250:1900 joined on self0. The goroutines stop with
// ctx; done is called when both have.
func (r *router) startUPnP(ctx context.Context, live *config.Config, srv *portmap.Server, done func()) error {
	lan := live.Interfaces.LAN.Address
	d, err := upnpigd.New(upnpigd.Config{LAN: lan.Masked(), HTTP: netip.AddrPortFrom(lan.Addr(), upnpHTTPPort),
		UUID: upnpUUID(r.lanMAC), Mapper: srv, Name: live.System.Hostname, BootID: r.nextBootID(), Seed: randomSeed(),
		Logf: r.logf})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(lan.Addr(), upnpHTTPPort).String())
	if err != nil {
		return fmt.Errorf("upnp: %w", err)
	}
	ifi, err := net.InterfaceByName(netconf.DefaultSelfName)
	if err != nil {
		ln.Close()
		return fmt.Errorf("upnp: %w", err)
	}
	conn, err := net.ListenMulticastUDP("udp4", ifi, net.UDPAddrFromAddrPort(upnpigd.SSDPGroup))
	if err != nil {
		ln.Close()
		return fmt.Errorf("upnp: ssdp: %w", err)
	}
	// NOTIFYs leave through self0 onto the LAN (TTL 2, as UDA asks), and
	// do not come back to this socket.
	pc := ipv4.NewPacketConn(conn)
	pc.SetMulticastInterface(ifi)
	pc.SetMulticastTTL(2)
	pc.SetMulticastLoopback(false)
	left := make(chan struct{}, 2)
	go func() {
		if err := d.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			r.logf("upnp: http: %v", err)
		}
		left <- struct{}{}
	}()
	go func() {
		if err := d.ServeSSDP(ctx, conn); err != nil && ctx.Err() == nil {
			r.logf("upnp: ssdp: %v", err)
		}
		conn.Close()
		left <- struct{}{}
	}()
	go func() { <-left; <-left; done() }()
	r.logf("upnp igd listening on %v (http) and %v (ssdp)", ln.Addr(), upnpigd.SSDPGroup)
	return nil
}

// upnpUUID derives the device's UUID from the LAN MAC, so control points
// recognise the router across restarts (a name-based, version 5 style
// UUID).
func upnpUUID(mac net.HardwareAddr) [16]byte {
	h := sha256.Sum256(append([]byte("passgate upnp igd "), mac...))
	var u [16]byte
	copy(u[:], h[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// nextBootID reads, increases and saves the SSDP boot ID; without a state
// directory that can be written it is 1.
func (r *router) nextBootID() uint32 {
	path := filepath.Join(r.stateDir, bootIDFileName)
	var n uint64
	if b, err := os.ReadFile(path); err == nil {
		n, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 31)
	}
	n++
	if err := atomicfile.Replace(atomicfile.Dir{Path: r.stateDir}, bootIDFileName, []byte(strconv.FormatUint(n, 10)+"\n"), nil); err != nil {
		r.logf("upnp: boot id not saved: %v", err)
	}
	return uint32(n)
}
