package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

// TestPushFailureCauses runs `flow build --push -o yaml` (no cluster needed) against the embedded
// registry and tells the three causes of a failed push apart, as the product spec's error table
// does: rejected credentials are 認証失敗 with the login remedy; a registry that knows the user but
// refuses the push (403 DENIED) and an unreachable registry are プッシュ失敗, with the permission
// and the network remedy respectively. Nothing is uploaded or rendered in any of them.
func TestPushFailureCauses(t *testing.T) {
	const user, password = "ci-bot", "Canary-Secret-51f0e"
	for _, tc := range []struct {
		name     string
		setup    func(r *registrytest.Registry) (pass string)
		lang     string
		want     []string
		mustNot  []string
		uploaded bool
	}{
		{
			name:  "the push works",
			setup: func(*registrytest.Registry) string { return password },
			want:  []string{"kind: ImageBuild"},
		},
		{
			name:    "401: wrong password",
			setup:   func(*registrytest.Registry) string { return "wrong-" + password },
			want:    []string{"エラー: レジストリへの認証に失敗しました", "docker login @ を実行してください", "401 Unauthorized"},
			mustNot: []string{"プッシュ権限", "ネットワーク"},
		},
		{
			name: "403 DENIED: authenticated, not allowed to push",
			setup: func(r *registrytest.Registry) string {
				r.DenyWrites(true)
				return password
			},
			want:    []string{"エラー: イメージのプッシュに失敗しました", "@/shop/shop-api へのプッシュ権限があるか確認してください", "403 Forbidden: DENIED"},
			mustNot: []string{"docker login", "ネットワークで接続"},
		},
		{
			name: "403 DENIED, in English",
			setup: func(r *registrytest.Registry) string {
				r.DenyWrites(true)
				return password
			},
			lang:    "en_US.UTF-8",
			want:    []string{"Error: pushing the image failed", "has permission to push to @/shop/shop-api"},
			mustNot: []string{"docker login", "エラー"},
		},
		{
			name: "unreachable registry",
			setup: func(r *registrytest.Registry) string {
				r.Close()
				return password
			},
			want:    []string{"エラー: イメージのプッシュに失敗しました", "レジストリにネットワークで接続できるか確認してください", "connection refused"},
			mustNot: []string{"docker login", "プッシュ権限"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing on this machine may lend credentials to the test: an empty Docker config.
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			reg := registrytest.New(t, user, password)
			pass := tc.setup(reg)
			dir := writeProject(t, map[string]string{
				".fleetflow/fleet.kdl": `project "shop"
registry "` + reg.Host + `/shop"
service "api" { dockerfile "Dockerfile" }
stage "prod" { service "api" }
`,
				"Dockerfile": "FROM scratch\n",
			})
			env := map[string]string{"DOCKER_USERNAME": user, "DOCKER_PASSWORD": pass, "LANG": tc.lang}
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), Env{
				Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
				Getenv: func(k string) string { return env[k] }, WorkDir: dir, Transport: reg.Transport(),
			}, []string{"build", "--push", "--tag", "v1", "-o", "yaml", "prod"})
			out := stdout.String() + stderr.String()
			failed := len(tc.mustNot) > 0 || len(tc.want) > 1
			if failed && (code != ExitFailed || stdout.Len() != 0) {
				t.Errorf("exit %d, stdout %q; want exit 1 and nothing rendered", code, stdout.String())
			}
			if !failed && code != 0 {
				t.Errorf("exit %d\n%s", code, out)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "@", reg.Host); !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.mustNot {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("output holds %q, the remedy of another cause:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(out, password) {
				t.Error("the password appears in the output")
			}
			if failed && reg.UploadedBytes() != 0 {
				t.Errorf("%d bytes uploaded although the push check failed", reg.UploadedBytes())
			}
		})
	}
}
