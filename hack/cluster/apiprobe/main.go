// Command apiprobe is the smoke test's stand-in for the operator. Inside a pod it calls the API
// server through the `kubernetes` Service with the pod's service-account token (as an in-cluster
// client does), and the registry trusting only the CA bundle of its own image, then writes one
// line per check to the termination log. It exits non-zero if a check fails.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: apiprobe REGISTRY_HOST:PORT")
		os.Exit(2)
	}
	var lines []string
	failed := false
	report := func(name, result string, err error) {
		if err != nil {
			failed = true
			result = "FAILED: " + err.Error()
		}
		lines = append(lines, name+": "+result)
	}
	v, err := apiVersion()
	report("api", v, err)
	s, err := registryStatus(os.Args[1])
	report("registry", s, err)

	out := strings.Join(lines, "\n") + "\n"
	fmt.Print(out)
	_ = os.WriteFile("/dev/termination-log", []byte(out), 0o644)
	if failed {
		os.Exit(1)
	}
}

// apiVersion asks the API server for its version the way client-go's in-cluster config does:
// KUBERNETES_SERVICE_HOST/PORT, the mounted CA and the bearer token.
func apiVersion() (string, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return "", errors.New("KUBERNETES_SERVICE_HOST/PORT are not set; is this running in a pod?")
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return "", err
	}
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return "", errors.New("the service-account ca.crt holds no certificate")
	}
	return getVersion(&http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, "https://"+net.JoinHostPort(host, port), strings.TrimSpace(string(token)))
}

// getVersion returns "<status> <gitVersion>" of GET base/version.
func getVersion(c *http.Client, base, token string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/version", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	// Closing a response body only releases the connection; it has no error worth reporting.
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /version: %s", resp.Status)
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.GitVersion == "" {
		return "", fmt.Errorf("GET /version: not a version document: %.200q", body)
	}
	return resp.Status + " " + v.GitVersion, nil
}

// registryStatus returns the status of an unauthenticated GET /v2/ with the system roots (the
// image's CA bundle): 401 proves TLS is trusted and the registry demands credentials.
func registryStatus(hostPort string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + hostPort + "/v2/")
	if err != nil {
		return "", err
	}
	// Only the status matters; closing the unread body just releases the connection.
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("GET /v2/ without credentials: %s, want 401 Unauthorized", resp.Status)
	}
	return resp.Status, nil
}
