package scenario

// This file holds the sick-backend scenario's targets (issue 28) and
// CheckSick, which judges them in Check's terms (Verdict).

import "fmt"

// The sick-backend scenario's targets, as CheckSick names them.
const (
	TargetSickSuccess Target = "one sick backend of four: success ≥"
	TargetSickNoOpen  Target = "one sick backend of four: breaker never opens"
	TargetSickPerCall Target = "one sick backend of four: server requests per call ≤"
	TargetSickConns   Target = "one sick backend of four: connections ≤ plain's + one per failed attempt"
	TargetSickPlain   Target = "one sick backend of four: success ≥ plain − margin"
)

// SickLimits are the bounds CheckSick applies to Subject, in every
// variant, HTTP/1 and HTTP/2 (resilient.New builds its transport),
// wherever the sick backend is.
type SickLimits struct {
	// Subject is judged, against Baseline where a target compares.
	Subject, Baseline string
	// Success is the least share of calls that succeed.
	Success float64
	// PerCall bounds server requests per call.
	PerCall float64
	// ConnsPerFailure bounds the connections opened beyond the
	// baseline's, per failed attempt (a request the sick backend
	// answered): a retry may dial, nothing else should.
	ConnsPerFailure float64
	// PlainMargin (percentage points) is how far the subject's success
	// may fall below the baseline's.
	PlainMargin float64
}

// IssueSickLimits are issue 28's targets: ≥ 99% success, the breaker never
// opens, ≤ 1.4 server requests per call, at most one new connection per
// failed attempt, and never worse than plain (within the matrix's 1 pp).
var IssueSickLimits = SickLimits{Subject: "resilient", Baseline: "plain", Success: 0.99, PerCall: 1.4, ConnsPerFailure: 1, PlainMargin: 1}

// TestSickLimits are IssueSickLimits for the tests' short variants (40 to
// 320 calls, where one failed call is 0.3–1% of them): 98% success.
var TestSickLimits = SickLimits{Subject: "resilient", Baseline: "plain", Success: 0.98, PerCall: 1.4, ConnsPerFailure: 1, PlainMargin: 1}

// CheckSick judges l.Subject in every variant of rs. It returns nothing
// when the subject or the baseline was not run.
func CheckSick(rs []SickResult, l SickLimits) []Verdict {
	var vs []Verdict
	add := func(t Target, where string, pass bool, got, limit string) {
		vs = append(vs, Verdict{Target: t, Where: where, Got: got, Limit: limit, Pass: pass})
	}
	pct := func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
	for _, r := range rs {
		s, ok1 := r.Client(l.Subject)
		b, ok2 := r.Client(l.Baseline)
		if !ok1 || !ok2 {
			return nil
		}
		where := "sick backend / " + r.Variant.Name
		add(TargetSickSuccess, where, s.Success() >= l.Success, pct(s.Success()), "≥ "+pct(l.Success))
		if s.BreakerOpens >= 0 {
			add(TargetSickNoOpen, where, s.BreakerOpens == 0, fmt.Sprintf("%d opens", s.BreakerOpens), "0")
		}
		add(TargetSickPerCall, where, s.PerCall() <= l.PerCall, fmt.Sprintf("%.3f", s.PerCall()), fmt.Sprintf("≤ %.2f", l.PerCall))
		most := float64(b.Conns) + l.ConnsPerFailure*float64(s.SickRequests)
		add(TargetSickConns, where, float64(s.Conns) <= most,
			fmt.Sprintf("%d conns, %d failed attempts", s.Conns, s.SickRequests), fmt.Sprintf("≤ %.0f", most))
		floor := b.Success() - l.PlainMargin/100
		add(TargetSickPlain, where, s.Success() >= floor, pct(s.Success()), "≥ "+pct(floor))
	}
	return vs
}
