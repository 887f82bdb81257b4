package webui

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Nav      string // the menu entry of the page
	Hostname string
	LoggedIn bool
	CSRF     string
	Pending  int                  // changes waiting to be applied
	Confirm  *shell.PendingCommit // a commit confirmed waiting
	Flash    string
	Problem  string            // the page's own error (not a field's)
	Errors   map[string]string // form field → the configuration's message
	Form     map[string]string // what the user typed, shown again with errors
	Data     any

	sess *session
}

// Err and Val are for templates: a field's error and value.
func (p *pageData) Err(field string) string { return p.Errors[field] }
func (p *pageData) Val(field, def string) string {
	if v, ok := p.Form[field]; ok {
		return v
	}
	return def
}

// menu is the navigation, in order.
var menu = []struct{ Path, Nav, Title string }{
	{"/", "status", "Status"},
	{"/vpn", "vpn", "VPN passthrough"},
	{"/forwards", "forwards", "Port forwards"},
	{"/leases", "leases", "DHCP leases"},
	{"/nat", "nat", "NAT"},
	{"/system", "system", "System"},
	{"/changes", "changes", "Changes"},
}

// Menu is the navigation for templates.
func (p *pageData) Menu() any { return menu }

func (s *Server) hostname() string {
	if h := s.o.Router.Config().System.Hostname; h != "" {
		return h
	}
	return "passgate"
}

// page is one page of the menu: fill puts its data in pd from the
// session's candidate (forms show what will be committed).
type page struct {
	nav, tmpl string
	fill      func(ctx context.Context, cand *config.Config, pd *pageData) error
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(staticFS))
	mux.HandleFunc("/login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.auth(s.handleLogout))
	pages := map[string]page{
		"/":         {"status", "status", s.fillStatus},
		"/vpn":      {"vpn", "vpn", s.fillVPN},
		"/forwards": {"forwards", "forwards", s.fillForwards},
		"/leases":   {"leases", "leases", s.fillLeases},
		"/nat":      {"nat", "nat", s.fillNAT},
		"/system":   {"system", "system", s.fillSystem},
		"/changes":  {"changes", "changes", s.fillChanges},
	}
	for path, p := range pages {
		pattern := "GET " + path
		if path == "/" {
			pattern = "GET /{$}"
		}
		mux.HandleFunc(pattern, s.auth(func(w http.ResponseWriter, r *http.Request, sess *session) {
			s.show(w, r, sess, p, http.StatusOK, nil)
		}))
	}
	mux.HandleFunc("GET /vpn/sessions", s.auth(s.handleVPNSessions))
	mux.HandleFunc("GET /system/config.txt", s.auth(s.handleDownload))
	for path, a := range s.actions() {
		p := pages[a.page]
		mux.HandleFunc("POST "+path, s.auth(func(w http.ResponseWriter, r *http.Request, sess *session) {
			s.act(w, r, sess, p, a)
		}))
	}
	mux.HandleFunc("POST /changes/apply", s.auth(s.handleApply))
	mux.HandleFunc("POST /changes/discard", s.auth(s.handleDiscard))
	mux.HandleFunc("POST /confirm", s.auth(s.handleConfirm))
	mux.HandleFunc("POST /system/reboot", s.auth(s.handleReboot))
	mux.HandleFunc("POST /system/upload", s.auth(s.handleUpload))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such page", http.StatusNotFound)
	})
	s.mux = mux
}

// newPage is the common part of a page for sess.
func (s *Server) newPage(sess *session, nav string) *pageData {
	pd := &pageData{Nav: nav, Hostname: s.hostname(), LoggedIn: true, CSRF: sess.csrf, sess: sess}
	for _, m := range menu {
		if m.Nav == nav {
			pd.Title = m.Title
		}
	}
	s.ss.with(func() {
		pd.Pending = len(sess.edits)
		if sess.replace != nil {
			pd.Pending++
		}
		pd.Flash, sess.flash = sess.flash, ""
	})
	if p, ok := s.o.Shell.Pending(); ok {
		pd.Confirm = &p
	}
	return pd
}

// candidate is the session's candidate: the committed configuration (or
// the uploaded one) with its edits. err says the edits no longer apply
// (someone committed meanwhile); the committed configuration is
// returned then.
func (s *Server) candidate(sess *session) (cand, committed *config.Config, err error) {
	committed = s.o.Router.Config()
	var base *config.Config
	var edits []shell.Edit
	s.ss.with(func() { base, edits = sess.replace, slices.Clone(sess.edits) })
	if base == nil {
		base = committed
	}
	c, err := s.o.Shell.Candidate(base, edits)
	if err != nil {
		return committed, committed, err
	}
	return c, committed, nil
}

// show renders page p; errs and form are a refused form's.
func (s *Server) show(w http.ResponseWriter, r *http.Request, sess *session, p page, status int, pd *pageData) {
	if pd == nil {
		pd = s.newPage(sess, p.nav)
	}
	cand, _, err := s.candidate(sess)
	if err != nil && pd.Problem == "" {
		pd.Problem = "Your changes no longer apply to the configuration (it was committed from elsewhere): " + err.Error() + ". Discard them under Changes."
	}
	if err := p.fill(r.Context(), cand, pd); err != nil {
		pd.Problem = err.Error()
	}
	if fields := issueFields[p.nav]; fields != nil && pd.Pending > 0 {
		errs, _ := cand.Validate()
		for _, is := range errs {
			f, ok := fields[is.Path]
			if !ok {
				continue
			}
			if pd.Errors == nil {
				pd.Errors = map[string]string{}
			}
			if pd.Errors[f] != "" {
				pd.Errors[f] += "; "
			}
			pd.Errors[f] += is.Msg
		}
	}
	s.render(w, status, p.tmpl, pd)
}

// Status.

type statusData struct {
	System     shell.SystemInfo
	Interfaces []shell.Interface
	WAN, LAN   *shell.Interface
	Leases     int
	Sessions   int
}

func (s *Server) fillStatus(ctx context.Context, _ *config.Config, pd *pageData) error {
	d := &statusData{}
	pd.Data = d
	var err error
	if d.System, err = s.o.Router.System(ctx); err != nil {
		return err
	}
	if d.Interfaces, err = s.o.Router.Interfaces(ctx); err != nil {
		return err
	}
	for i := range d.Interfaces {
		switch d.Interfaces[i].Role {
		case "wan":
			d.WAN = &d.Interfaces[i]
		case "lan":
			d.LAN = &d.Interfaces[i]
		}
	}
	if l, err := s.o.Router.DHCPLeases(ctx); err == nil {
		d.Leases = len(l)
	}
	if n, err := s.o.Router.NATSessions(ctx, shell.SessionFilter{}); err == nil {
		d.Sessions = len(n)
	}
	return nil
}

// VPN passthrough.

type vpnData struct {
	PPTP, L2TP, IPsec, IKEShare bool
	ESPMode                     string
	Passthrough                 shell.Passthrough
	Diagnose                    string
}

func (s *Server) fillVPN(ctx context.Context, cand *config.Config, pd *pageData) error {
	p := cand.Passthrough
	d := &vpnData{PPTP: p.PPTP, L2TP: p.L2TP, IPsec: p.IPsec.Enabled, IKEShare: p.IPsec.IKESharePort, ESPMode: string(p.IPsec.ESPMode)}
	pd.Data = d
	var err error
	if d.Passthrough, err = s.o.Router.Passthrough(ctx); err != nil {
		return err
	}
	// The troubleshooter's findings, exactly as "show vpn diagnose" says
	// them.
	var b strings.Builder
	if err := s.o.Shell.Run(ctx, "show vpn diagnose", &b); err == nil {
		d.Diagnose = strings.TrimSpace(b.String())
	}
	return nil
}

// handleVPNSessions is the session table alone, which the page's script
// refreshes.
func (s *Server) handleVPNSessions(w http.ResponseWriter, r *http.Request, sess *session) {
	p, err := s.o.Router.Passthrough(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.renderFragment(w, "vpn", "sessions", &vpnData{Passthrough: p})
}

// Port forwards and DMZ.

type forwardsData struct {
	Forwards []config.PortForward
	DMZ      string
}

func (s *Server) fillForwards(_ context.Context, cand *config.Config, pd *pageData) error {
	d := &forwardsData{Forwards: cand.NAT.PortForwards}
	if cand.NAT.DMZ.IsValid() {
		d.DMZ = cand.NAT.DMZ.String()
	}
	pd.Data = d
	return nil
}

// DHCP leases.

type leasesData struct {
	LANAddress, RangeStart, RangeEnd string
	Leases                           []shell.Lease
	Static                           []config.StaticLease
	// StaticMAC marks the MACs that have a static lease already.
	StaticMAC map[string]bool
}

func (s *Server) fillLeases(ctx context.Context, cand *config.Config, pd *pageData) error {
	d := &leasesData{Static: cand.DHCPServer.LAN.Static, StaticMAC: map[string]bool{},
		LANAddress: cand.Interfaces.LAN.Address.String(), RangeStart: addrText(cand.DHCPServer.LAN.RangeStart), RangeEnd: addrText(cand.DHCPServer.LAN.RangeEnd)}
	pd.Data = d
	for _, st := range cand.DHCPServer.LAN.Static {
		d.StaticMAC[st.MAC.String()] = true
	}
	var err error
	d.Leases, err = s.o.Router.DHCPLeases(ctx)
	return err
}

// leaseName makes a static lease's name from a host name a LAN host
// sent (anything), or its MAC.
func leaseName(host, mac string) string {
	var b strings.Builder
	for _, r := range host {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == '.':
			if b.Len() > 0 {
				b.WriteRune(r)
			}
		}
		if b.Len() >= 32 {
			break
		}
	}
	if b.Len() == 0 {
		return "host-" + strings.ReplaceAll(mac, ":", "")
	}
	return b.String()
}

// NAT.

type natData struct {
	Filtering          string
	Hairpin            bool
	MSSClamp           string
	MaxSessions        int
	MaxSessionsPerHost int
	Timeouts           []timeoutField
}

type timeoutField struct {
	Name, Label string
	Seconds     int
}

func (s *Server) fillNAT(_ context.Context, cand *config.Config, pd *pageData) error {
	n := cand.NAT
	d := &natData{Filtering: string(n.Filtering), Hairpin: n.Hairpin, MaxSessions: n.MaxSessions, MaxSessionsPerHost: n.MaxSessionsPerHost}
	switch n.MSSClamp {
	case config.MSSClampAuto:
		d.MSSClamp = "auto"
	case config.MSSClampDisabled:
		d.MSSClamp = "disable"
	default:
		d.MSSClamp = itoa(n.MSSClamp)
	}
	t := n.Timeouts
	d.Timeouts = []timeoutField{
		{"udp", "UDP", int(t.UDP.Seconds())},
		{"tcp-established", "TCP established", int(t.TCPEstablished.Seconds())},
		{"tcp-transitory", "TCP opening/closing", int(t.TCPTransitory.Seconds())},
		{"icmp", "ICMP", int(t.ICMP.Seconds())},
		{"gre", "GRE (PPTP)", int(t.GRE.Seconds())},
		{"esp", "ESP (IPsec)", int(t.ESP.Seconds())},
	}
	pd.Data = d
	return nil
}

// System.

type systemData struct {
	Hostname string
	Web      bool
	Keys     []config.AuthorizedKey
	History  []config.HistoryEntry
	System   shell.SystemInfo
}

func (s *Server) fillSystem(ctx context.Context, cand *config.Config, pd *pageData) error {
	d := &systemData{Hostname: cand.System.Hostname, Web: cand.Service.Web.Enabled, Keys: cand.Service.SSH.AuthorizedKeys}
	pd.Data = d
	h, err := s.o.Router.CommitHistory()
	if err != nil {
		return err
	}
	d.History = h[:min(len(h), 20)]
	d.System, err = s.o.Router.System(ctx)
	return err
}

// Changes.

type changesData struct {
	Diff     []string
	Commands []string
	Errors   []config.Issue
	Warnings []config.Issue
	Risky    []string // why the apply will be a commit confirmed
	Minutes  int
	Upload   bool
	Result   *applyResult
}

func (s *Server) fillChanges(_ context.Context, cand *config.Config, pd *pageData) error {
	committed := s.o.Router.Config()
	d := &changesData{Diff: config.Diff(committed, cand), Minutes: s.o.ConfirmMinutes}
	pd.Data = d
	s.ss.with(func() {
		for _, e := range pd.sess.edits {
			d.Commands = append(d.Commands, e.String())
		}
		d.Upload = pd.sess.replace != nil
		d.Result, pd.sess.result = pd.sess.result, nil
	})
	errs, warns := cand.Validate()
	d.Errors, d.Warnings = errs, warns
	d.Risky = risky(d.Diff)
	return nil
}

// risky says which lines of a diff can cut the user off the router:
// those are applied with a commit confirmed.
func risky(diff []string) []string {
	var out []string
	for _, l := range diff {
		w := strings.Fields(l)
		if len(w) < 4 {
			continue
		}
		switch p := w[2] + " " + w[3]; p {
		case "interfaces lan", "service ssh", "service web", "system admin":
			out = append(out, l)
		}
	}
	return out
}

// addrText is a's text, "" when unset.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// issueFields puts the candidate's validation errors (config.Validate:
// a DHCP range outside a new LAN, a forward to no LAN host) next to the
// form fields of the page they are about.
var issueFields = map[string]map[string]string{
	"leases":   {"interfaces lan address": "lan-address", "dhcp-server lan range": "range-start"},
	"forwards": {"nat dmz": "dmz"},
}
