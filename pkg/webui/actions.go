package webui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// formEdit is one set/delete command made from a form, with the form
// fields its words came from: the configuration's message about a word
// is shown next to that field.
type formEdit struct {
	edit   shell.Edit
	fields map[int]string // word index → form field
	field  string         // the field for any other word
}

func setEdit(field string, words ...string) formEdit {
	return formEdit{edit: shell.Edit{Verb: "set", Words: words}, field: field}
}

func deleteEdit(field string, words ...string) formEdit {
	return formEdit{edit: shell.Edit{Verb: "delete", Words: words}, field: field}
}

// fieldOf is the form field an error about word index i belongs to.
func (f formEdit) fieldOf(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) {
		if fl, ok := f.fields[ce.Index]; ok {
			return fl
		}
	}
	return f.field
}

// action is a form: make turns its fields into edits of the candidate,
// or returns field errors of its own (a required field left empty).
type action struct {
	page string // the page the form is on (and shown again on error)
	make func(r *http.Request, cand *config.Config) ([]formEdit, map[string]string)
}

func switchWord(on bool) string {
	if on {
		return "enable"
	}
	return "disable"
}

func checked(r *http.Request, field string) bool { return r.PostForm.Get(field) != "" }

func itoa(n int) string { return strconv.Itoa(n) }

// actions are the forms, by path.
func (s *Server) actions() map[string]action {
	return map[string]action{
		"/vpn": {"/vpn", func(r *http.Request, cand *config.Config) ([]formEdit, map[string]string) {
			p := cand.Passthrough
			var out []formEdit
			sw := func(field string, cur bool, path ...string) {
				if on := checked(r, field); on != cur {
					out = append(out, setEdit(field, append(path, switchWord(on))...))
				}
			}
			sw("pptp", p.PPTP, "passthrough", "pptp")
			sw("l2tp", p.L2TP, "passthrough", "l2tp")
			sw("ipsec", p.IPsec.Enabled, "passthrough", "ipsec")
			if m := r.PostForm.Get("esp-mode"); m != "" && m != string(p.IPsec.ESPMode) {
				out = append(out, setEdit("esp-mode", "passthrough", "ipsec", "esp-mode", m))
			}
			sw("ike-share-port", p.IPsec.IKESharePort, "passthrough", "ipsec", "ike-share-port")
			return out, nil
		}},
		"/forwards/add": {"/forwards", func(r *http.Request, _ *config.Config) ([]formEdit, map[string]string) {
			f := r.PostForm
			name, proto, port, to, toPort := strings.TrimSpace(f.Get("name")), f.Get("protocol"), strings.TrimSpace(f.Get("port")), strings.TrimSpace(f.Get("to")), strings.TrimSpace(f.Get("to-port"))
			errs := map[string]string{}
			for field, v := range map[string]string{"name": name, "port": port, "to": to} {
				if v == "" {
					errs[field] = "required"
				}
			}
			if len(errs) > 0 {
				return nil, errs
			}
			if proto == "" {
				proto = "tcp"
			}
			base := []string{"nat", "port-forward", name}
			toEdit := setEdit("to", append(base, "to", to)...)
			toEdit.fields = map[int]string{2: "name", 4: "to"}
			if toPort != "" {
				toEdit.edit.Words = append(toEdit.edit.Words, "port", toPort)
				toEdit.fields[6] = "to-port"
			}
			return []formEdit{
				{edit: shell.Edit{Verb: "set", Words: append(base, "protocol", proto)}, fields: map[int]string{2: "name"}, field: "protocol"},
				{edit: shell.Edit{Verb: "set", Words: append(base, "port", port)}, fields: map[int]string{2: "name"}, field: "port"},
				toEdit,
			}, nil
		}},
		"/forwards/delete": {"/forwards", func(r *http.Request, _ *config.Config) ([]formEdit, map[string]string) {
			return []formEdit{deleteEdit("delete", "nat", "port-forward", r.PostForm.Get("name"))}, nil
		}},
		"/forwards/dmz": {"/forwards", func(r *http.Request, cand *config.Config) ([]formEdit, map[string]string) {
			v := strings.TrimSpace(r.PostForm.Get("dmz"))
			if v == "" {
				if !cand.NAT.DMZ.IsValid() {
					return nil, nil
				}
				return []formEdit{deleteEdit("dmz", "nat", "dmz")}, nil
			}
			return []formEdit{setEdit("dmz", "nat", "dmz", v)}, nil
		}},
		"/leases/static": {"/leases", func(r *http.Request, _ *config.Config) ([]formEdit, map[string]string) {
			f := r.PostForm
			name, mac, ip := strings.TrimSpace(f.Get("name")), strings.TrimSpace(f.Get("mac")), strings.TrimSpace(f.Get("ip"))
			if name == "" && mac != "" {
				name = leaseName(f.Get("hostname"), mac)
			}
			errs := map[string]string{}
			for field, v := range map[string]string{"name": name, "mac": mac, "ip": ip} {
				if v == "" {
					errs[field] = "required"
				}
			}
			if len(errs) > 0 {
				return nil, errs
			}
			base := []string{"dhcp-server", "lan", "static", name}
			return []formEdit{
				{edit: shell.Edit{Verb: "set", Words: append(base, "mac", mac)}, fields: map[int]string{3: "name"}, field: "mac"},
				{edit: shell.Edit{Verb: "set", Words: append(base, "ip", ip)}, fields: map[int]string{3: "name"}, field: "ip"},
			}, nil
		}},
		"/leases/lan": {"/leases", func(r *http.Request, cand *config.Config) ([]formEdit, map[string]string) {
			f := r.PostForm
			addr, start, end := strings.TrimSpace(f.Get("lan-address")), strings.TrimSpace(f.Get("range-start")), strings.TrimSpace(f.Get("range-end"))
			var out []formEdit
			if addr != "" && addr != cand.Interfaces.LAN.Address.String() {
				out = append(out, setEdit("lan-address", "interfaces", "lan", "address", addr))
			}
			d := cand.DHCPServer.LAN
			if (start != "" || end != "") && (start != addrText(d.RangeStart) || end != addrText(d.RangeEnd)) {
				e := setEdit("range-start", "dhcp-server", "lan", "range", start, end)
				e.fields = map[int]string{4: "range-end"}
				out = append(out, e)
			}
			return out, nil
		}},
		"/leases/static/delete": {"/leases", func(r *http.Request, _ *config.Config) ([]formEdit, map[string]string) {
			return []formEdit{deleteEdit("delete", "dhcp-server", "lan", "static", r.PostForm.Get("name"))}, nil
		}},
		"/nat": {"/nat", func(r *http.Request, cand *config.Config) ([]formEdit, map[string]string) {
			f := r.PostForm
			n := cand.NAT
			var out []formEdit
			if v := f.Get("filtering"); v != "" && v != string(n.Filtering) {
				out = append(out, setEdit("filtering", "nat", "filtering", v))
			}
			if on := checked(r, "hairpin"); on != n.Hairpin {
				out = append(out, setEdit("hairpin", "nat", "hairpin", switchWord(on)))
			}
			cur := map[int]string{config.MSSClampAuto: "auto", config.MSSClampDisabled: "disable"}[n.MSSClamp]
			if cur == "" {
				cur = itoa(n.MSSClamp)
			}
			if v := strings.TrimSpace(f.Get("mss-clamp")); v != "" && v != cur {
				out = append(out, setEdit("mss-clamp", "nat", "mss-clamp", v))
			}
			for _, fl := range []struct {
				field string
				cur   int
			}{{"max-sessions", n.MaxSessions}, {"max-sessions-per-host", n.MaxSessionsPerHost}} {
				if v := strings.TrimSpace(f.Get(fl.field)); v != "" && v != itoa(fl.cur) {
					out = append(out, setEdit(fl.field, "nat", fl.field, v))
				}
			}
			t := n.Timeouts
			for _, fl := range []struct {
				name string
				cur  int
			}{{"udp", int(t.UDP.Seconds())}, {"tcp-established", int(t.TCPEstablished.Seconds())},
				{"tcp-transitory", int(t.TCPTransitory.Seconds())}, {"icmp", int(t.ICMP.Seconds())},
				{"gre", int(t.GRE.Seconds())}, {"esp", int(t.ESP.Seconds())}} {
				if v := strings.TrimSpace(f.Get("timeout-" + fl.name)); v != "" && v != itoa(fl.cur) {
					out = append(out, setEdit("timeout-"+fl.name, "nat", "timeout", fl.name, v))
				}
			}
			return out, nil
		}},
		"/system/hostname": {"/system", func(r *http.Request, cand *config.Config) ([]formEdit, map[string]string) {
			v := strings.TrimSpace(r.PostForm.Get("hostname"))
			switch {
			case v == cand.System.Hostname:
				return nil, nil
			case v == "":
				return []formEdit{deleteEdit("hostname", "system", "hostname")}, nil
			}
			return []formEdit{setEdit("hostname", "system", "hostname", v)}, nil
		}},
		"/system/web": {"/system", func(r *http.Request, cand *config.Config) ([]formEdit, map[string]string) {
			if on := checked(r, "web"); on != cand.Service.Web.Enabled {
				return []formEdit{setEdit("web", "service", "web", switchWord(on))}, nil
			}
			return nil, nil
		}},
		"/system/ssh-key": {"/system", func(r *http.Request, _ *config.Config) ([]formEdit, map[string]string) {
			name, key := strings.TrimSpace(r.PostForm.Get("key-name")), strings.TrimSpace(r.PostForm.Get("key"))
			errs := map[string]string{}
			if name == "" {
				errs["key-name"] = "required"
			}
			if key == "" {
				errs["key"] = "required"
			}
			if len(errs) > 0 {
				return nil, errs
			}
			e := setEdit("key", "service", "ssh", "authorized-key", name, key)
			e.fields = map[int]string{3: "key-name"}
			return []formEdit{e}, nil
		}},
		"/system/ssh-key/delete": {"/system", func(r *http.Request, _ *config.Config) ([]formEdit, map[string]string) {
			return []formEdit{deleteEdit("delete", "service", "ssh", "authorized-key", r.PostForm.Get("name"))}, nil
		}},
	}
}

// act handles a form: its edits go on the session's candidate when the
// configuration accepts every one of them; otherwise the page is shown
// again with the configuration's messages next to the fields, and the
// candidate is unchanged.
func (s *Server) act(w http.ResponseWriter, r *http.Request, sess *session, p page, a action) {
	cand, _, err := s.candidate(sess)
	pd := s.newPage(sess, p.nav)
	pd.Form = map[string]string{}
	for k, v := range r.PostForm {
		if k != "csrf" && len(v) > 0 {
			pd.Form[k] = v[0]
		}
	}
	if err != nil {
		pd.Problem = "Your earlier changes no longer apply to the configuration (it was committed from elsewhere): " + err.Error() + ". Discard them under Changes first."
		s.show(w, r, sess, p, http.StatusConflict, pd)
		return
	}
	fes, errs := a.make(r, cand)
	if len(errs) > 0 {
		pd.Errors = errs
		s.show(w, r, sess, p, http.StatusBadRequest, pd)
		return
	}
	edits := make([]shell.Edit, len(fes))
	for i, fe := range fes {
		edits[i] = fe.edit
	}
	next, err := s.o.Shell.Candidate(cand, edits)
	if err != nil {
		var ee *shell.EditError
		if errors.As(err, &ee) {
			pd.Errors = map[string]string{fes[ee.Index].fieldOf(ee.Err): ee.Msg()}
		} else {
			pd.Problem = err.Error()
		}
		s.show(w, r, sess, p, http.StatusBadRequest, pd)
		return
	}
	if next.Equal(cand) {
		s.ss.with(func() { sess.flash = "No change: that is already the configuration." })
		http.Redirect(w, r, p.pathOf(), http.StatusSeeOther)
		return
	}
	full := false
	s.ss.with(func() {
		if len(sess.edits)+len(edits) > maxEdits {
			full = true
			return
		}
		sess.edits = append(sess.edits, edits...)
		var cmds []string
		for _, e := range edits {
			cmds = append(cmds, e.String())
		}
		sess.flash = fmt.Sprintf("Added to your changes: %s. Nothing is applied until you apply them under Changes.", strings.Join(cmds, "; "))
	})
	if full {
		pd.Problem = fmt.Sprintf("At most %d changes can wait to be applied: apply or discard them under Changes first.", maxEdits)
		s.show(w, r, sess, p, http.StatusBadRequest, pd)
		return
	}
	http.Redirect(w, r, p.pathOf(), http.StatusSeeOther)
}

func (p page) pathOf() string {
	for _, m := range menu {
		if m.Nav == p.nav {
			return m.Path
		}
	}
	return "/"
}
