package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// File names inside a Store's directory.
const (
	FileName    = "passgate.conf"     // the configuration
	BackupName  = "passgate.conf.bak" // the configuration before the last commit
	RevisionDir = "revisions"         // older configurations, revisions/0001.conf ...
	DefaultKeep = 20                  // revisions kept when Store.Keep is 0
)

// Lines Store adds around String(). A file that carries checkedLine must
// end with a trailer (else it was truncated); a trailer that does not
// match marks a hand edit (load.go: decode); a file without either was
// written by hand.
const (
	savedPrefix   = "# saved "
	checkedLine   = `# sha256-checked: to edit this file by hand, delete this line and the "# sha256" line at the end`
	trailerPrefix = "# sha256 "
)

// ErrDamaged marks a configuration file that is truncated or corrupted.
var ErrDamaged = errors.New("damaged")

// ErrArchive marks a Save that committed the new configuration but could
// not keep the previous one under revisions/.
var ErrArchive = errors.New("previous configuration not archived")

// Store keeps the configuration in one directory (the FAT boot partition):
// passgate.conf, its backup passgate.conf.bak, and the previous committed
// configurations under revisions/. Saving is power-loss safe: at every
// instant at least one of passgate.conf and passgate.conf.bak is a
// complete, valid file, and a commit either fully happened or did not.
// Its methods may be called from several goroutines.
type Store struct {
	mu    sync.Mutex // serialises Save with the readers
	fs    FS
	where string // directory, for messages

	// Keep is how many previous configurations revisions/ holds (0 means
	// DefaultKeep).
	Keep int
	// Now stamps saved files; nil means time.Now.
	Now func() time.Time
}

// NewStore returns a Store on the directory dir of the operating system.
func NewStore(dir string) *Store { return &Store{fs: DirFS(dir), where: dir} }

// NewStoreFS returns a Store on fsys; where names it in messages.
func NewStoreFS(fsys FS, where string) *Store { return &Store{fs: fsys, where: where} }

func (s *Store) path(name string) string { return path.Join(s.where, name) }

func (s *Store) keep() int {
	if s.Keep > 0 {
		return s.Keep
	}
	return DefaultKeep
}

// encode renders c as a stored file: a saved-time line, the checked
// marker, c.String() and the sha256 trailer over everything before it.
func encode(c *Config, saved time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(savedPrefix + saved.UTC().Format(time.RFC3339) + "\n")
	b.WriteString(versionPrefix + strconv.Itoa(FormatVersion) + "\n")
	b.WriteString(checkedLine + "\n")
	b.WriteString(c.String())
	sum := sha256.Sum256(b.Bytes())
	b.WriteString(trailerPrefix + hex.EncodeToString(sum[:]) + "\n")
	return b.Bytes()
}

// read loads and checks one file of the store.
func (s *Store) read(name string) (*Config, []byte, time.Time, error) {
	data, err := s.fs.ReadFile(name)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	c, info, err := decode(data)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	return c, data, info.saved, nil
}

// current finds the configuration in use: passgate.conf if usable (it
// decodes and validates; a hand edit counts), else the backup, else the
// newest usable revision. name is "" if none is usable; mainErr says what
// is wrong with passgate.conf.
type current struct {
	cfg      *Config
	data     []byte
	name     string
	saved    time.Time
	handEdit bool // passgate.conf is used as edited by hand
	info     fileInfo
	mainErr  error
	anyFile  bool // some configuration file exists at all
}

func (s *Store) current() current {
	var cur current
	c, data, info, err := s.readUsable(FileName)
	if err == nil {
		return current{cfg: c, data: data, name: FileName, saved: info.saved, handEdit: info.handEdit, info: info, anyFile: true}
	}
	cur.mainErr = err
	cur.anyFile = !errors.Is(err, fs.ErrNotExist)
	names := []string{BackupName}
	for _, seq := range s.revisionSeqs() {
		names = append(names, revisionName(seq))
	}
	for _, name := range names {
		c, data, info, err := s.readUsable(name)
		if err == nil {
			cur.cfg, cur.data, cur.name, cur.saved, cur.info, cur.anyFile = c, data, name, info.saved, info, true
			return cur
		}
		cur.anyFile = cur.anyFile || !errors.Is(err, fs.ErrNotExist)
	}
	return cur
}

func describe(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "is missing"
	}
	return "is " + err.Error()
}

func savedText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " (saved " + t.UTC().Format(time.RFC3339) + ")"
}

// Save commits c: afterwards passgate.conf holds c, passgate.conf.bak the
// configuration it replaces, and revisions/ keeps that one too. The steps:
//
//  1. write passgate.conf.tmp, fsync it, read it back;
//  2. unless passgate.conf.bak already holds it, write the configuration
//     in use (passgate.conf if valid, else the backup or revision Load
//     would use) as passgate.conf.bak.tmp, fsync, rename it over
//     passgate.conf.bak, fsync the directory: the backup is replaced
//     atomically while passgate.conf is still intact, and a damaged
//     passgate.conf never overwrites a good backup;
//  3. rename passgate.conf.tmp over passgate.conf, fsync the directory;
//  4. archive the replaced configuration under revisions/ and prune.
//
// A crash at any point leaves passgate.conf old or new and
// passgate.conf.bak valid, so Load returns the old or the new
// configuration. An error wrapping ErrArchive means c was committed but
// the history was not updated. Save confirms a pending commit confirmed
// (confirm.go).
func (s *Store) Save(c *Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.savePlain(c)
}

// save is Save without the pending record; s.mu is held.
func (s *Store) save(c *Config) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	data := encode(c, now())
	// A Config built by hand may hold values the language cannot express
	// (e.g. a hostname with a space); never store what would not load.
	if back, _, err := decode(data); err != nil || back.String() != c.String() {
		return fmt.Errorf("config: save %s: the configuration does not read back identically: %v", s.path(FileName), err)
	}
	prev := s.current()

	// The hook runs once passgate.conf.tmp is durable.
	var hookErr error
	err := atomicfile.Replace(s.fs, FileName, data, func() error {
		tmp := FileName + atomicfile.TmpSuffix
		if got, err := s.fs.ReadFile(tmp); err != nil || !bytes.Equal(got, data) {
			hookErr = fmt.Errorf("config: save %s: the file reads back differently from what was written (failing storage?): %v", s.path(tmp), err)
			return hookErr
		}
		if prev.data == nil {
			return nil
		}
		if bak, err := s.fs.ReadFile(BackupName); err == nil && bytes.Equal(bak, prev.data) {
			return nil
		}
		hookErr = s.replace(BackupName, prev.data)
		return hookErr
	})
	if err != nil {
		if err == hookErr {
			return err
		}
		return fmt.Errorf("config: save %s: %w", s.path(FileName), err)
	}
	if prev.data != nil {
		if err := s.archive(prev.data); err != nil {
			return fmt.Errorf("config: saved %s, but %w: %w", s.path(FileName), ErrArchive, err)
		}
	}
	return nil
}

// replace replaces name with data through atomicfile.
func (s *Store) replace(name string, data []byte) error {
	if err := atomicfile.Replace(s.fs, name, data, nil); err != nil {
		return fmt.Errorf("config: save %s: %w", s.path(name), err)
	}
	return nil
}

func (s *Store) syncDir(dir string) error {
	if err := s.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("config: save: fsync directory %s: %w", s.path(dir), err)
	}
	return nil
}

func revisionName(seq int) string { return fmt.Sprintf("%s/%04d.conf", RevisionDir, seq) }

// revisionSeqs lists the archived revisions, newest first.
func (s *Store) revisionSeqs() []int {
	names, err := s.fs.ReadDir(RevisionDir)
	if err != nil {
		return nil
	}
	var seqs []int
	for _, n := range names {
		num, ok := strings.CutSuffix(n, ".conf")
		if seq, isNum := atoi(num); ok && isNum && seq > 0 {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	slices.Reverse(seqs)
	return seqs
}

// archive stores data as the newest revision and prunes the oldest.
func (s *Store) archive(data []byte) error {
	if _, err := s.fs.ReadDir(RevisionDir); err != nil {
		if err := s.fs.MkdirAll(RevisionDir); err != nil {
			return fmt.Errorf("create %s: %w", s.path(RevisionDir), err)
		}
		if err := s.syncDir("."); err != nil {
			return err
		}
	}
	seqs := s.revisionSeqs()
	next := 1
	if len(seqs) > 0 {
		next = seqs[0] + 1
	}
	name := revisionName(next)
	if err := s.replace(name, data); err != nil {
		return err
	}
	seqs = append([]int{next}, seqs...)
	for _, old := range seqs[min(len(seqs), s.keep()):] {
		if err := s.fs.Remove(revisionName(old)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("prune %s: %w", s.path(revisionName(old)), err)
		}
	}
	if names, err := s.fs.ReadDir(RevisionDir); err == nil {
		for _, n := range names {
			if strings.HasSuffix(n, atomicfile.TmpSuffix) {
				s.fs.Remove(RevisionDir + "/" + n) // left by an earlier crash
			}
		}
	}
	return s.syncDir(RevisionDir)
}

// RevisionInfo describes one configuration that rollback can return to.
type RevisionInfo struct {
	N     int       // 0 = current, 1 = before the last commit, ...
	File  string    // file name inside the store, e.g. "revisions/0007.conf"
	Saved time.Time // when it was saved; zero if unknown (written by hand)
	Err   error     // non-nil if the file is damaged
}

// Revisions lists the current configuration (N = 0, the file Load would
// use) and the kept previous ones, newest first, for "rollback ?".
func (s *Store) Revisions() []RevisionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.current()
	var out []RevisionInfo
	switch {
	case cur.cfg != nil:
		out = append(out, RevisionInfo{N: 0, File: cur.name, Saved: cur.saved})
	case cur.anyFile:
		out = append(out, RevisionInfo{N: 0, File: FileName, Err: cur.mainErr})
	}
	for i, seq := range s.revisionSeqs() {
		info := RevisionInfo{N: i + 1, File: revisionName(seq)}
		_, _, info.Saved, info.Err = s.read(info.File)
		out = append(out, info)
	}
	return out
}

// Revision returns the configuration n commits back, for "rollback N":
// 0 is the current one (as Load), 1 the one before the last commit, and so
// on up to Keep.
func (s *Store) Revision(n int) (*Config, error) {
	if n < 0 {
		return nil, fmt.Errorf("config: revision %d does not exist; use 0 (current) to %d", n, s.keep())
	}
	if n == 0 {
		c, _, err := s.Load()
		return c, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs := s.revisionSeqs()
	if n > len(seqs) {
		return nil, fmt.Errorf("config: revision %d does not exist; %d previous configurations are kept (use 0 to %d)", n, len(seqs), len(seqs))
	}
	name := revisionName(seqs[n-1])
	c, _, _, err := s.read(name)
	if err != nil {
		return nil, fmt.Errorf("config: revision %d (%s): %w", n, s.path(name), err)
	}
	return c, nil
}
