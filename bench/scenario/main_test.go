package scenario

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: a
// connection, a server handler or a timer of any client.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
