package outagesim

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun_defaultsKeepAnOutageFromMultiplying runs a short outage with the
// default policy. Set RESILIENT_OUTAGE_LONG=1 for the README's figures
// (a 10 s outage with 32 callers).
func TestRun_defaultsKeepAnOutageFromMultiplying(t *testing.T) {
	cfg := Config{Callers: 16, Healthy: 300 * time.Millisecond, Outage: 2 * time.Second, Healed: 6 * time.Second}
	if os.Getenv("RESILIENT_OUTAGE_LONG") != "" {
		cfg = Config{}
	}
	rep := Run(context.Background(), cfg)
	t.Logf("\n%s", rep)
	if rep.Calls == 0 || rep.Refused == 0 {
		t.Fatalf("no calls or no refusals during a total outage: %+v", rep)
	}
	if rep.Amplification > 1.2 {
		t.Errorf("%.3f server requests per call during the outage; the defaults promise at most 1.2", rep.Amplification)
	}
	if rep.Untyped != 0 {
		t.Errorf("%d calls failed with an untyped error", rep.Untyped)
	}
	if rep.FirstSuccess == 0 {
		t.Error("no call succeeded after the server healed")
	}
}
