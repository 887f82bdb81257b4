package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/passgate/passgate/internal/bootconfig"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shellcontract"
)

// fallbackRouter is a router as bootconfig leaves it after a fallback: the
// card's passgate.conf is damaged, and the configuration runs from a copy
// in RAM.
func fallbackRouter(t *testing.T, noSave string) (r *router, card, ramFile string) {
	h := newRouterdHarness(t, shellcontract.Config()).(*routerdHarness)
	r, card = h.cur.r, h.dir
	if err := os.WriteFile(filepath.Join(card, config.FileName), []byte("\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	ramFile = filepath.Join(t.TempDir(), config.FileName)
	if err := os.WriteFile(ramFile, []byte(r.cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ch := bootconfig.Choice{Config: ramFile, StateDir: card, Store: card, NoSave: noSave,
		Note: "running the backup passgate.conf.bak from RAM: passgate.conf is damaged"}
	if noSave == "" {
		ch.Note += "; the next commit writes a new passgate.conf on the boot partition"
	}
	r.useBootChoice(ch)
	return r, card, ramFile
}

func showSystem(t *testing.T, r *router) string {
	var out bytes.Buffer
	if err := shell.New(shellRouter{r}, shell.Options{}).Run(context.Background(), "show system", &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestCommitAfterFallbackRepairsTheCard: after the loader fell back, a
// commit writes the card's passgate.conf (never the copy in RAM), and
// show system stops saying the router runs a fallback.
func TestCommitAfterFallbackRepairsTheCard(t *testing.T) {
	r, card, ramFile := fallbackRouter(t, "")
	ram, _ := os.ReadFile(ramFile)
	if out := showSystem(t, r); !strings.Contains(out, "Config     running the backup passgate.conf.bak from RAM") {
		t.Errorf("show system does not say the configuration runs from RAM:\n%s", out)
	}
	next := r.cfg.Clone()
	next.System.Hostname = "repaired"
	if _, err := (shellRouter{r}).Commit(context.Background(), next); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got, err := config.ReadFile(filepath.Join(card, config.FileName))
	if err != nil || !got.Equal(next) {
		t.Fatalf("the card's passgate.conf after the commit: %v, %v", got, err)
	}
	if after, _ := os.ReadFile(ramFile); !bytes.Equal(after, ram) {
		t.Error("the commit wrote the copy in RAM")
	}
	if r.cfgPath != filepath.Join(card, config.FileName) || r.runFile {
		t.Errorf("after the commit the router runs %s (runFile %v), want the card's file", r.cfgPath, r.runFile)
	}
	if out := showSystem(t, r); strings.Contains(out, "Config") {
		t.Errorf("show system still has a Config line after the repair:\n%s", out)
	}
	// SIGHUP now reads the card.
	if err := r.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if r.cfg.System.Hostname != "repaired" {
		t.Errorf("reload ran %q", r.cfg.System.Hostname)
	}
}

// TestCommitRefusedWhenTheCardCannotBeWritten: with no writable card the
// commit is refused before anything is applied, and says why.
func TestCommitRefusedWhenTheCardCannotBeWritten(t *testing.T) {
	why := "the configuration cannot be saved: the boot partition is read-only (a write-protected SD card); unlock the card and restart the router to commit"
	r, card, _ := fallbackRouter(t, why)
	before := r.cfg.Clone()
	cardBefore, _ := os.ReadFile(filepath.Join(card, config.FileName))
	next := before.Clone()
	next.Passthrough.PPTP = false
	_, err := (shellRouter{r}).Commit(context.Background(), next)
	if err == nil || err.Error() != why {
		t.Fatalf("Commit: %v; want %q", err, why)
	}
	if !r.cfg.Equal(before) {
		t.Error("a refused commit was applied")
	}
	if after, _ := os.ReadFile(filepath.Join(card, config.FileName)); !bytes.Equal(after, cardBefore) {
		t.Error("a refused commit changed the card")
	}
	if out := showSystem(t, r); !strings.Contains(out, "read-only") {
		t.Errorf("show system does not say commits cannot be saved:\n%s", out)
	}
}

func TestSaveErrorReadOnly(t *testing.T) {
	err := saveError(&os.PathError{Op: "open", Path: "/boot/passgate.conf.tmp", Err: syscall.EROFS})
	if !errors.Is(err, syscall.EROFS) || !strings.HasPrefix(err.Error(), "the boot partition is read-only (a write-protected SD card") {
		t.Errorf("saveError(EROFS) = %v", err)
	}
	other := errors.New("disk on fire")
	if saveError(other) != other {
		t.Error("saveError changed another error")
	}
}
