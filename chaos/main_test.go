package chaos_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: a held
// handler, a timer, a connection.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
