package upnpigd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"golang.org/x/net/netutil"
)

// HTTP server bounds used by Serve.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 10 * time.Second
	IdleTimeout       = 30 * time.Second
	MaxHeaderBytes    = 8 << 10
)

const serverHeader = "Linux UPnP/1.1 passgate/1"

// ServeHTTP answers the descriptions (GET) and the SOAP control URLs
// (POST) for LAN clients; anything from outside Config.LAN is answered
// 403 Forbidden.
func (d *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	host := ap.Addr().Unmap()
	if err != nil || !host.Is4() || !d.cfg.LAN.Contains(host) {
		d.logf("upnpigd: refused %s %s from %s: not in the LAN %v", r.Method, r.URL.Path, r.RemoteAddr, d.cfg.LAN)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	w.Header().Set("Server", serverHeader)
	switch r.URL.Path {
	case PathRootDesc:
		d.serveXML(w, r, d.rootXML)
	case PathIPConnSCPD:
		d.serveXML(w, r, ipConnSCPD)
	case PathCIFSCPD:
		d.serveXML(w, r, cifSCPD)
	case PathIPConnCtl:
		d.serveControl(w, r, &ipConnService, host)
	case PathCIFCtl:
		d.serveControl(w, r, &cifService, host)
	case PathIPConnEvt, PathCIFEvt:
		// GENA eventing is not implemented.
		http.Error(w, "eventing not implemented", http.StatusNotImplemented)
	default:
		http.NotFound(w, r)
	}
}

var (
	ipConnSCPD = ipConnService.scpd()
	cifSCPD    = cifService.scpd()
)

func (d *Device) serveXML(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Write(body)
}

func (d *Device) serveControl(w http.ResponseWriter, r *http.Request, svc *service, host netip.Addr) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			d.logf("upnpigd: %v: SOAP body over %d bytes", host, MaxBody)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	resp, f := d.control(svc, r.Header.Get("SOAPAction"), body, host)
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Header().Set("Ext", "")
	if f != nil {
		d.logf("upnpigd: %v: %v", host, f)
		w.WriteHeader(http.StatusInternalServerError)
		w.Write(soapFault(f.Code))
		return
	}
	w.Write(resp)
}

// Serve serves the device's HTTP on ln, which the caller has bound on
// the router's LAN address (Config.HTTP), with the timeouts above and
// at most Config.MaxConns connections at once, until ctx is done (then
// it shuts down and returns nil) or ln fails. It closes ln.
func (d *Device) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           d,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	err := srv.Serve(netutil.LimitListener(ln, d.cfg.MaxConns))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("upnpigd: serving HTTP on %v: %w", ln.Addr(), err)
}
