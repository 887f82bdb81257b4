package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
	"unicode"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// The commit history ("show system commit") is one small JSON file beside
// the configuration, replaced atomically at each commit and bounded to
// the last HistoryKeep commits. An entry does not point at a revision
// file: it holds the checksum of the configuration it committed, and
// History finds the revision that still holds it. So the history cannot
// disagree with the revisions (a commit whose entry was lost to a power
// cut, or made before the history existed, is simply not listed), and a
// damaged history file never stands in the way of a commit.

// History bounds.
const (
	HistoryName       = "commit-history.json" // the file in a Store's directory
	HistoryKeep       = 50                    // entries kept
	maxHistoryText    = 256                   // characters of a comment
	maxHistoryWho     = 128                   // characters of Who and How
	maxHistoryFileLen = 1 << 20               // a longer file is damaged
)

// HistoryEntry is one commit.
type HistoryEntry struct {
	Time    time.Time `json:"time"`
	Who     string    `json:"who"`               // "console /dev/ttyAMA0", "ssh admin (key laptop) from ..."
	How     string    `json:"how,omitempty"`     // "commit", "commit confirmed 5", "automatic rollback"
	Comment string    `json:"comment,omitempty"` // commit comment "..."
	SHA256  string    `json:"sha256"`            // of the committed configuration's text (Sum)
	// Revision is the n of Store.Revision that holds this commit's
	// configuration now, or -1 when it is no longer kept. History fills
	// it; it is not stored.
	Revision int `json:"-"`
}

type historyFile struct {
	Version int            `json:"version"`
	Commits []HistoryEntry `json:"commits"` // newest first
}

// cleanText keeps a history text printable and bounded.
func cleanText(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			break
		}
		if !unicode.IsPrint(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// RecordCommit adds e, the commit of c, to the history (e.Time now if
// zero). The oldest entries beyond HistoryKeep are dropped; a damaged
// history file is started afresh.
func (s *Store) RecordCommit(e HistoryEntry, c *Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Time.IsZero() {
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		e.Time = now()
	}
	e = cleanEntry(e, c)
	list, _ := s.readHistory()
	list = append([]HistoryEntry{e}, list...)
	if len(list) > HistoryKeep {
		list = list[:HistoryKeep]
	}
	data, err := json.MarshalIndent(historyFile{Version: 1, Commits: list}, "", " ")
	if err != nil {
		return fmt.Errorf("config: commit history: %w", err)
	}
	if err := atomicfile.Replace(s.fs, HistoryName, append(data, '\n'), nil); err != nil {
		return fmt.Errorf("config: save %s: %w", s.path(HistoryName), err)
	}
	return nil
}

func cleanEntry(e HistoryEntry, c *Config) HistoryEntry {
	e.Time = e.Time.UTC().Truncate(time.Second)
	e.Who = cleanText(e.Who, maxHistoryWho)
	e.How = cleanText(e.How, maxHistoryWho)
	e.Comment = cleanText(e.Comment, maxHistoryText)
	e.SHA256 = Sum(c)
	return e
}

// readHistory reads the history file; a missing one is empty.
func (s *Store) readHistory() ([]HistoryEntry, error) {
	data, err := s.fs.ReadFile(HistoryName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", s.path(HistoryName), err)
	}
	if len(data) > maxHistoryFileLen {
		return nil, fmt.Errorf("config: %s is damaged: %d bytes, more than a history holds", s.path(HistoryName), len(data))
	}
	var h historyFile
	if err := json.Unmarshal(data, &h); err != nil || h.Version != 1 {
		return nil, fmt.Errorf("config: %s is damaged (%v); the next commit starts it again", s.path(HistoryName), err)
	}
	if len(h.Commits) > HistoryKeep {
		h.Commits = h.Commits[:HistoryKeep]
	}
	for i, e := range h.Commits {
		h.Commits[i].Who = cleanText(e.Who, maxHistoryWho)
		h.Commits[i].How = cleanText(e.How, maxHistoryWho)
		h.Commits[i].Comment = cleanText(e.Comment, maxHistoryText)
	}
	return h.Commits, nil
}

// History returns the recorded commits, newest first, each with the
// revision that holds its configuration now (-1 if none does).
func (s *Store) History() ([]HistoryEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list, err := s.readHistory()
	if err != nil {
		return nil, err
	}
	var sums []string
	if cur := s.current(); cur.cfg != nil {
		sums = append(sums, Sum(cur.cfg))
	} else {
		sums = append(sums, "")
	}
	for _, seq := range s.revisionSeqs() {
		sum := ""
		if c, _, _, err := s.read(revisionName(seq)); err == nil {
			sum = Sum(c)
		}
		sums = append(sums, sum)
	}
	MatchRevisions(list, sums)
	return list, nil
}

// MatchRevisions sets the Revision of each entry (newest first): the
// first revision, from the newest on and after the previous entry's, whose
// checksum (sums[n] for revision n, "" if unreadable) is the entry's. A
// commit of the same configuration twice therefore finds the right one.
func MatchRevisions(entries []HistoryEntry, sums []string) {
	next := 0
	for i := range entries {
		entries[i].Revision = -1
		for n := next; n < len(sums); n++ {
			if sums[n] != "" && sums[n] == entries[i].SHA256 {
				entries[i].Revision = n
				next = n + 1
				break
			}
		}
	}
}

// Record is RecordCommit for a history kept in memory (a router without
// a Store); it returns the new list.
func Record(list []HistoryEntry, e HistoryEntry, c *Config) []HistoryEntry {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	list = append([]HistoryEntry{cleanEntry(e, c)}, list...)
	return list[:min(len(list), HistoryKeep)]
}
