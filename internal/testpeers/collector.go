package testpeers

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Collector is an OpenTelemetry Collector child process (otelcol, built by
// scripts/install-peers.sh) that receives OTLP traces, metrics and logs and
// writes every item to its log through the debug exporter at detailed
// verbosity. Start one with [StartCollector]; find what a test sent with
// [Collector.WaitForLog], for example its trace ID in hex. It binds only
// its two OTLP ports (its own telemetry is off), so collectors in parallel
// test binaries do not collide. Log and WaitForLog are safe for concurrent
// use; Stop is not.
type Collector struct {
	// HTTPEndpoint is the host:port of the OTLP/HTTP receiver, as
	// otlptracehttp.WithEndpoint wants it (use WithInsecure: it is plain
	// HTTP); traces are POSTed to http://HTTPEndpoint/v1/traces.
	HTTPEndpoint string
	// GRPCEndpoint is the host:port of the OTLP/gRPC receiver (plain text).
	GRPCEndpoint string

	dir  string // config and log
	proc *process
}

// collectorConfig is the collector configuration; the two %d are the gRPC
// and HTTP ports. telemetry.metrics.level none keeps the collector from
// serving its own metrics on :8888.
const collectorConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      exporters: [debug]
    logs:
      receivers: [otlp]
      exporters: [debug]
`

// collectorReady is what the collector logs once its pipelines run.
const collectorReady = "Everything is ready"

// StartCollector writes a configuration into a temporary directory, starts
// otelcol with it and returns once the OTLP/HTTP port accepts connections
// and the log says the collector is ready. Its error wraps
// [ErrNotInstalled] when otelcol is not installed; hand it to [Need].
func StartCollector() (*Collector, error) {
	bin, err := findBinary("OpenTelemetry Collector", "otelcol")
	if err != nil {
		return nil, err
	}
	c := &Collector{}
	c.dir, err = launch("otelcol", 2, func(dir string, ports []int) (exitedEarly bool, err error) {
		c.GRPCEndpoint, c.HTTPEndpoint = hostPort(ports[0]), hostPort(ports[1])
		config := filepath.Join(dir, "otelcol.yaml")
		if err := os.WriteFile(config, fmt.Appendf(nil, collectorConfig, ports[0], ports[1]), 0o644); err != nil {
			return false, fmt.Errorf("testpeers: collector config: %w", err)
		}
		c.proc, err = startProcess("otelcol", bin, dir, filepath.Join(dir, "otelcol.log"), "--config=file:"+config)
		if err != nil {
			return false, err
		}
		return c.proc.waitReady(c.HTTPEndpoint, c.ready)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Collector) ready() error {
	conn, err := net.DialTimeout("tcp", c.HTTPEndpoint, time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	log, err := c.Log()
	if err != nil {
		return err
	}
	if !strings.Contains(log, collectorReady) {
		return fmt.Errorf("log does not say %q yet", collectorReady)
	}
	return nil
}

// Log returns the collector's whole log so far: its own messages and,
// through the debug exporter, every span, metric and log record it
// received. It is available until Stop.
func (c *Collector) Log() (string, error) {
	b, err := os.ReadFile(c.proc.logPath)
	if err != nil {
		return "", fmt.Errorf("testpeers: collector log: %w", err)
	}
	return string(b), nil
}

// WaitForLog polls the log until it contains substr, for at most timeout.
// The collector logs items as its pipeline processes them, a moment after
// the export call returned. The error on timeout holds the end of the log.
func (c *Collector) WaitForLog(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		log, err := c.Log()
		if err != nil {
			return err
		}
		if strings.Contains(log, substr) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testpeers: collector log has no %q after %s\n--- end of %s ---\n%s",
				substr, timeout, c.proc.logPath, c.proc.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID returns the process ID of otelcol.
func (c *Collector) PID() int { return pidOf(c.proc) }

// Stop stops the collector (SIGTERM, then SIGKILL after [StopGrace]),
// waits for it to exit and removes its configuration and log. It may be
// called more than once.
func (c *Collector) Stop() error {
	return stopPeer(c.proc, c.dir)
}
