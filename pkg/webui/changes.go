package webui

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// handleApply commits the session's candidate through the shell: a plain
// commit, or a commit confirmed when a change can cut the user off (the
// LAN, SSH, the page itself, the password, a whole uploaded
// configuration). The shell's output is shown on the Changes page.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request, sess *session) {
	var replace *config.Config
	var edits []shell.Edit
	s.ss.with(func() { replace, edits = sess.replace, slices.Clone(sess.edits) })
	cand, committed, err := s.candidate(sess)
	if err != nil {
		s.finish(w, r, sess, &applyResult{Output: "Nothing was committed: your changes no longer apply to the configuration, which was committed from elsewhere (" + err.Error() + "). Discard them and make them again."})
		return
	}
	minutes := 0
	if replace != nil || len(risky(config.Diff(committed, cand))) > 0 {
		minutes = s.o.ConfirmMinutes
	}
	var out strings.Builder
	ctx := shell.WithPeer(shell.WithUser(r.Context(), who(r)), clientAddr(r), localPort(r))
	err = s.o.Shell.Apply(ctx, edits, shell.ApplyOptions{Replace: replace, ConfirmMinutes: minutes, Comment: "from the web page"}, &out)
	res := &applyResult{OK: err == nil, Output: strings.TrimSpace(out.String()), Confirmed: minutes}
	if err == nil && cand.Interfaces.LAN.Address.Addr() != committed.Interfaces.LAN.Address.Addr() {
		res.NewAddress = cand.Interfaces.LAN.Address.Addr().String()
	}
	if err == nil {
		s.ss.with(func() { sess.replace, sess.edits = nil, nil })
		s.logf("web: %s applied %d change(s)", who(r), len(edits))
	} else if !errors.Is(err, shell.ErrFailed) {
		res.Output += "\n" + err.Error()
	}
	s.finish(w, r, sess, res)
}

// finish shows res once on the Changes page.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, sess *session, res *applyResult) {
	s.ss.with(func() { sess.result = res })
	http.Redirect(w, r, "/changes", http.StatusSeeOther)
}

func (s *Server) handleDiscard(w http.ResponseWriter, r *http.Request, sess *session) {
	s.ss.with(func() {
		sess.replace, sess.edits = nil, nil
		sess.flash = "Your changes were discarded."
	})
	http.Redirect(w, r, "/changes", http.StatusSeeOther)
}

func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request, sess *session) {
	var out strings.Builder
	err := s.o.Shell.Confirm(shell.WithUser(r.Context(), who(r)), &out)
	s.finish(w, r, sess, &applyResult{OK: err == nil, Output: strings.TrimSpace(out.String())})
}

func (s *Server) handleReboot(w http.ResponseWriter, r *http.Request, sess *session) {
	var out strings.Builder
	err := s.o.Shell.Run(shell.WithUser(r.Context(), who(r)), "reboot", &out)
	pd := s.newPage(sess, "system")
	pd.Title = "Rebooting"
	pd.Data = strings.TrimSpace(out.String())
	status := http.StatusOK
	if err != nil {
		status = http.StatusInternalServerError
	}
	s.render(w, status, "reboot", pd)
}

// handleDownload is the committed configuration as set lines.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, sess *session) {
	c := s.o.Router.Config()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", s.hostname()+".conf"))
	io.WriteString(w, c.String())
}

// handleUpload loads an uploaded configuration (set lines, as downloaded)
// into the candidate, replacing it: nothing is applied until Apply, which
// then makes it a commit confirmed.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request, sess *session) {
	text := r.PostForm.Get("config")
	if f, _, err := r.FormFile("file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
		f.Close()
		if err == nil && len(b) > 0 {
			text = string(b)
		}
	}
	pd := s.newPage(sess, "system")
	p := page{"system", "system", s.fillSystem}
	var problem string
	switch {
	case strings.TrimSpace(text) == "":
		problem = "the uploaded configuration is empty: choose a file saved by Download, or paste its lines"
	case len(text) > config.MaxFileSize:
		problem = fmt.Sprintf("the uploaded configuration is larger than %d bytes", config.MaxFileSize)
	}
	var c *config.Config
	if problem == "" {
		var err error
		if c, err = config.Parse(text); err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		pd.Errors = map[string]string{"config": problem}
		s.show(w, r, sess, p, http.StatusBadRequest, pd)
		return
	}
	s.ss.with(func() {
		sess.replace, sess.edits = c, nil
		sess.flash = "The uploaded configuration is loaded as your changes: review them, then apply."
	})
	http.Redirect(w, r, "/changes", http.StatusSeeOther)
}
