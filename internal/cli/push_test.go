package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetflow/flow-build/internal/bundle"
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

// TestPushSendsOnlyWhatChanged runs `flow build --push -o yaml` three times on a 12 MiB context
// against the embedded registry: after one file changed, only the layer holding it (and the
// bundle's config) is uploaded, and the local index spares packing the layers that did not change;
// unchanged, nothing is sent.
func TestPushSendsOnlyWhatChanged(t *testing.T) {
	const user, password = "ci-bot", "Canary-Secret-77aa1"
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := registrytest.New(t, user, password)
	files := map[string]string{
		".fleetflow/fleet.kdl": `project "shop"
registry "` + reg.Host + `/shop"
service "api" { dockerfile "Dockerfile" }
stage "prod" { service "api" }
`,
		"Dockerfile": "FROM scratch\nCOPY . /\n",
	}
	for i := range 300 {
		var b strings.Builder
		for line := 0; b.Len() < 40<<10; line++ {
			fmt.Fprintf(&b, "file %d, line %d: the quick brown fox jumps over the lazy dog %x\n", i, line, i*line*2654435761)
		}
		files[fmt.Sprintf("src/pkg%02d/file%03d.txt", i%10, i)] = b.String()
	}
	dir := writeProject(t, files)
	// The index does not trust files changed within the last two seconds; a real context's are older.
	time.Sleep(2100 * time.Millisecond)

	env := map[string]string{"DOCKER_USERNAME": user, "DOCKER_PASSWORD": password, "LANG": "en_US.UTF-8"}
	indexDir := t.TempDir() // one index for the three runs
	run := func() (sent int64, stderr string) {
		t.Helper()
		before := reg.UploadedBytes()
		var stdout, errOut bytes.Buffer
		code := Run(context.Background(), Env{
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &errOut,
			Getenv: func(k string) string { return env[k] }, WorkDir: dir, Transport: reg.Transport(),
			BundleIndexDir: indexDir,
		}, []string{"build", "--push", "--tag", "v1", "-o", "yaml", "-v", "prod"})
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut.String())
		}
		return reg.UploadedBytes() - before, errOut.String()
	}
	layersLine := regexp.MustCompile(`api: build context in (\d+) layers, (\d+) packed`)
	layers := func(stderr string) (total, packed int) {
		t.Helper()
		m := layersLine.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("no line on the layers:\n%s", stderr)
		}
		total, _ = strconv.Atoi(m[1])
		packed, _ = strconv.Atoi(m[2])
		return total, packed
	}

	first, stderr := run()
	total, packed := layers(stderr)
	if total < 6 || packed != total || first == 0 {
		t.Fatalf("first run: %d layers, %d packed, %d bytes sent; want several layers, all packed and sent", total, packed, first)
	}

	p := filepath.Join(dir, "src", "pkg05", "file155.txt")
	content, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	content[100] = '#'
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sent, stderr := run()
	if _, packed := layers(stderr); packed != 1 {
		t.Errorf("after one change: %d layers packed, want 1", packed)
	}
	// About a twelfth; layer sizes vary, but the context and so the layers are always the same.
	if sent == 0 || sent*4 > first {
		t.Errorf("after one change: %d bytes sent, the whole bundle is %d; want the changed layer only, well under a quarter", sent, first)
	}
	if !strings.Contains(stderr, "Uploaded the context of api: 302 files, 11.7 MiB ("+bundle.HumanBytes(sent)+" sent)") {
		t.Errorf("the output does not say what was sent:\n%s", stderr)
	}

	if sent, stderr := run(); sent != 0 || !strings.Contains(stderr, "already in the registry, nothing sent") {
		t.Errorf("unchanged: %d bytes sent, want 0 and the output saying so:\n%s", sent, stderr)
	}
}
