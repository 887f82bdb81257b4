package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// A commit confirmed ("commit confirmed 5") is applied and saved at once,
// and rolled back unless it is confirmed in time. Its rollback is kept in
// PendingName beside passgate.conf until it is confirmed, so that it
// survives a restart: at start, Settle rolls back a commit confirmed that
// was not confirmed, unless the restart was one the shell planned
// ("reboot", which the user may need for a change that takes effect only
// at start), in which case the commit stays pending with the time it had
// left. docs/architecture.md ("How confirmed commits are persisted")
// explains the design and why it does not trust the wall clock.
//
// The write protocol keeps every crash decidable. The record names the
// configuration its commit saves (by Sum) and the one the rollback
// restores (Prev); it is written before passgate.conf changes and
// removed only after a passgate.conf that settles it is durable:
//
//   - commit confirmed: write the record (Prev, New = Sum(new)), then Save;
//   - a plain Save while a record exists (commit, the rollback itself, a
//     factory reset): rewrite the record as confirmed with New = Sum(new),
//     Save, remove the record;
//   - confirm: remove the record;
//   - a planned restart: rewrite the record with Restart and the time left.
//
// At start, with C the configuration Load returns: C = Prev means the
// commit never reached the disk or its rollback already did (the record
// is dropped); C = New of a confirmed record is kept; C = New after a
// planned restart stays pending (the flag is consumed: a second restart
// rolls back); anything else — C = New after any other restart, or a C
// that a change interrupted by a crash left — is rolled back to Prev.

// PendingName is the file, beside passgate.conf, that holds the rollback
// of a commit confirmed until it is confirmed.
const PendingName = "passgate.pending"

// maxPendingSize bounds what Settle and Pending read (the record holds one
// configuration); maxPendingMinutes bounds its times (the shell allows
// commit confirmed up to 65535 minutes).
const (
	maxPendingSize    = 4 << 20
	maxPendingMinutes = 65535
)

// Pending is a commit confirmed that waits for its confirmation, as kept
// in PendingName.
type Pending struct {
	// Prev is the configuration the rollback restores: the one before the
	// first of the unconfirmed commits.
	Prev *Config
	// New is Sum of the configuration the commit saved (set by
	// SaveConfirmed).
	New string
	// By says who committed ("console", "ssh admin from ..."); Minutes is
	// the time asked for.
	By      string
	Minutes int
	// Committed is the wall-clock time of the commit, for messages only:
	// a board without a real-time clock may not know the time.
	Committed time.Time
	// Left is the time to confirm that was left when the record was
	// written; after a planned restart the rollback timer starts again
	// from it.
	Left time.Duration
	// Restart marks a restart planned from the shell: the next start
	// keeps the commit pending (and clears the mark). Any other start
	// rolls the commit back.
	Restart bool
}

// Sum identifies a configuration in a pending record and in the commit
// history: the hex sha256 of its text (String), which Parse and String
// preserve.
func Sum(c *Config) string {
	h := sha256.Sum256([]byte(c.String()))
	return hex.EncodeToString(h[:])
}

// pendingFile is PendingName's JSON. Fields may be added; readers ignore
// the ones they do not know.
type pendingFile struct {
	Note      string `json:"note"`
	Version   int    `json:"version"`
	New       string `json:"new_sha256"`
	PrevSum   string `json:"prev_sha256"`
	Confirmed bool   `json:"confirmed,omitempty"` // a Save that confirms is in progress
	Restart   bool   `json:"restart,omitempty"`
	LeftSec   int64  `json:"left_seconds"`
	Minutes   int    `json:"minutes"`
	By        string `json:"by,omitempty"`
	Committed string `json:"committed,omitempty"`
	Prev      string `json:"prev"`
}

const pendingNote = "passgate: a commit confirmed that is not confirmed yet; at boot routerd rolls it back to \"prev\" unless the restart was a reboot from the shell. Do not edit."

func encodePending(p *Pending, confirmed bool) ([]byte, error) {
	if p.Prev == nil {
		return nil, errors.New("a pending commit needs the configuration to roll back to")
	}
	prev := p.Prev.String()
	if back, err := Parse(prev); err != nil || back.String() != prev {
		return nil, fmt.Errorf("the configuration to roll back to does not read back identically: %v", err)
	}
	f := pendingFile{Note: pendingNote, Version: 1, New: p.New, PrevSum: Sum(p.Prev), Confirmed: confirmed,
		Restart: p.Restart, LeftSec: int64(max(p.Left, 0) / time.Second), Minutes: p.Minutes, By: p.By, Prev: prev}
	if !p.Committed.IsZero() {
		f.Committed = p.Committed.UTC().Format(time.RFC3339)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// decodePending reads a record; confirmed reports a Save that confirms it.
func decodePending(data []byte) (p *Pending, confirmed bool, err error) {
	if len(data) > maxPendingSize {
		return nil, false, fmt.Errorf("%w: %d bytes, more than a record holds", ErrDamaged, len(data))
	}
	var f pendingFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if f.Version < 1 || len(f.New) != 64 || f.Prev == "" {
		return nil, false, fmt.Errorf("%w: fields are missing", ErrDamaged)
	}
	if f.LeftSec < 0 || f.LeftSec > maxPendingMinutes*60 || f.Minutes < 0 || f.Minutes > maxPendingMinutes {
		return nil, false, fmt.Errorf("%w: the time is out of range", ErrDamaged)
	}
	prev, err := Parse(f.Prev)
	if err != nil {
		return nil, false, fmt.Errorf("%w: the configuration to roll back to: %v", ErrDamaged, err)
	}
	if Sum(prev) != f.PrevSum {
		return nil, false, fmt.Errorf("%w: the configuration to roll back to does not match its checksum", ErrDamaged)
	}
	p = &Pending{Prev: prev, New: f.New, By: f.By, Minutes: f.Minutes, Restart: f.Restart,
		Left: time.Duration(f.LeftSec) * time.Second}
	if f.Committed != "" {
		p.Committed, _ = time.Parse(time.RFC3339, f.Committed)
	}
	return p, f.Confirmed, nil
}

// rawPending returns the record's bytes; ok is false when there is none.
//
// On FAT a rename over an existing file is an unlink, then a link: a
// crash between the two leaves only the temporary file, which is
// complete (atomicfile fsyncs it before renaming), so it is the record.
// A temporary file left by a crash before the rename of a first record
// holds a record whose commit never reached passgate.conf, which Settle
// drops; removePending removes the temporary file first, so no other
// one is ever left alone.
func (s *Store) rawPending() (data []byte, ok bool, err error) {
	data, err = s.fs.ReadFile(PendingName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		tmp, terr := s.fs.ReadFile(PendingName + atomicfile.TmpSuffix)
		if terr != nil {
			return nil, false, nil
		}
		if _, _, derr := decodePending(tmp); derr != nil {
			return nil, false, nil // a write that never completed
		}
		return tmp, true, nil
	case err != nil:
		return nil, true, err
	}
	return data, true, nil
}

func (s *Store) writePending(p *Pending, confirmed bool) error {
	data, err := encodePending(p, confirmed)
	if err != nil {
		return fmt.Errorf("config: save %s: %w", s.path(PendingName), err)
	}
	return s.replace(PendingName, data)
}

func (s *Store) removePending() error {
	if err := s.fs.Remove(PendingName + atomicfile.TmpSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config: remove %s: %w", s.path(PendingName+atomicfile.TmpSuffix), err)
	}
	if err := s.fs.Remove(PendingName); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("config: remove %s: %w", s.path(PendingName), err)
	}
	return s.syncDir(".")
}

// restorePending puts back a record as it was before a failed save (best
// effort: when it fails too, Settle still rolls back to the record's
// Prev, which is the cautious outcome).
func (s *Store) restorePending(data []byte, had bool) {
	if !had {
		s.removePending()
		return
	}
	if data != nil {
		atomicfile.Replace(s.fs, PendingName, data, nil)
	}
}

// Where returns the path of passgate.conf, for messages.
func (s *Store) Where() string { return s.path(FileName) }

// Pending returns the commit confirmed that waits for confirmation, or
// nil if there is none.
func (s *Store) Pending() (*Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok, err := s.rawPending()
	if !ok {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", s.path(PendingName), err)
	}
	p, confirmed, err := decodePending(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s %w", s.path(PendingName), err)
	}
	if confirmed {
		return nil, nil
	}
	return p, nil
}

// SaveConfirmed saves c as a commit confirmed whose rollback is p: the
// record first (with p.New set to Sum(c) and no Restart mark), then c as
// Save does. When the save fails the record is put back as it was.
func (s *Store) SaveConfirmed(c *Config, p Pending) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.New, p.Restart = Sum(c), false
	old, had, _ := s.rawPending()
	if err := s.writePending(&p, false); err != nil {
		return err
	}
	err := s.save(c)
	if err != nil && !errors.Is(err, ErrArchive) {
		s.restorePending(old, had)
	}
	return err
}

// SetPending rewrites the record of the pending commit confirmed (more
// time, a planned restart); nil removes it (the commit is confirmed).
func (s *Store) SetPending(p *Pending) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == nil {
		return s.removePending()
	}
	return s.writePending(p, false)
}

// savePlain is Save: a save that is not a commit confirmed confirms any
// pending one. The record is first marked confirmed for c, so that a
// crash before c is durable rolls back and a crash after it keeps c.
// s.mu is held.
func (s *Store) savePlain(c *Config) error {
	old, had, rerr := s.rawPending()
	if had {
		p, _, derr := decodePending(old)
		switch {
		case rerr == nil && derr == nil:
			p.New, p.Restart = Sum(c), false
			if err := s.writePending(p, true); err != nil {
				return err
			}
		default:
			// A damaged record cannot be marked; this save settles it.
			if err := s.removePending(); err != nil {
				return err
			}
			had = false
		}
	}
	err := s.save(c)
	if err != nil && !errors.Is(err, ErrArchive) {
		if had {
			s.restorePending(old, true)
		}
		return err
	}
	if had {
		// The record now says "confirmed, keep c": if it cannot be
		// removed, Settle removes it at the next start.
		s.removePending()
	}
	return err
}

// Boot is what Settle found and did at start.
type Boot struct {
	// Pending is the commit confirmed that stays pending after a planned
	// restart; its rollback timer starts again from Pending.Left.
	Pending *Pending
	// RolledBack reports a rollback to the configuration before an
	// unconfirmed commit.
	RolledBack bool
	// Run, when not nil, is the configuration to run instead of what
	// Load returns: the rollback could not be saved (a read-only card).
	Run *Config
	// Notice says what happened, for the console and the log; "" when
	// there is nothing to say.
	Notice string
}

// Settle decides, at start and before the configuration is loaded, what
// becomes of a commit confirmed that was pending when the router stopped
// (see the rules at the top of this file): it removes a record that is
// settled, keeps a commit pending across a planned restart, and otherwise
// saves the rollback. Call it exactly once per start (routerd: once per
// worker start): it consumes the planned-restart mark, so a second call
// rolls back as a second start would.
func (s *Store) Settle() Boot {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, had, rerr := s.rawPending()
	if !had {
		return Boot{}
	}
	cur := s.current()
	curSum := ""
	if cur.cfg != nil {
		curSum = Sum(cur.cfg)
	}
	p, confirmed, derr := (*Pending)(nil), false, rerr
	if derr == nil {
		p, confirmed, derr = decodePending(data)
	}
	if derr != nil {
		return s.settleDamaged(derr, curSum)
	}
	who := "a commit confirmed"
	if p.By != "" {
		who += " by " + p.By
	}
	switch {
	case curSum == Sum(p.Prev):
		// The commit never reached passgate.conf, or its rollback did.
		if err := s.removePending(); err != nil {
			return Boot{Notice: fmt.Sprintf("%s: %s holds the configuration from before it; removing the record failed (%v)", who, FileName, err)}
		}
		if confirmed {
			return Boot{}
		}
		return Boot{Notice: fmt.Sprintf("%s did not complete (the router stopped before it was saved): the configuration from before it stays", who)}
	case curSum == p.New && confirmed:
		s.removePending()
		return Boot{}
	case curSum == p.New && p.Restart && p.Left > 0:
		p.Restart = false
		if err := s.writePending(p, false); err != nil {
			return s.rollback(p, cur.cfg, fmt.Sprintf("%s was kept across a planned restart, but the record could not be updated (%v)", who, err))
		}
		return Boot{Pending: p, Notice: fmt.Sprintf("%s is still pending after the restart: it is rolled back in %s unless confirmed (\"confirm\" in configuration mode)", who, minSec(p.Left))}
	case curSum == p.New && p.Restart:
		return s.rollback(p, cur.cfg, who+" was not confirmed in time")
	case curSum == p.New:
		return s.rollback(p, cur.cfg, who+" was not confirmed before the router restarted (a power cut, a crash or a reset: only \"reboot\" from the shell keeps a commit pending)")
	}
	return s.rollback(p, cur.cfg, who+" was pending when a change to the configuration was interrupted (a power cut or a crash during a commit)")
}

// settleDamaged rolls back to the configuration before the last commit
// when the record cannot be read: the record exists only while a commit
// is unconfirmed, and a router that may lock its owner out must not stay
// as it is.
func (s *Store) settleDamaged(derr error, curSum string) Boot {
	seqs := s.revisionSeqs()
	var prev *Config
	if len(seqs) > 0 {
		prev, _, _, _ = s.read(revisionName(seqs[0]))
	}
	why := fmt.Sprintf("the record of a commit confirmed (%s) cannot be read: %v", s.path(PendingName), derr)
	if prev == nil || Sum(prev) == curSum {
		if err := s.removePending(); err != nil {
			return Boot{Notice: why + "; there is no earlier configuration to roll back to, and removing the record failed: " + err.Error()}
		}
		return Boot{Notice: why + "; there is no earlier configuration to roll back to, so the configuration stays"}
	}
	// savePlain cannot mark a damaged record: it removes it, then saves.
	// A crash between the two keeps the current configuration, which is
	// all that a damaged record allows.
	return s.rollback(&Pending{Prev: prev}, nil, why+"; rolling back to the configuration before the last commit")
}

// rollback saves p.Prev as the configuration (a plain save, which also
// settles the record) and describes what changed. s.mu is held.
func (s *Store) rollback(p *Pending, from *Config, why string) Boot {
	b := Boot{RolledBack: true}
	msg := why + ": rolled back to the configuration from before it"
	if from != nil {
		msg += " (the unconfirmed one is kept as revision 1: \"rollback 1\" loads it)"
	}
	if err := s.savePlain(p.Prev); err != nil && !errors.Is(err, ErrArchive) {
		b.Run = p.Prev
		msg = why + ": running the configuration from before it, but the rollback could not be saved (" + err.Error() +
			"), so the card still holds the unconfirmed one and the next start rolls back again"
	}
	if from != nil {
		d := Diff(from, p.Prev)
		if len(d) > 20 {
			d = append(d[:20], fmt.Sprintf("... and %d more lines", len(d)-20))
		}
		if len(d) > 0 {
			msg += ":\n  " + strings.Join(d, "\n  ")
		}
	}
	b.Notice = msg
	return b
}

// minSec writes d as the shell does: "4m30s", "1h05m00s".
func minSec(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%dh%02dm%02ds", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
