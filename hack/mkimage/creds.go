package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Passwords are only ever read from files: a password on a command line is visible to
// every user of the machine through ps and /proc.

// readPassword returns the first line of file, which must not be empty.
func readPassword(file string) (string, error) {
	if file == "" {
		return "", errors.New("--password-file is required (a file whose first line is the password)")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading --password-file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("--password-file %s is empty; write the password on its first line", file)
	}
	return pw, nil
}

func checkUsername(user string) error {
	switch {
	case user == "":
		return errors.New("--username is required")
	case strings.ContainsAny(user, ":\n\r"):
		return fmt.Errorf("--username %q must not contain ':' or line breaks", user)
	}
	return nil
}

// htpasswdLine returns "user:<bcrypt hash>\n". The registry's htpasswd backend accepts
// bcrypt only, so no other hash is offered.
//
// The hash has bcrypt's lowest cost. That backend checks the password against the hash on every
// request, with no token or session in between; at the default cost each check takes 50-100 ms
// of CPU on a small machine, and several times that under load, so every request of a test (the
// CLI's upload, the fetch, each of Kaniko's pulls and pushes) paid what a registry with token
// authentication (Docker Hub, GHCR, ECR, Harbor) pays once per token. The benchmarks would then
// measure this registry's password checks instead of the product. A high cost protects guessable
// passwords from offline cracking; these are 128 random bits, which need no such protection.
func htpasswdLine(user, password string) ([]byte, error) {
	if err := checkUsername(user); err != nil {
		return nil, err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	return []byte(user + ":" + string(h) + "\n"), nil
}

// dockerConfig returns a Docker config.json holding basic-auth credentials for each
// registry host, the format both the Docker CLI and Kaniko read.
func dockerConfig(registries []string, user, password string) ([]byte, error) {
	if err := checkUsername(user); err != nil {
		return nil, err
	}
	if len(registries) == 0 {
		return nil, errors.New("--registry is required (host[:port] of the registry, e.g. 10.200.0.1:5443)")
	}
	type authEntry struct {
		Auth string `json:"auth"`
	}
	auths := map[string]authEntry{}
	for _, r := range registries {
		if r == "" || strings.ContainsAny(r, "/ ") {
			return nil, fmt.Errorf("--registry %q must be a bare host[:port], without scheme or path", r)
		}
		auths[r] = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"auths": auths}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
