package resilient

// The root package's own dependencies: what every program that imports
// it builds. go-retryablehttp and go-cleanhttp are only for programs that
// switch from go-retryablehttp (package fromretryable).

import (
	"os/exec"
	"strings"
	"testing"
)

func TestDeps_rootPackageBuildsNoGoRetryablehttp(t *testing.T) {
	if testing.Short() {
		t.Skip("short: runs the go command")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gocmd, "list", "-deps", "github.com/resilient-http/resilient").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !strings.Contains(string(out), "github.com/sony/gobreaker/v2\n") {
		t.Fatalf("go list -deps listed %d packages, without gobreaker: not the root package's dependencies?\n%s", len(deps), out)
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/hashicorp/go-retryablehttp", "github.com/hashicorp/go-cleanhttp"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("the root package depends on %s: a program that imports resilient builds it; keep it in package fromretryable", d)
			}
		}
	}
}
