package testpeers

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Redis is a redis-server child process listening on Addr, with persistence
// off. Start one with [StartRedis]. Its methods must not be called
// concurrently.
type Redis struct {
	// Addr is the host:port the server listens on. Restart keeps it.
	Addr string

	bin  string
	dir  string // working directory and log
	proc *process
}

// StartRedis starts redis-server on a free 127.0.0.1 port and returns once it
// answers PING. Its error wraps [ErrNotInstalled] when redis-server is not
// installed; hand it to [Need].
func StartRedis() (*Redis, error) {
	bin, err := findBinary("Redis", "redis-server")
	if err != nil {
		return nil, err
	}
	r := &Redis{bin: bin}
	r.dir, err = launch("redis", 1, func(dir string, ports []int) (bool, error) {
		r.dir, r.Addr = dir, hostPort(ports[0])
		return r.start()
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Redis) start() (exitedEarly bool, err error) {
	host, port, _ := net.SplitHostPort(r.Addr)
	r.proc, err = startProcess("redis-server", r.bin, r.dir, filepath.Join(r.dir, "redis.log"),
		"--bind", host, "--port", port, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", r.dir)
	if err != nil {
		return false, err
	}
	return r.proc.waitReady(r.Addr, r.Ping)
}

// Ping sends PING over a new connection and checks that the answer is PONG.
func (r *Redis) Ping() error {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return fmt.Errorf("testpeers: redis PING: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return fmt.Errorf("testpeers: redis PING: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("testpeers: redis PING: %w", err)
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("testpeers: redis PING on %s answered %s", r.Addr, strconv.Quote(strings.TrimSpace(line)))
	}
	return nil
}

// PID returns the process ID of the current redis-server.
func (r *Redis) PID() int { return pidOf(r.proc) }

// Kill sends SIGKILL, as a crash would, and waits for the process to exit.
// Restart brings the server back on the same address.
func (r *Redis) Kill() error {
	r.proc.kill()
	return nil
}

// Restart stops the server if it is running and starts a new one on the same
// address, returning once it answers PING. It fails if another process has
// taken the port meanwhile.
func (r *Redis) Restart() error {
	r.proc.stop()
	_, err := r.start()
	return err
}

// Stop stops the server (SIGTERM, then SIGKILL after [StopGrace]), waits for
// it to exit and removes its files. It may be called more than once; the
// server cannot be restarted after it.
func (r *Redis) Stop() error {
	return stopPeer(r.proc, r.dir)
}
