package testpeers

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Nginx is an nginx child process on Addr, a reverse proxy in front of one
// upstream: every request but GET /_ready goes to the upstream, and when
// the upstream is down nginx answers with its own 502 page, as it does in
// front of a real service. Start one with [StartNginx]. Its methods must
// not be called concurrently.
type Nginx struct {
	// Addr is the host:port nginx listens on.
	Addr string
	// Upstream is the host:port it proxies to.
	Upstream string

	dir  string // prefix: configuration, logs, temporary files
	proc *process
}

// StartNginx starts nginx on a free 127.0.0.1 port, proxying to upstream
// (a host:port, which need not be listening), and returns once nginx
// answers. Its error wraps [ErrNotInstalled] when nginx is not installed;
// hand it to [Need].
func StartNginx(upstream string) (*Nginx, error) {
	bin, err := findBinary("nginx", "nginx")
	if errors.Is(err, ErrNotInstalled) {
		// Debian puts it in /usr/sbin, which a user's PATH may lack.
		if fi, serr := os.Stat("/usr/sbin/nginx"); serr == nil && fi.Mode()&0o111 != 0 {
			bin, err = "/usr/sbin/nginx", nil
		}
	}
	if err != nil {
		return nil, err
	}
	n := &Nginx{Upstream: upstream}
	ready := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	n.dir, err = launch("nginx", 1, func(dir string, ports []int) (exitedEarly bool, err error) {
		n.dir, n.Addr = dir, hostPort(ports[0])
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(n.config()), 0o644); err != nil {
			return false, fmt.Errorf("testpeers: nginx config: %w", err)
		}
		// -e: the error log from the start, before the configuration
		// is read (the default, under /var/log, may not be writable).
		n.proc, err = startProcess("nginx", bin, dir, filepath.Join(dir, "nginx.log"),
			"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		if err != nil {
			return false, err
		}
		return n.proc.waitReady(n.Addr, func() error {
			resp, err := ready.Get("http://" + n.Addr + "/_ready")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("GET /_ready answered %s", resp.Status)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// config is nginx.conf: one process (no workers, so the kernel's
// parent-death signal covers all of nginx, and none runs as another user),
// everything under the prefix, and a plain proxy_pass (a single upstream,
// which nginx never marks down).
func (n *Nginx) config() string {
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		location = /_ready { access_log off; return 204; }
		location / {
			proxy_pass http://%[3]s;
			proxy_connect_timeout 2s;
			proxy_read_timeout 10s;
		}
	}
}
`, n.dir, n.Addr, n.Upstream)
}

// Requests returns how many requests nginx has logged as answered (to
// the upstream or with its own error), GET /_ready aside.
func (n *Nginx) Requests() (int, error) {
	b, err := os.ReadFile(filepath.Join(n.dir, "access.log"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("testpeers: nginx access log: %w", err)
	}
	return bytes.Count(b, []byte("\n")), nil
}

// ErrorLog returns the end of nginx's error log, for a failing test's
// message.
func (n *Nginx) ErrorLog() string {
	return strings.TrimSpace(tailFile(filepath.Join(n.dir, "error.log"), 20))
}

// PID returns the process ID of nginx's master process.
func (n *Nginx) PID() int { return pidOf(n.proc) }

// Stop stops nginx (SIGTERM, a fast shutdown, then SIGKILL after
// [StopGrace]), waits for it to exit and removes its files. It may be
// called more than once.
func (n *Nginx) Stop() error {
	return stopPeer(n.proc, n.dir)
}
