package scenario

// This file holds trustTestCert: the HTTP/2 variants of the sick-backend
// scenario serve TLS with httptest's certificate, and resilient.New builds
// its own transport, which trusts the system roots only.

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
)

var trusted struct {
	once sync.Once
	err  error
}

// trustTestCert makes this process trust the certificate every httptest
// TLS server presents (one fixed self-signed certificate for 127.0.0.1),
// so that every client of the matrix, resilient.New's own transport
// included, reaches the TLS backends at its defaults. crypto/x509 loads
// the system roots once per process, from the file SSL_CERT_FILE names
// (and the system's certificate directories): trustTestCert points it at
// the certificate, makes the first TLS call, which loads the roots, and
// puts SSL_CERT_FILE back. It fails when the roots were loaded before,
// which nothing in the matrix does: TLS would then fail for every client.
func trustTestCert() error {
	trusted.once.Do(func() { trusted.err = loadTestCert() })
	return trusted.err
}

func loadTestCert() error {
	hs := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hs.Close()
	dir, err := os.MkdirTemp("", "scenario-cert-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "httptest.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600); err != nil {
		return err
	}
	prev, had := os.LookupEnv("SSL_CERT_FILE")
	os.Setenv("SSL_CERT_FILE", file)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(hs.URL)
	if had {
		os.Setenv("SSL_CERT_FILE", prev)
	} else {
		os.Unsetenv("SSL_CERT_FILE")
	}
	if err != nil {
		return fmt.Errorf("scenario: cannot make httptest's certificate a system root (were the roots loaded before?): %w", err)
	}
	return resp.Body.Close()
}
