package main

import (
	"strings"
	"testing"
)

func TestMatrixSummary_keepsVerdictsAndTotalsOnly(t *testing.T) {
	in := "# Scenario matrix\n\nintro\n\n## Targets: resilient against plain\n\n| t |\n\n## Whole run\n\n| c |\n\n## 1. healthy\n\n| row |\n"
	got := matrixSummary(in)
	for _, want := range []string{"## Scenario matrix", "### Targets: resilient against plain", "### Whole run", "[SCENARIOS.md](SCENARIOS.md)"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "healthy") || strings.Contains(got, "intro") {
		t.Errorf("summary holds more than the verdicts and totals:\n%s", got)
	}
	if matrixSummary("# no verdicts\n") != "" {
		t.Error("a report without verdicts gave a section")
	}
}
