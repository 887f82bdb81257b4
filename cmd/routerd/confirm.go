package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// commit applies c and saves it with save, as one transaction: when the
// save fails (a read-only or full card), the configuration that ran
// before is applied again, so the router never runs a change it could
// not keep, and the error says so (*shell.SaveError).
func (s shellRouter) commit(c *config.Config, save func() error) ([]string, error) {
	if errs, _ := c.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("%v", errs[0])
	}
	if err := s.r.saveProblem(); err != nil {
		return nil, err // configfile.go: no store, or a card that cannot be written
	}
	old := s.Config()
	changes, err := s.r.apply(c)
	if err != nil {
		// apply may have reconfigured a part before failing.
		if _, uerr := s.r.apply(old); uerr != nil {
			s.r.logf("commit failed (%v), and applying the previous configuration again failed too: %v", err, uerr)
		}
		return nil, err
	}
	err = save()
	switch {
	case err == nil:
	case errors.Is(err, config.ErrArchive):
		changes = append(changes, fmt.Sprintf("warning: %v", err))
	default:
		_, uerr := s.r.apply(old)
		serr := &shell.SaveError{Path: s.r.store.Where(), Err: saveError(err), UndoErr: uerr}
		s.r.logf("commit not saved: %v (%v)", serr, err)
		return nil, serr
	}
	s.r.committed()
	return changes, nil
}

// CommitConfirmed applies c and saves it with its rollback p
// (config.Store.SaveConfirmed), as one transaction like Commit.
func (s shellRouter) CommitConfirmed(ctx context.Context, c *config.Config, p config.Pending) ([]string, error) {
	return s.commit(c, func() error { return s.r.store.SaveConfirmed(c, p) })
}

func (s shellRouter) Pending() *config.Pending {
	if s.r.store == nil {
		return nil
	}
	p, err := s.r.store.Pending()
	if err != nil {
		s.r.logf("%v", err)
	}
	return p
}

func (s shellRouter) SetPending(p *config.Pending) error {
	if s.r.store == nil {
		return fmt.Errorf("the configuration %s is not a passgate.conf store", s.r.cfgPath)
	}
	return s.r.store.SetPending(p)
}

func (s shellRouter) NeedsRestart() bool {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return config.NeedsRestart(s.r.running, s.r.cfg)
}

// settlePending runs at start, before the configuration is loaded: a
// commit confirmed that was pending when the router stopped is rolled
// back unless the stop was a reboot from the shell (config.Store.Settle),
// and the console and the log say what happened. It returns the
// configuration to run when the rollback could not be saved.
func (r *router) settlePending() *config.Config {
	b := r.store.Settle()
	if b.Notice != "" {
		r.logf("%s", b.Notice)
	}
	return b.Run
}
