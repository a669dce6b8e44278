package registryauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/fleetflow/flow-build/internal/testing/registrytest"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// canary is a password that must never show up in any error text.
const canary = "Canary-Pw-7f3a9c21"

// isolate points every place the default keychain looks for credentials at
// an empty temporary directory, so that the machine's own docker login never
// leaks into a test, and returns the DOCKER_CONFIG directory.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, "docker-config")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "xdg"))
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("REGISTRY_AUTH_FILE", "")
	return dir
}

func writeConfig(t *testing.T, dir string, cfg any) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// resolved returns what kc yields for a repository, as the push code would
// see it.
func resolved(t *testing.T, kc authn.Keychain, repo string) authn.AuthConfig {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := authn.Resolve(context.Background(), kc, r)
	if err != nil {
		t.Fatalf("resolving %s: %v", repo, err)
	}
	cfg, err := authn.Authorization(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return *cfg
}

func TestKeychainConfigAuths(t *testing.T) {
	dir := isolate(t)
	writeConfig(t, dir, map[string]any{"auths": map[string]any{
		"registry.example.com":        map[string]string{"auth": b64("alice:pw-a")},
		"https://index.docker.io/v1/": map[string]string{"auth": b64("hubuser:pw-hub")},
		"localhost:5000":              map[string]string{"username": "bob", "password": "pw-b"},
	}})
	env := envOf(map[string]string{EnvUsername: "ci", EnvPassword: "pw-ci"})
	kc := Keychain(env)

	tests := []struct {
		repo     string
		user, pw string
	}{
		{"registry.example.com/team/app", "alice", "pw-a"},
		{"myuser/myapp", "hubuser", "pw-hub"},
		{"docker.io/myuser/myapp", "hubuser", "pw-hub"},
		{"localhost:5000/app", "bob", "pw-b"},
		// Nothing stored for this registry: the environment fills in.
		{"ghcr.io/org/app", "ci", "pw-ci"},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			got := resolved(t, kc, tt.repo)
			if got.Username != tt.user || got.Password != tt.pw {
				t.Errorf("credentials for %s = %q/%q, want %q/%q", tt.repo, got.Username, got.Password, tt.user, tt.pw)
			}
		})
	}
}

func TestKeychainEnvFallback(t *testing.T) {
	isolate(t) // no config.json at all
	tests := []struct {
		name     string
		env      map[string]string
		user, pw string
	}{
		{"both set", map[string]string{EnvUsername: "ci", EnvPassword: "pw-ci"}, "ci", "pw-ci"},
		{"only the user", map[string]string{EnvUsername: "ci"}, "", ""},
		{"only the password", map[string]string{EnvPassword: "pw-ci"}, "", ""},
		{"neither", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolved(t, Keychain(envOf(tt.env)), "ghcr.io/org/app")
			if got.Username != tt.user || got.Password != tt.pw {
				t.Errorf("credentials = %q/%q, want %q/%q", got.Username, got.Password, tt.user, tt.pw)
			}
		})
	}
}

func TestKeychainEnvIsReadThroughGetenvOnly(t *testing.T) {
	isolate(t)
	t.Setenv(EnvUsername, "process")
	t.Setenv(EnvPassword, "process-pw")
	if got := resolved(t, Keychain(noEnv), "ghcr.io/org/app"); got != (authn.AuthConfig{}) {
		t.Errorf("credentials = %+v, want anonymous: the process environment must not be read behind getenv's back", got)
	}
}

func TestKeychainBrokenConfigIsAnError(t *testing.T) {
	dir := isolate(t)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := name.NewRepository("ghcr.io/org/app")
	kc := Keychain(envOf(map[string]string{EnvUsername: "ci", EnvPassword: "pw-ci"}))
	if _, err := kc.Resolve(r); err == nil || !strings.Contains(err.Error(), "reading Docker credentials for ghcr.io") {
		t.Errorf("Resolve with a corrupt config.json = %v, want an error naming the registry", err)
	}
}

// installHelper puts a docker-credential-fake on PATH that answers for the
// given hosts (as the Docker credential helper protocol does: server URL on
// stdin, JSON on stdout) and says "not found" for any other. It records
// every server it is asked about in the returned log file.
func installHelper(t *testing.T, creds map[string][2]string) (logFile string) {
	t.Helper()
	bin := t.TempDir()
	logFile = filepath.Join(bin, "asked.log")
	var cases strings.Builder
	for host, c := range creds {
		fmt.Fprintf(&cases, "  %s) printf '{\"ServerURL\":\"%%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}\\n' \"$server\"; exit 0;;\n", host, c[0], c[1])
	}
	script := fmt.Sprintf(`#!/bin/sh
[ "$1" = get ] || exit 1
read -r server
echo "$server" >> %q
case "$server" in
%s esac
echo "credentials not found in native keychain"
exit 1
`, logFile, cases.String())
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return logFile
}

func TestKeychainCredentialHelpers(t *testing.T) {
	tests := []struct {
		name     string
		config   map[string]any
		repo     string
		env      map[string]string
		user, pw string
		asked    string
	}{
		{
			name:   "credHelpers for one registry",
			config: map[string]any{"credHelpers": map[string]string{"helper.example.com": "fake"}},
			repo:   "helper.example.com/team/app",
			user:   "u", pw: "s", asked: "helper.example.com",
		},
		{
			name:   "credsStore for every registry",
			config: map[string]any{"credsStore": "fake"},
			repo:   "helper.example.com/app",
			user:   "u", pw: "s", asked: "helper.example.com",
		},
		{
			name:   "Docker Hub through credsStore uses the Docker CLI key",
			config: map[string]any{"credsStore": "fake"},
			repo:   "myuser/myapp",
			user:   "hub", pw: "hub-s", asked: "https://index.docker.io/v1/",
		},
		{
			name:   "helper knows nothing: the environment fills in",
			config: map[string]any{"credsStore": "fake"},
			repo:   "other.example.com/app",
			env:    map[string]string{EnvUsername: "ci", EnvPassword: "pw-ci"},
			user:   "ci", pw: "pw-ci", asked: "other.example.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := isolate(t)
			log := installHelper(t, map[string][2]string{
				"helper.example.com":          {"u", "s"},
				"https://index.docker.io/v1/": {"hub", "hub-s"},
			})
			writeConfig(t, dir, tt.config)
			got := resolved(t, Keychain(envOf(tt.env)), tt.repo)
			if got.Username != tt.user || got.Password != tt.pw {
				t.Errorf("credentials = %q/%q, want %q/%q", got.Username, got.Password, tt.user, tt.pw)
			}
			asked, _ := os.ReadFile(log)
			if !strings.Contains(string(asked), tt.asked+"\n") {
				t.Errorf("helper was asked for %q, want %q", asked, tt.asked)
			}
		})
	}
}

func TestDockerConfigJSON(t *testing.T) {
	tests := []struct {
		name string
		host string
		auth authn.Authenticator
		key  string
		want authEntry
	}{
		{"basic", "ghcr.io", &authn.Basic{Username: "alice", Password: "pw:with:colons"}, "ghcr.io", authEntry{Auth: b64("alice:pw:with:colons")}},
		{"with port", "localhost:5000", &authn.Basic{Username: "a", Password: "b"}, "localhost:5000", authEntry{Auth: b64("a:b")}},
		{"IPv6", "[::1]:5000", &authn.Basic{Username: "a", Password: "b"}, "[::1]:5000", authEntry{Auth: b64("a:b")}},
		{"docker hub", "docker.io", &authn.Basic{Username: "hub", Password: "pw"}, "https://index.docker.io/v1/", authEntry{Auth: b64("hub:pw")}},
		{"docker hub index name", "index.docker.io", &authn.Basic{Username: "hub", Password: "pw"}, "https://index.docker.io/v1/", authEntry{Auth: b64("hub:pw")}},
		{"identity token from a helper", "acr.example.io", authn.FromConfig(authn.AuthConfig{Username: "<token>", IdentityToken: "refresh-tok"}), "acr.example.io", authEntry{Auth: b64("<token>:"), IdentityToken: "refresh-tok"}},
		{"registry token", "reg.example.io", authn.FromConfig(authn.AuthConfig{RegistryToken: "bearer-tok"}), "reg.example.io", authEntry{RegistryToken: "bearer-tok"}},
		{"pre-encoded auth", "reg.example.io", authn.FromConfig(authn.AuthConfig{Auth: b64("x:y")}), "reg.example.io", authEntry{Auth: b64("x:y")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := DockerConfigJSON(tt.host, tt.auth)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Auths map[string]authEntry `json:"auths"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("not JSON: %v: %s", err, b)
			}
			if len(doc.Auths) != 1 || doc.Auths[tt.key] != tt.want {
				t.Fatalf("auths = %+v, want exactly {%q: %+v}", doc.Auths, tt.key, tt.want)
			}

			// Round trip: a build pod reads this file with the same Docker
			// config loader; it must see the credentials we started from.
			dir := isolate(t)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			repo := tt.host + "/team/app"
			if tt.key == DockerHubConfigKey {
				repo = "myuser/app"
			}
			want, _ := authn.Authorization(context.Background(), tt.auth)
			if want.Auth != "" {
				// The loader decodes "auth" into user and password.
				raw, _ := base64.StdEncoding.DecodeString(want.Auth)
				want.Username, want.Password, _ = strings.Cut(string(raw), ":")
			}
			got := resolved(t, Keychain(noEnv), repo)
			if got.Username != want.Username || got.Password != want.Password || got.IdentityToken != want.IdentityToken || got.RegistryToken != want.RegistryToken {
				t.Errorf("read back %+v, want %+v", got, *want)
			}
		})
	}
}

func TestDockerConfigJSONRefuses(t *testing.T) {
	if _, err := DockerConfigJSON("ghcr.io", authn.Anonymous); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("anonymous: %v, want ErrNoCredentials", err)
	}
	if _, err := DockerConfigJSON("ghcr.io", nil); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("nil: %v, want ErrNoCredentials", err)
	}
	if _, err := DockerConfigJSON("ghcr.io", authn.FromConfig(authn.AuthConfig{})); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("empty config: %v, want ErrNoCredentials", err)
	}
	for _, host := range []string{"", "ghcr.io/org/app", "a b"} {
		_, err := DockerConfigJSON(host, &authn.Basic{Username: "u", Password: canary})
		if err == nil || !strings.Contains(err.Error(), "want a host") {
			t.Errorf("host %q: %v, want an error asking for a host", host, err)
		}
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Errorf("host %q: error shows the password: %v", host, err)
		}
	}
}

// assertNoCanary fails when the canary password shows in anything a user or
// log could see.
func assertNoCanary(t *testing.T, err error) {
	t.Helper()
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	var ue *usererr.Error
	if errors.As(err, &ue) {
		texts = append(texts, ue.Render(usererr.English), ue.Render(usererr.Japanese), ue.Detail)
	}
	for _, s := range texts {
		if strings.Contains(s, canary) || strings.Contains(s, b64("alice:"+canary)) {
			t.Fatalf("the password appears in the error: %s", s)
		}
	}
}

func wantKind(t *testing.T, err error, kind usererr.Kind) *usererr.Error {
	t.Helper()
	var ue *usererr.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %T %v, want *usererr.Error of kind %v", err, err, kind)
	}
	if ue.Kind != kind {
		t.Fatalf("kind %v (%v), want %v", ue.Kind, err, kind)
	}
	return ue
}

// checkKind is wantKind for cases that look at nothing but the kind.
func checkKind(t *testing.T, err error, kind usererr.Kind) {
	t.Helper()
	_ = wantKind(t, err, kind)
}

func TestCheckPush(t *testing.T) {
	reg := registrytest.New(t, "alice", canary)
	other := registrytest.New(t, "alice", canary) // a different CA
	gone := registrytest.New(t, "alice", canary)
	gone.Close()
	ctx := context.Background()

	t.Run("config.json credentials", func(t *testing.T) {
		dir := isolate(t)
		writeConfig(t, dir, map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": b64("alice:" + canary)}}})
		if err := CheckPush(ctx, reg.Repo("team/app"), Keychain(noEnv), WithTransport(reg.Transport())); err != nil {
			t.Fatalf("CheckPush: %v", err)
		}
		if n := reg.UploadedBytes(); n != 0 {
			t.Errorf("the check uploaded %d bytes, want 0", n)
		}
	})

	t.Run("credential helper", func(t *testing.T) {
		dir := isolate(t)
		installHelper(t, map[string][2]string{reg.Host: {"alice", canary}})
		writeConfig(t, dir, map[string]any{"credHelpers": map[string]string{reg.Host: "fake"}})
		if err := CheckPush(ctx, reg.Repo("app"), Keychain(noEnv), WithTransport(reg.Transport())); err != nil {
			t.Fatalf("CheckPush: %v", err)
		}
	})

	t.Run("environment credentials", func(t *testing.T) {
		isolate(t)
		kc := Keychain(envOf(map[string]string{EnvUsername: "alice", EnvPassword: canary}))
		if err := CheckPush(ctx, reg.Repo("app"), kc, WithTransport(reg.Transport())); err != nil {
			t.Fatalf("CheckPush: %v", err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		dir := isolate(t)
		writeConfig(t, dir, map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": b64("alice:" + canary + "-wrong")}}})
		err := CheckPush(ctx, reg.Repo("team/app"), Keychain(noEnv), WithTransport(reg.Transport()))
		ue := wantKind(t, err, usererr.KindAuthFailed)
		if ue.Target != reg.Repo("team/app") {
			t.Errorf("target %q, want %q", ue.Target, reg.Repo("team/app"))
		}
		if !strings.Contains(ue.Render(usererr.Japanese), "docker login "+reg.Host+" を実行してください") {
			t.Errorf("remedy does not name the registry:\n%s", ue.Render(usererr.Japanese))
		}
		wantDetail := "POST https://" + reg.Host + "/v2/team/app/blobs/uploads/: 401 Unauthorized: UNAUTHORIZED: authentication required"
		if ue.Detail != wantDetail {
			t.Errorf("detail %q, want %q", ue.Detail, wantDetail)
		}
		assertNoCanary(t, err)
	})

	t.Run("wrong password from the environment", func(t *testing.T) {
		isolate(t)
		kc := Keychain(envOf(map[string]string{EnvUsername: "alice", EnvPassword: canary + "x"}))
		err := CheckPush(ctx, reg.Repo("app"), kc, WithTransport(reg.Transport()))
		checkKind(t, err, usererr.KindAuthFailed)
		assertNoCanary(t, err)
	})

	t.Run("no credentials at all", func(t *testing.T) {
		isolate(t)
		err := CheckPush(ctx, reg.Repo("app"), Keychain(noEnv), WithTransport(reg.Transport()))
		checkKind(t, err, usererr.KindAuthFailed)
	})

	t.Run("untrusted CA", func(t *testing.T) {
		isolate(t)
		kc := Keychain(envOf(map[string]string{EnvUsername: "alice", EnvPassword: canary}))
		err := CheckPush(ctx, reg.Repo("app"), kc, WithTransport(other.Transport()))
		ue := wantKind(t, err, usererr.KindPushFailed)
		if !strings.Contains(ue.Detail, "x509") {
			t.Errorf("detail %q, want the certificate error", ue.Detail)
		}
		if strings.Contains(ue.Detail, "\n") {
			t.Errorf("detail spans lines: %q", ue.Detail)
		}
		assertNoCanary(t, err)
	})

	t.Run("registry gone", func(t *testing.T) {
		isolate(t)
		kc := Keychain(envOf(map[string]string{EnvUsername: "alice", EnvPassword: canary}))
		err := CheckPush(ctx, gone.Repo("app"), kc, WithTransport(gone.Transport()))
		ue := wantKind(t, err, usererr.KindPushFailed)
		if !strings.Contains(ue.Detail, "connection refused") {
			t.Errorf("detail %q, want connection refused", ue.Detail)
		}
		if ja := ue.Render(usererr.Japanese); !strings.Contains(ja, "ネットワークで接続できるか確認してください") || strings.Contains(ja, "プッシュ権限") {
			t.Errorf("an unreachable registry gets the network remedy only:\n%s", ja)
		}
		assertNoCanary(t, err)
	})

	t.Run("authenticated but not allowed to push", func(t *testing.T) {
		isolate(t)
		denying := registrytest.New(t, "alice", canary)
		denying.DenyWrites(true)
		kc := Keychain(envOf(map[string]string{EnvUsername: "alice", EnvPassword: canary}))
		err := CheckPush(ctx, denying.Repo("team/app"), kc, WithTransport(denying.Transport()))
		ue := wantKind(t, err, usererr.KindPushFailed)
		ja := ue.Render(usererr.Japanese)
		if !strings.HasPrefix(ja, "エラー: イメージのプッシュに失敗しました\n") || !strings.Contains(ja, denying.Repo("team/app")+" へのプッシュ権限があるか確認してください") ||
			strings.Contains(ja, "docker login") || strings.Contains(ja, "ネットワーク") {
			t.Errorf("a refused push is a push failure with the permission remedy:\n%s", ja)
		}
		if !strings.Contains(ue.Detail, "403 Forbidden: DENIED") {
			t.Errorf("detail %q, want the registry's 403 DENIED", ue.Detail)
		}
		// The same registry still tells a wrong password apart: 401 is an authentication failure.
		err = CheckPush(ctx, denying.Repo("team/app"), Keychain(envOf(map[string]string{EnvUsername: "alice", EnvPassword: "nope"})), WithTransport(denying.Transport()))
		checkKind(t, err, usererr.KindAuthFailed)
		assertNoCanary(t, err)
	})

	t.Run("host that does not resolve", func(t *testing.T) {
		isolate(t)
		err := CheckPush(ctx, "registry.invalid/team/app", Keychain(noEnv))
		ue := wantKind(t, err, usererr.KindPushFailed)
		if !strings.Contains(ue.Render(usererr.English), "can be reached over the network") {
			t.Errorf("an unresolvable host gets the network remedy:\n%s", ue.Render(usererr.English))
		}
	})

	t.Run("invalid repository", func(t *testing.T) {
		isolate(t)
		err := CheckPush(ctx, "myapp", Keychain(noEnv), WithTransport(reg.Transport()))
		checkKind(t, err, usererr.KindNoRegistry)
		err = CheckPush(ctx, reg.Repo("app:v1"), Keychain(noEnv), WithTransport(reg.Transport()))
		checkKind(t, err, usererr.KindInvalidImage)
	})

	t.Run("cancelled", func(t *testing.T) {
		isolate(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := CheckPush(cctx, reg.Repo("app"), Keychain(noEnv), WithTransport(reg.Transport()))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("CheckPush with a cancelled context = %v, want context.Canceled", err)
		}
	})

	t.Run("broken config.json", func(t *testing.T) {
		dir := isolate(t)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := CheckPush(ctx, reg.Repo("app"), Keychain(noEnv), WithTransport(reg.Transport()))
		ue := wantKind(t, err, usererr.KindAuthFailed)
		if !strings.Contains(ue.Detail, "reading Docker credentials") {
			t.Errorf("detail %q, want it to say the credentials could not be read", ue.Detail)
		}
	})
}

// TestCheckPushRedactsEchoedSecrets covers a registry that echoes what it
// was sent into its error body: the password must still not reach the user.
func TestCheckPushRedactsEchoedSecrets(t *testing.T) {
	isolate(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		// A failed write shows up as a missing detail in the assertions below.
		_, _ = fmt.Fprintf(w, `{"errors":[{"code":"UNKNOWN","message":"backend failed for %s with %s (header %s)"}]}`, user, pass, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	kc := Keychain(envOf(map[string]string{EnvUsername: "alice", EnvPassword: canary}))
	err := CheckPush(context.Background(), host+"/team/app", kc, WithTransport(srv.Client().Transport))
	ue := wantKind(t, err, usererr.KindPushFailed)
	if !strings.Contains(ue.Detail, "backend failed for alice with [REDACTED]") {
		t.Errorf("detail %q, want the echoed password replaced", ue.Detail)
	}
	assertNoCanary(t, err)
}

func TestConfigKey(t *testing.T) {
	tests := map[string]string{
		"docker.io":                   DockerHubConfigKey,
		"index.docker.io":             DockerHubConfigKey,
		"registry-1.docker.io":        DockerHubConfigKey,
		"https://index.docker.io/v1/": DockerHubConfigKey,
		"ghcr.io":                     "ghcr.io",
		"localhost:5000":              "localhost:5000",
	}
	for host, want := range tests {
		if got := ConfigKey(host); got != want {
			t.Errorf("ConfigKey(%q) = %q, want %q", host, got, want)
		}
	}
	if DockerHubConfigKey != "https://index.docker.io/v1/" {
		t.Errorf("DockerHubConfigKey = %q, want the Docker CLI's key", DockerHubConfigKey)
	}
}

func TestSecretKeychain(t *testing.T) {
	cfg := []byte(`{"auths": {
		"https://index.docker.io/v1/": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("hubuser:hubpass")) + `"},
		"ghcr.io": {"username": "gh", "password": "ghpass"},
		"https://registry.local:5443/v2/": {"identitytoken": "idtok"}
	}, "credsStore": "evil"}`)
	kc, err := SecretKeychain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		registry string
		want     authn.AuthConfig
	}{
		{"index.docker.io", authn.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("hubuser:hubpass"))}},
		{"docker.io", authn.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("hubuser:hubpass"))}},
		{"ghcr.io", authn.AuthConfig{Username: "gh", Password: "ghpass"}},
		{"registry.local:5443", authn.AuthConfig{IdentityToken: "idtok"}},
		{"quay.io", authn.AuthConfig{}},
	} {
		reg, err := name.NewRegistry(tt.registry)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kc.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if *got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.registry, *got, tt.want)
		}
	}
	if _, err := SecretKeychain([]byte(`{"auths": "hunter2"`)); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a broken config: %v (must fail without quoting it)", err)
	}
}
