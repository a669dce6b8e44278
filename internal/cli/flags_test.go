package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetflow/flow-build/internal/fleetconfig"
)

// flagProject is a project with three stages (no default), two built services and a pulled one.
var flagProject = map[string]string{
	".fleetflow/fleet.kdl": `project "shop"
registry "ghcr.io/acme"
service "api" { dockerfile "Dockerfile" }
service "web" { dockerfile "Dockerfile" }
service "db" { image "postgres:16" }
stage "dev" { service "api" }
stage "prod" { service "api"; service "web"; service "db" }
stage "qa" { service "web" }
`,
	"Dockerfile": "FROM scratch\n",
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type planRun struct {
	code           int
	stdout, stderr string
	plan           *fleetconfig.Plan
	targets        []*target
}

// planOf runs flow in dir up to the point where it would contact a cluster.
func planOf(t *testing.T, dir string, env map[string]string, args ...string) planRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var r planRun
	e := Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv:  func(k string) string { return env[k] },
		WorkDir: dir,
		planned: func(p *fleetconfig.Plan, ts []*target) { r.plan, r.targets = p, ts },
	}
	r.code = Run(context.Background(), e, args)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

func (r planRun) services() []string {
	var names []string
	for _, t := range r.targets {
		names = append(names, t.build.Service)
	}
	return names
}

// TestFleetFlowFlags: FleetFlow's flags win where they clash with kubectl's: -n/--service picks
// services, -s/--stage names the stage, --namespace is the namespace; the product spec's
// positional [SERVICE] STAGE stays.
func TestFleetFlowFlags(t *testing.T) {
	dir := writeProject(t, flagProject)
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		stage    string
		services []string
	}{
		{"STAGE argument", []string{"build", "prod"}, nil, "prod", []string{"api", "web"}},
		{"SERVICE STAGE arguments", []string{"build", "web", "prod"}, nil, "prod", []string{"web"}},
		{"-n picks a service", []string{"build", "-n", "web", "prod"}, nil, "prod", []string{"web"}},
		{"--service picks a service", []string{"build", "--service", "web", "prod"}, nil, "prod", []string{"web"}},
		{"-n repeated, stage order kept", []string{"build", "-n", "web", "-n", "api", "prod"}, nil, "prod", []string{"api", "web"}},
		{"-n and a SERVICE argument add up", []string{"build", "-n", "api", "web", "prod"}, nil, "prod", []string{"api", "web"}},
		{"-s names the stage", []string{"build", "-s", "qa"}, nil, "qa", []string{"web"}},
		{"--stage names the stage", []string{"build", "--stage=dev"}, nil, "dev", []string{"api"}},
		{"-s equal to the argument", []string{"build", "qa", "-s", "qa"}, nil, "qa", []string{"web"}},
		{"FLEET_STAGE names the stage", []string{"build"}, map[string]string{"FLEET_STAGE": "dev"}, "dev", []string{"api"}},
		{"the argument beats FLEET_STAGE", []string{"build", "qa"}, map[string]string{"FLEET_STAGE": "dev"}, "qa", []string{"web"}},
		{"-s beats FLEET_STAGE", []string{"build", "-s", "qa"}, map[string]string{"FLEET_STAGE": "dev"}, "qa", []string{"web"}},
		{"--namespace is the namespace, -n stays the service", []string{"build", "--namespace", "builds", "-n", "api", "prod"}, nil, "prod", []string{"api"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := planOf(t, dir, tc.env, tc.args...)
			if r.code != 0 || r.plan == nil {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if r.plan.Stage != tc.stage || !slices.Equal(r.services(), tc.services) {
				t.Errorf("stage %q services %v, want %q %v", r.plan.Stage, r.services(), tc.stage, tc.services)
			}
		})
	}
}

func TestPlatformFlag(t *testing.T) {
	dir := writeProject(t, flagProject)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--platform", "linux/arm64"}, []string{"linux/arm64"}},
		{[]string{"--platform", "linux/amd64,linux/arm64"}, []string{"linux/amd64", "linux/arm64"}},
		{[]string{"--platform", "linux/amd64", "--platform=linux/arm/v7"}, []string{"linux/amd64", "linux/arm/v7"}},
		{[]string{"--platform", "linux/amd64, linux/arm64,"}, []string{"linux/amd64", "linux/arm64"}},
	} {
		r := planOf(t, dir, nil, append([]string{"build", "dev"}, tc.args...)...)
		if r.code != 0 || len(r.targets) != 1 || !slices.Equal(r.targets[0].build.Platforms, tc.want) {
			t.Errorf("flow build dev %v: exit %d targets %v, want platforms %v\n%s", tc.args, r.code, r.targets, tc.want, r.stderr)
		}
	}
}

// TestStageRules: with no stage named, the stage named default, else the only stage, else
// FleetFlow's error listing the stages, sorted.
func TestStageRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stages string
		code   int
		stage  string
		stderr string
	}{
		{"default wins", `stage "zeta" { service "api" }` + "\nstage \"default\" { service \"api\" }", 0, "default", "ステージ: default（ステージの指定がないため default を使用します）"},
		{"the only stage", `stage "prod" { service "api" }`, 0, "prod", "ステージ: prod（ステージの指定がないため、唯一のステージを使用します）"},
		{"several stages: FleetFlow's error, sorted", `stage "zeta" { service "api" }` + "\nstage \"alpha\" { service \"api\" }\nstage \"mid\" { service \"api\" }", 1, "",
			"エラー: ステージ名を指定してください: flow build <stage> または FLEET_STAGE=<stage>\n\n利用可能なステージ: alpha, mid, zeta\n"},
		{"no stage at all", "", 1, "", "エラー: このプロジェクトにはステージが定義されていません"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{
				".fleetflow/fleet.kdl": "service \"api\" { dockerfile \"Dockerfile\" }\n" + tc.stages,
				"Dockerfile":           "FROM scratch\n",
			})
			r := planOf(t, dir, nil, "build", "--bundle-repository", "ghcr.io/acme/ctx")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", r.code, tc.code, r.stderr, tc.stderr)
			}
			if tc.code == 0 && r.plan.Stage != tc.stage {
				t.Errorf("stage %q, want %q", r.plan.Stage, tc.stage)
			}
		})
	}
}

// TestLocaleRules: Japanese by default, also under LANG=C and C.UTF-8 (CI runners); English only when
// the locale asks for it, LC_ALL over LC_MESSAGES over LANG; never a mix in one message.
func TestLocaleRules(t *testing.T) {
	dir := writeProject(t, flagProject)
	ja := "エラー: ステージ 'staging' が見つかりません"
	en := "Error: stage 'staging' not found"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ja},
		{map[string]string{"LANG": "C"}, ja},
		{map[string]string{"LANG": "C.UTF-8"}, ja},
		{map[string]string{"LANG": "POSIX"}, ja},
		{map[string]string{"LANG": "ja_JP.UTF-8"}, ja},
		{map[string]string{"LANG": "en_US.UTF-8"}, en},
		{map[string]string{"LC_MESSAGES": "en_GB.UTF-8", "LANG": "ja_JP.UTF-8"}, en},
		{map[string]string{"LC_ALL": "C.UTF-8", "LANG": "en_US.UTF-8"}, ja},
		{map[string]string{"LC_ALL": "en_US.UTF-8", "LC_MESSAGES": "ja_JP.UTF-8"}, en},
	} {
		r := planOf(t, dir, tc.env, "build", "staging")
		if r.code != ExitFailed || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("env %v: exit %d, stderr:\n%s\nwant it to start with %q", tc.env, r.code, r.stderr, tc.want)
		}
		if (tc.want == ja) == strings.Contains(r.stderr, "available stages") || (tc.want == en) == strings.Contains(r.stderr, "利用可能") {
			t.Errorf("env %v: the block mixes languages:\n%s", tc.env, r.stderr)
		}
	}
}

// TestCommandLineErrors: every error of the command line exits 2 (an invalid --tag is the spec's
// invalid-tag error, exit 1), in the user's language, before anything is read or contacted.
func TestCommandLineErrors(t *testing.T) {
	dir := writeProject(t, flagProject)
	for _, tc := range []struct {
		args   []string
		code   int
		ja, en string
	}{
		{[]string{"build", "a", "b", "c"}, ExitUsage, "引数が多すぎます（a b c）", "too many arguments (a b c)"},
		{[]string{"build", "-o", "xml", "prod"}, ExitUsage, "yaml か json を指定してください", "use yaml or json"},
		{[]string{"build", "--source", "svn", "prod"}, ExitUsage, "bundle か git を指定してください", "use bundle or git"},
		{[]string{"build", "--timeout", "1s", "prod"}, ExitUsage, "10s から 24h の間で", "between 10s and 24h"},
		{[]string{"build", "--timeout", "25h", "prod"}, ExitUsage, "10s から 24h の間で", "between 10s and 24h"},
		// Before: -1h kept builds forever and 1000000h overflowed ttlSecondsAfterFinished to a negative number.
		{[]string{"build", "--ttl", "-1h", "prod"}, ExitUsage, "負の値は指定できません", "cannot be negative"},
		{[]string{"build", "--ttl", "1000000h", "prod"}, ExitUsage, "最大は 596523h14m7s です", "at most 596523h14m7s"},
		{[]string{"build", "--ttl", "1500ms", "prod"}, ExitUsage, "秒単位で指定してください", "use whole seconds"},
		{[]string{"build", "--tag", "", "prod"}, ExitFailed, "タグに使用できない文字が含まれています", "the tag contains characters that are not allowed"},
		{[]string{"build", "--tag=", "prod"}, ExitFailed, "原因: タグが空です", "Cause: the tag is empty"},
		{[]string{"build", "--platform", "linux", "prod"}, ExitUsage, `プラットフォーム "linux" は os/arch[/variant]`, `platform "linux" is not os/arch[/variant]`},
		{[]string{"build", "--platform", "linux/aarch64", "prod"}, ExitUsage, "linux/arm64 の間違いではありませんか", "did you mean linux/arm64?"},
		{[]string{"build", "--platform", "linux/arm64,linux/arm64/v8", "prod"}, ExitUsage, "2回指定されています", "listed twice"},
		{[]string{"build", "-n", "", "prod"}, ExitUsage, "サービス名を指定してください", "needs a service name"},
		{[]string{"build", "prod", "-s", "dev"}, ExitUsage, "ステージが2回指定されています", "the stage is given twice"},
		{[]string{"build", "--bogus", "prod"}, ExitUsage, "不明なフラグです: --bogus", "unknown flag: --bogus"},
		{[]string{"build", "-x", "prod"}, ExitUsage, "不明な短縮フラグ 'x' です", "unknown shorthand flag: 'x'"},
		{[]string{"build", "prod", "--tag"}, ExitUsage, "フラグ --tag には値が必要です", "flag needs an argument: --tag"},
		{[]string{"build", "--timeout", "soon", "prod"}, ExitUsage, `フラグ --timeout の値 "soon" が不正です`, `invalid argument "soon" for "--timeout" flag`},
		{[]string{"bild"}, ExitUsage, `不明なコマンド "bild" です`, `unknown command "bild" for "flow"`},
		{[]string{"build", "-f", "/nonexistent/fleet.kdl", "prod"}, ExitFailed, "/nonexistent/fleet.kdl", "/nonexistent/fleet.kdl"},
	} {
		for lang, want := range map[string]string{"": tc.ja, "en_US.UTF-8": tc.en} {
			r := planOf(t, dir, map[string]string{"LANG": lang}, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, want) {
				t.Errorf("LANG=%s flow %q: exit %d (want %d), stderr:\n%s\nwant it to contain %q", lang, tc.args, r.code, tc.code, r.stderr, want)
			}
			if r.plan != nil {
				t.Errorf("flow %q resolved a plan despite the error", tc.args)
			}
			if lang == "" && strings.Contains(r.stderr, "Error:") || lang != "" && strings.Contains(r.stderr, "エラー") {
				t.Errorf("LANG=%s flow %q: the message is in the other language:\n%s", lang, tc.args, r.stderr)
			}
		}
	}
}

func TestTTLInRange(t *testing.T) {
	dir := writeProject(t, flagProject)
	for _, ttl := range []string{"0", "1s", "24h", "596523h14m7s"} {
		if r := planOf(t, dir, nil, "build", "--ttl", ttl, "dev"); r.code != 0 {
			t.Errorf("--ttl %s: exit %d\n%s", ttl, r.code, r.stderr)
		}
	}
	ib := imageBuild(testTarget(), manifestParams{ttl: maxTTL, timeout: time.Minute})
	if got := *ib.Spec.TTLSecondsAfterFinished; got != 1<<31-1 {
		t.Errorf("the longest --ttl gives ttlSecondsAfterFinished %d", got)
	}
}
