package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGetVersion(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    string
		wantErr string
	}{
		{name: "version document", status: 200, body: `{"major":"1","gitVersion":"v1.37.2"}`, want: "200 OK v1.37.2"},
		{name: "forbidden", status: 403, body: `{"kind":"Status"}`, wantErr: "403 Forbidden"},
		{name: "not a version", status: 200, body: `<html>`, wantErr: "not a version document"},
		{name: "no gitVersion", status: 200, body: `{}`, wantErr: "not a version document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotAuth string
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth = r.Header.Get("Authorization")
				if r.URL.Path != "/version" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				// A failed write reaches getVersion as a bad body, which the cases check.
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			got, err := getVersion(srv.Client(), srv.URL, "tok")
			if gotAuth != "Bearer tok" {
				t.Errorf("Authorization = %q, want the bearer token", gotAuth)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("getVersion = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestGetVersionRefusesUntrustedServer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Never reached: the client must reject the certificate before any request is sent.
		_, _ = io.WriteString(w, `{"gitVersion":"v1"}`)
	}))
	defer srv.Close()
	if _, err := getVersion(&http.Client{}, srv.URL, "t"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error = %v, want a certificate verification error", err)
	}
}
