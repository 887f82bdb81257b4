package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

// This file is the shell's configuration model for programs (the web
// page, pkg/webui): the same candidate, checks, commit serialisation,
// commit history and commit confirmed as a user typing "configure", the
// set and delete commands, and "commit" — not a second model.

// Edit is one change to a candidate, as "set" or "delete" makes it.
type Edit struct {
	Verb  string   // "set" or "delete"
	Words []string // the absolute path and value: {"passthrough", "pptp", "disable"}
}

// String is the edit as the command a user would type.
func (e Edit) String() string { return e.Verb + " " + config.JoinWords(e.Words) }

// apply makes the edit on c.
func (e Edit) apply(c *config.Config) error {
	switch e.Verb {
	case "set":
		return c.Set(e.Words)
	case "delete":
		return c.Delete(e.Words)
	}
	return fmt.Errorf("unknown edit %q: allowed are set and delete", e.Verb)
}

// EditError is an edit that the configuration refused: Index is its
// place in the list, Err the configuration's own message.
type EditError struct {
	Index int
	Edit  Edit
	Err   error
}

func (e *EditError) Error() string { return fmt.Sprintf("%s: %s", e.Edit, errMsg(e.Err)) }
func (e *EditError) Unwrap() error { return e.Err }

// Msg is the configuration's message alone, without the command.
func (e *EditError) Msg() string { return errMsg(e.Err) }

// Candidate returns the committed configuration with edits applied, as a
// configure session would hold it after typing them; base is the
// committed configuration it started from. An edit the configuration
// refuses is returned as an *EditError.
func (sh *Shell) Candidate(base *config.Config, edits []Edit) (*config.Config, error) {
	if base == nil {
		base = sh.r.Config()
	}
	c := base.Clone()
	for i, e := range edits {
		if err := e.apply(c); err != nil {
			return nil, &EditError{Index: i, Edit: e, Err: err}
		}
	}
	return c, nil
}

// ApplyOptions say how Apply commits.
type ApplyOptions struct {
	// Replace, if set, is loaded as the whole candidate before the edits
	// ("load override" of an uploaded configuration).
	Replace *config.Config
	// ConfirmMinutes > 0 makes it "commit confirmed ConfirmMinutes".
	ConfirmMinutes int
	// Comment is the commit's comment in the history ("commit comment").
	Comment string
}

// Apply is "configure", the edits, and "commit" in one non-interactive
// session: who made it comes from ctx (WithUser), the output — the
// configuration's errors and warnings, the side effects, "Commit
// complete." — goes to w as it would on a terminal. Nothing is applied
// when an edit is refused or the candidate does not validate; the error
// returned then wraps ErrFailed (and an *EditError for a refused edit).
func (sh *Shell) Apply(ctx context.Context, edits []Edit, o ApplyOptions, w io.Writer) error {
	if o.ConfirmMinutes < 0 || o.ConfirmMinutes > maxConfirmMin {
		return fmt.Errorf("%w: commit confirmed takes 1 to %d minutes, not %d", ErrFailed, maxConfirmMin, o.ConfirmMinutes)
	}
	s := sh.newSession(ctx, nil, w, TermInfo{}, false)
	defer s.close()
	cur := sh.r.Config()
	s.configuring = true
	s.cand, s.base = cur.Clone(), cur.Clone()
	if o.Replace != nil {
		s.cand = o.Replace.Clone()
		s.edits = []edit{{verb: "load", cfg: o.Replace.Clone()}}
	}
	for i, e := range edits {
		if err := e.apply(s.cand); err != nil {
			s.errorf("%s: %s", e, errMsg(err))
			s.printf("Nothing was committed.\n")
			return fmt.Errorf("%w: %w", ErrFailed, &EditError{Index: i, Edit: e, Err: err})
		}
		s.edits = append(s.edits, edit{verb: e.Verb, words: e.Words})
	}
	s.comment = o.Comment
	err := s.commit(o.ConfirmMinutes)
	s.configuring = false // the candidate is committed, or refused and dropped
	if err != nil {
		var r reported
		if !errors.As(err, &r) {
			s.errorf("%s", err)
		}
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return s.out.err
}

// Confirm confirms the pending commit confirmed, as "confirm" does; it
// writes what happened to w.
func (sh *Shell) Confirm(ctx context.Context, w io.Writer) error {
	s := sh.newSession(ctx, nil, w, TermInfo{}, false)
	defer s.close()
	if err := cmdConfirm(s, nil); err != nil {
		s.errorf("%s", err)
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return s.out.err
}

// PendingCommit describes the commit confirmed waiting for its
// confirmation.
type PendingCommit struct {
	By   string        // who made it
	Left time.Duration // before it is rolled back
}

// Pending returns the commit confirmed waiting for its confirmation, if
// any.
func (sh *Shell) Pending() (PendingCommit, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.pending == nil {
		return PendingCommit{}, false
	}
	return PendingCommit{By: sh.pending.rec.By, Left: sh.pending.left(sh.clock.Now())}, true
}
