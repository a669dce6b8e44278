// Package registryauth finds registry credentials the way the Docker CLI does
// (docker login, DOCKER_CONFIG, credential helpers), or in DOCKER_USERNAME and
// DOCKER_PASSWORD, checks before any build that they allow a push, and turns them
// into the docker config a build pod needs.
//
// Credentials pass through this package but never leave it in text: every
// error it returns has been scrubbed of the secrets it handled.
package registryauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/fleetflow/flow-build/internal/imageref"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// The variables CI systems set when there is no docker login (named in the
// authentication error's remedy).
const (
	EnvUsername = "DOCKER_USERNAME"
	EnvPassword = "DOCKER_PASSWORD"
)

// Keychain resolves credentials like the Docker CLI: go-containerregistry's
// default keychain (config.json under DOCKER_CONFIG or ~/.docker, with
// credsStore and credHelpers credential helpers), and, only when that finds
// nothing for a registry, DOCKER_USERNAME and DOCKER_PASSWORD read through
// getenv. A stored docker login therefore always wins over the environment,
// as it does for docker itself.
//
// The default keychain reads DOCKER_CONFIG and HOME from the process
// environment, not through getenv.
func Keychain(getenv func(string) string) authn.Keychain {
	return &envKeychain{base: authn.DefaultKeychain, getenv: getenv}
}

type envKeychain struct {
	base   authn.Keychain
	getenv func(string) string
}

func (k *envKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k *envKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	a, err := authn.Resolve(ctx, k.base, r)
	if err != nil {
		// A broken config.json or a failing credential helper: falling
		// back to the environment would hide it and push as someone else.
		return nil, fmt.Errorf("reading Docker credentials for %s: %w", r.RegistryStr(), err)
	}
	if a != authn.Anonymous {
		return a, nil
	}
	user, pass := k.getenv(EnvUsername), k.getenv(EnvPassword)
	if user == "" || pass == "" {
		return authn.Anonymous, nil
	}
	return &authn.Basic{Username: user, Password: pass}, nil
}

// Option adjusts CheckPush.
type Option func(*options)

type options struct {
	transport http.RoundTripper
}

// WithTransport sets the HTTP transport (TLS trust, proxies). The default is
// go-containerregistry's remote.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.transport = rt }
}

// CheckPush verifies, before any build starts, that kc's credentials may push
// to repo (a repository without tag, e.g. ghcr.io/org/myapp). Like Kaniko's
// own check it starts a blob upload — token scopes alone do not prove push
// rights on Docker Hub — and cancels it at once; nothing is stored.
//
// Failures are *usererr.Error values classified by cause (see PushError):
// rejected credentials, a refused push, an unreachable registry, anything
// else. When ctx ends first, the error wraps ctx.Err() instead.
func CheckPush(ctx context.Context, repo string, kc authn.Keychain, opts ...Option) error {
	o := options{transport: remote.DefaultTransport}
	for _, opt := range opts {
		opt(&o)
	}
	ref, err := imageref.ParseRepository(repo)
	if err != nil {
		return err
	}
	r, err := name.NewRepository(ref.Repository)
	if err != nil {
		return usererr.InvalidImage(repo, usererr.Text{En: err.Error(), Ja: err.Error()})
	}

	auth, err := authn.Resolve(ctx, kc, r)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("checking push permission for %s: %w", repo, ctx.Err())
		}
		// Nothing was resolved, so there is no secret to scrub; keychain
		// errors name files and helpers, not credentials.
		return usererr.AuthFailed(repo, ref.Registry).WithDetail(err.Error())
	}
	secrets := secretsOf(ctx, auth)
	fail := func(err error) error { return classify(ctx, err, repo, ref.Registry, secrets) }

	tr, err := transport.NewWithContext(ctx, r.Registry, auth, o.transport, []string{r.Scope(transport.PushScope)})
	if err != nil {
		return fail(err)
	}
	client := &http.Client{Transport: tr}
	// The scheme may be http for loopback names; the transport switches to
	// whichever scheme the ping found to work.
	u := url.URL{Scheme: r.Scheme(), Host: r.RegistryStr(), Path: "/v2/" + r.RepositoryStr() + "/blobs/uploads/"}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return fail(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(err)
	}
	// The body is only read, if at all, by CheckError; closing it releases the connection and its
	// error would change nothing.
	defer func() { _ = resp.Body.Close() }()
	if err := transport.CheckError(resp, http.StatusAccepted, http.StatusCreated); err != nil {
		return fail(err)
	}
	// An open upload may hold resources on the registry until it expires;
	// cancelling is a courtesy whose failure changes nothing.
	if loc, err := resp.Location(); err == nil {
		if del, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil); err == nil {
			if dresp, err := client.Do(del); err == nil {
				_ = dresp.Body.Close()
			}
		}
	}
	return nil
}

func classify(ctx context.Context, err error, repo, host string, secrets []string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("checking push permission for %s: %w", repo, ctx.Err())
	}
	return pushError(err, repo, host, secrets)
}

// PushError turns a failed registry write to repo (a push check, an upload)
// into the error the user sees, by cause: the registry rejected the
// credentials (401, UNAUTHORIZED) → usererr.AuthFailed; it accepted them but
// refused the write (403, DENIED) → usererr.PushDenied, whose remedy is about
// permission; it could not be reached (refused, unresolvable, timed out) →
// usererr.PushUnreachable, whose remedy is about the network; anything else
// (TLS, a registry error) → usererr.PushFailed. The credentials kc holds for
// the registry are scrubbed from the text.
func PushError(ctx context.Context, err error, repo string, kc authn.Keychain) error {
	host := imageref.DockerHub
	var secrets []string
	if r, perr := name.NewRepository(repo); perr == nil {
		host = r.RegistryStr()
		if auth, aerr := authn.Resolve(ctx, kc, r); aerr == nil {
			secrets = secretsOf(ctx, auth)
		}
	}
	return pushError(err, repo, host, secrets)
}

func pushError(err error, repo, host string, secrets []string) error {
	detail := redact(describe(err), secrets)
	switch {
	case isAuthError(err):
		return usererr.AuthFailed(repo, host).WithDetail(detail)
	case isDenied(err):
		return usererr.PushDenied(repo, detail)
	case isUnreachable(err):
		return usererr.PushUnreachable(repo, detail)
	}
	return usererr.PushFailed(repo, detail)
}

// describe shortens a registry error to what a person needs: the request and
// the registry's codes and messages. go-containerregistry's own text appends
// the error's raw detail objects (scope maps for UNAUTHORIZED), which only
// make the line longer.
func describe(err error) string {
	var te *transport.Error
	if !errors.As(err, &te) || len(te.Errors) == 0 || te.Request == nil || te.Request.URL == nil {
		return err.Error()
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, d := range te.Errors {
		msgs = append(msgs, string(d.Code)+": "+d.Message)
	}
	return fmt.Sprintf("%s %s: %d %s: %s", te.Request.Method, te.Request.URL.Redacted(), te.StatusCode, http.StatusText(te.StatusCode), strings.Join(msgs, "; "))
}

// isAuthError: the registry did not accept the credentials (or wants some).
func isAuthError(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusUnauthorized {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.UnauthorizedErrorCode {
			return true
		}
	}
	return false
}

// isDenied: the registry knows who is asking and refuses the write.
func isDenied(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusForbidden {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.DeniedErrorCode {
			return true
		}
	}
	return false
}

// isUnreachable: no HTTP exchange took place — the connection was refused or timed out, or the
// host name does not resolve. A TLS failure is not one: the registry was reached, and its own
// remedy (trusting the CA) applies.
func isUnreachable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Op == "dial" || opErr.Op == "read" && errors.Is(err, syscall.ECONNRESET)
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// minSecret is the shortest secret that is scrubbed from text; replacing one
// or two characters everywhere would wreck a message without protecting
// anything a guess would not find.
const minSecret = 4

// secretsOf lists the strings an error must never show for auth: passwords,
// tokens and the base64 forms that travel in headers.
func secretsOf(ctx context.Context, auth authn.Authenticator) []string {
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil || cfg == nil {
		return nil
	}
	var s []string
	for _, v := range []string{cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		if len(v) >= minSecret {
			s = append(s, v)
		}
	}
	if cfg.Password != "" {
		s = append(s, base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password)))
	}
	return s
}

func redact(text string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= minSecret {
			text = strings.ReplaceAll(text, s, "[REDACTED]")
		}
	}
	return text
}

// DockerHubConfigKey is the key under which the Docker CLI stores Docker Hub
// credentials in config.json, for historical reasons a URL.
const DockerHubConfigKey = authn.DefaultAuthKey

// ConfigKey is the config.json "auths" key for a registry host.
func ConfigKey(registryHost string) string {
	switch registryHost {
	case imageref.DockerHub, name.DefaultRegistry, "registry-1.docker.io", DockerHubConfigKey:
		return DockerHubConfigKey
	}
	return registryHost
}

// ErrNoCredentials is returned by DockerConfigJSON for anonymous access: there
// is nothing to forward, and the caller should create no Secret at all.
var ErrNoCredentials = errors.New("no credentials to forward (anonymous access)")

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// DockerConfigJSON renders auth as a docker config.json holding credentials
// for registryHost only — the content of the short-lived
// kubernetes.io/dockerconfigjson Secret a build pod reads, so it must not
// carry credentials for any other registry. Docker Hub is stored under
// https://index.docker.io/v1/ as the Docker CLI does, which is where Kaniko
// looks for it.
func DockerConfigJSON(registryHost string, auth authn.Authenticator) ([]byte, error) {
	if registryHost == "" || (strings.ContainsAny(registryHost, "/ \t\r\n") && ConfigKey(registryHost) != DockerHubConfigKey) {
		return nil, fmt.Errorf("registry host %q: want a host with an optional port, e.g. ghcr.io or localhost:5000", registryHost)
	}
	if auth == nil || auth == authn.Anonymous {
		return nil, ErrNoCredentials
	}
	cfg, err := authn.Authorization(context.Background(), auth)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", registryHost, err)
	}
	var e authEntry
	switch {
	case cfg.Username != "" || cfg.Password != "":
		e.Auth = base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
	case cfg.Auth != "":
		// Already base64(user:pass), as found in a config.json.
		e.Auth = cfg.Auth
	}
	e.IdentityToken = cfg.IdentityToken
	e.RegistryToken = cfg.RegistryToken
	if e == (authEntry{}) {
		return nil, ErrNoCredentials
	}
	return json.Marshal(struct {
		Auths map[string]authEntry `json:"auths"`
	}{Auths: map[string]authEntry{ConfigKey(registryHost): e}})
}

// dockerConfigEntry is one "auths" entry of a docker config.json as a
// kubernetes.io/dockerconfigjson Secret holds it.
type dockerConfigEntry struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// SecretKeychain resolves credentials from the content of a kubernetes.io/dockerconfigjson
// Secret, as Kaniko finds them in the same file: the "auths" entry of the registry host (for
// Docker Hub, https://index.docker.io/v1/), keys written with or without a scheme. Credential
// helpers (credsStore, credHelpers) are deliberately ignored: the operator runs no program a
// Secret names. A registry without an entry is accessed anonymously.
func SecretKeychain(dockerConfigJSON []byte) (authn.Keychain, error) {
	var cfg struct {
		Auths map[string]dockerConfigEntry `json:"auths"`
	}
	if err := json.Unmarshal(dockerConfigJSON, &cfg); err != nil {
		// The decoder's message may quote the document: never return it.
		return nil, errors.New("the docker config is not valid JSON")
	}
	byHost := map[string]dockerConfigEntry{}
	for key, e := range cfg.Auths {
		host := key
		if u, err := url.Parse(key); err == nil && u.Host != "" {
			host = u.Host
		}
		byHost[ConfigKey(strings.TrimSuffix(host, "/"))] = e
	}
	return secretKeychain(byHost), nil
}

type secretKeychain map[string]dockerConfigEntry

func (k secretKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	e, ok := k[ConfigKey(r.RegistryStr())]
	if !ok {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: e.Username, Password: e.Password, Auth: e.Auth,
		IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken,
	}), nil
}
