package resilient

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// retried response whose body was not drained, a breaker timer, or a store
// subscription would show up here.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
