package bench

import (
	"encoding/json"
	"os"
	"sync"
)

// The correctness checks, in table order. Each names a column of the facts
// table; TestPeers_* record one Fact per peer for each.
const (
	CheckGETRetried  = "GET retried on 500"
	CheckPOSTRetried = "POST retried on 500"
	CheckLastBody    = "last 500's body reaches the caller"
	CheckNewConns    = "new connections, 10 calls × 4 attempts"
	CheckOpenConns   = "connections left open"
	CheckGoroutines  = "client goroutines left"
	CheckCloseIdle   = "client's CloseIdleConnections reaches the pool"
)

// Checks lists the checks in table order.
var Checks = []string{CheckGETRetried, CheckPOSTRetried, CheckLastBody, CheckNewConns, CheckOpenConns, CheckGoroutines, CheckCloseIdle}

// Fact is one measured answer to a check for one peer.
type Fact struct {
	Check string
	Peer  string
	Value string // what was measured, in words, for the table
	Bad   bool   // the answer is a defect: retried POST, lost body, leak
}

// FactSet collects facts. It is safe for concurrent use.
type FactSet struct {
	mu    sync.Mutex
	facts []Fact
}

// Add records f, replacing an earlier fact for the same check and peer.
func (s *FactSet) Add(f Fact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.facts {
		if s.facts[i].Check == f.Check && s.facts[i].Peer == f.Peer {
			s.facts[i] = f
			return
		}
	}
	s.facts = append(s.facts, f)
}

// All returns the facts recorded so far.
func (s *FactSet) All() []Fact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Fact(nil), s.facts...)
}

// WriteJSON writes v to path as indented JSON.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads path into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
