package main

import "strings"

// matrixSummary returns the scenario matrix's section of RESULTS.md: the
// part of SCENARIOS.md from its verdicts to the first scenario's table
// (targets, failed checks, whole-run totals, the outage's load), under a
// heading of RESULTS.md's level, with a link to the whole report. It
// returns "" when SCENARIOS.md has no verdicts.
func matrixSummary(scenarios string) string {
	start := strings.Index(scenarios, "\n## Targets")
	if start < 0 {
		return ""
	}
	body := scenarios[start+1:]
	if end := strings.Index(body, "\n## 1."); end >= 0 {
		body = body[:end+1]
	}
	body = strings.ReplaceAll(body, "\n## ", "\n### ")
	body = strings.Replace(body, "## Targets", "### Targets", 1)
	var b strings.Builder
	b.WriteString("\n## Scenario matrix\n\n")
	b.WriteString("The same seeded open-loop traffic through a plain client and each peer, each against its own local server with the same fault schedule; ")
	b.WriteString("every scenario, phase by phase, is in [SCENARIOS.md](SCENARIOS.md), whose first lines name the commit measured.\n\n")
	b.WriteString(body)
	return b.String()
}
