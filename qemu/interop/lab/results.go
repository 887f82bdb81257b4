package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Files in the shared directory (mounted at /lab in the VM).
const (
	ParamsFile   = "params.json"  // host → VM: Params
	ResultsFile  = "results.json" // VM → host: Results
	VersionsFile = "versions.txt" // VM → host: the lab software's versions
	DpkgFile     = "dpkg.txt"     // VM → host: every package in the image
	AgentFile    = "labagent"     // the in-VM program (files/init runs it)
	RouterdFile  = "routerd"      // the static routerd under test
	OpenVPNDir   = "openvpn"      // per-run certificates
	LogsDir      = "logs"         // per-case logs and NAT state
)

// NATs are the NATs the lab compares, in table order.
var NATs = []string{"routerd", "kernel"}

// Params is what the host asks of one run.
type Params struct {
	NATs  []string `json:"nats"`
	Cases []string `json:"cases"`
	// KeepLogs "all" keeps every case's logs, otherwise only failed ones.
	KeepLogs string `json:"keep_logs,omitempty"`
}

// Result is one case's outcome under one NAT.
type Result struct {
	NAT     string  `json:"nat"`
	Case    string  `json:"case"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
	Seconds int     `json:"seconds"`
}

// Results is what the VM hands back; it is rewritten after every case, so
// an interrupted run leaves what it had (Done false).
type Results struct {
	Results []Result `json:"results"`
	// NATSeconds is each NAT's whole run (topology, cases, teardown).
	NATSeconds map[string]int `json:"nat_seconds"`
	// Done is set when the lab reached its end.
	Done bool `json:"done"`
}

// Get returns the result of case c under nat.
func (r *Results) Get(nat, c string) (Result, bool) {
	for _, x := range r.Results {
		if x.NAT == nat && x.Case == c {
			return x, true
		}
	}
	return Result{}, false
}

// SortedTimes lists "nat case Ns" for every result and "nat all Ns" for
// every NAT, sorted.
func (r *Results) SortedTimes() []string {
	var s []string
	for _, x := range r.Results {
		s = append(s, fmt.Sprintf("%s %s %ds", x.NAT, x.Case, x.Seconds))
	}
	for nat, n := range r.NATSeconds {
		s = append(s, fmt.Sprintf("%s all %ds", nat, n))
	}
	sort.Strings(s)
	return s
}

// ReadJSON decodes the JSON file path into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// WriteJSON writes v to path, replacing it whole (a reader never sees half
// a file).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
