package resilient

// This file holds the telemetry of hedged requests (hedge.go): the
// counters of hedges sent, won and refused, and their span events. Each
// hedge is also an attempt span of its own, marked resilient.hedge=true by
// decorate (scrub.go).

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Why a hedge was not sent, the resilient.hedge.refusal attribute.
const (
	hedgeRefusedBudget  = "budget"
	hedgeRefusedBreaker = "breaker"
)

// hedgeAttr marks a hedge's attempt span.
var hedgeAttr = attribute.Bool("resilient.hedge", true)

// hedgeInstruments are the counters of hedged requests.
type hedgeInstruments struct {
	sent, won, refused metric.Int64Counter
}

func newHedgeInstruments(m metric.Meter) hedgeInstruments {
	var h hedgeInstruments
	// As in newTelemetry: constant valid names, no-op instruments on error.
	h.sent, _ = m.Int64Counter("resilient.hedges",
		metric.WithUnit("{hedge}"),
		metric.WithDescription("Hedges sent: attempts sent while an earlier attempt of the same call was still in flight."))
	h.won, _ = m.Int64Counter("resilient.hedges.won",
		metric.WithUnit("{hedge}"),
		metric.WithDescription("Hedges whose answer was the call's: they answered first with an outcome that was not a retryable failure."))
	h.refused, _ = m.Int64Counter("resilient.hedges.refused",
		metric.WithUnit("{hedge}"),
		metric.WithDescription("Hedges not sent, by resilient.hedge.refusal: budget (the host's retry budget was spent) or breaker (the host's admission refused)."))
	return h
}

// hedgeSent records hedge number n, sent after delay.
func (t *telemetry) hedgeSent(c *call, n int, delay time.Duration) {
	t.hedges.sent.Add(c.ctx, 1, metric.WithAttributeSet(c.host.attrs))
	c.event("resilient.hedge",
		attribute.Int("resilient.attempt", n),
		attribute.Float64("resilient.hedge.delay_seconds", delay.Seconds()))
}

// hedgeWon records that hedge number n answered the call.
func (t *telemetry) hedgeWon(c *call, n int) {
	t.hedges.won.Add(c.ctx, 1, metric.WithAttributeSet(c.host.attrs))
	c.event("resilient.hedge_won", attribute.Int("resilient.attempt", n))
}

// hedgeRefused records a hedge not sent, and why.
func (t *telemetry) hedgeRefused(c *call, why string) {
	t.hedges.refused.Add(c.ctx, 1, metric.WithAttributeSet(c.host.attrs),
		metric.WithAttributes(attribute.String("resilient.hedge.refusal", why)))
	c.event("resilient.hedge_refused", attribute.String("resilient.hedge.refusal", why))
}
