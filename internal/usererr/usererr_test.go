package usererr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		ja   string
		en   string
	}{
		{
			name: "auth failed, spec example",
			err:  AuthFailed("ghcr.io/org/myapp", "ghcr.io"),
			ja: `エラー: レジストリへの認証に失敗しました

対象: ghcr.io/org/myapp

解決方法:
  • docker login ghcr.io を実行してください
  • CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください
`,
			en: `Error: authentication to the registry failed

Target: ghcr.io/org/myapp

How to fix:
  • run docker login ghcr.io
  • in CI, set DOCKER_USERNAME and DOCKER_PASSWORD
`,
		},
		{
			name: "auth failed on Docker Hub logs in without a host",
			err:  AuthFailed("myuser/myapp", "docker.io"),
			ja: `エラー: レジストリへの認証に失敗しました

対象: myuser/myapp

解決方法:
  • docker login を実行してください
  • CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください
`,
			en: `Error: authentication to the registry failed

Target: myuser/myapp

How to fix:
  • run docker login
  • in CI, set DOCKER_USERNAME and DOCKER_PASSWORD
`,
		},
		{
			name: "auth failed with a detail and a port",
			err:  AuthFailed("localhost:5000/app", "localhost:5000").WithDetail("POST https://localhost:5000/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required"),
			ja: `エラー: レジストリへの認証に失敗しました

対象: localhost:5000/app
原因: POST https://localhost:5000/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required

解決方法:
  • docker login localhost:5000 を実行してください
  • CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください
`,
			en: `Error: authentication to the registry failed

Target: localhost:5000/app
Cause: POST https://localhost:5000/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required

How to fix:
  • run docker login localhost:5000
  • in CI, set DOCKER_USERNAME and DOCKER_PASSWORD
`,
		},
		{
			name: "auth failed on ECR adds the aws login",
			err:  AuthFailed("123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp", "123456789.dkr.ecr.ap-northeast-1.amazonaws.com"),
			ja: `エラー: レジストリへの認証に失敗しました

対象: 123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp

解決方法:
  • docker login 123456789.dkr.ecr.ap-northeast-1.amazonaws.com を実行してください
  • CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください
  • Amazon ECR の場合は aws ecr get-login-password --region ap-northeast-1 | docker login --username AWS --password-stdin 123456789.dkr.ecr.ap-northeast-1.amazonaws.com を実行してください
`,
			en: `Error: authentication to the registry failed

Target: 123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp

How to fix:
  • run docker login 123456789.dkr.ecr.ap-northeast-1.amazonaws.com
  • in CI, set DOCKER_USERNAME and DOCKER_PASSWORD
  • for Amazon ECR, run aws ecr get-login-password --region ap-northeast-1 | docker login --username AWS --password-stdin 123456789.dkr.ecr.ap-northeast-1.amazonaws.com
`,
		},
		{
			name: "no registry",
			err:  NoRegistry("myapp:v1"),
			ja: `エラー: イメージ名にレジストリが含まれていません

対象: myapp:v1

解決方法:
  • image フィールドにレジストリを含めてください（例: image "ghcr.io/org/myapp"）
  • または registry を設定してください（例: registry "ghcr.io/org"）
  • Docker Hub の場合はユーザー名を付けてください（例: image "USER/myapp"）
`,
			en: `Error: the image name does not include a registry

Target: myapp:v1

How to fix:
  • include the registry in the image field, e.g. image "ghcr.io/org/myapp"
  • or set registry, e.g. registry "ghcr.io/org"
  • for Docker Hub, write your user name in front: image "USER/myapp"
`,
		},
		{
			name: "no registry uses the image's own name in the examples",
			err:  NoRegistry("billing-api"),
			ja: `エラー: イメージ名にレジストリが含まれていません

対象: billing-api

解決方法:
  • image フィールドにレジストリを含めてください（例: image "ghcr.io/org/billing-api"）
  • または registry を設定してください（例: registry "ghcr.io/org"）
  • Docker Hub の場合はユーザー名を付けてください（例: image "USER/billing-api"）
`,
			en: `Error: the image name does not include a registry

Target: billing-api

How to fix:
  • include the registry in the image field, e.g. image "ghcr.io/org/billing-api"
  • or set registry, e.g. registry "ghcr.io/org"
  • for Docker Hub, write your user name in front: image "USER/billing-api"
`,
		},
		{
			name: "push failed on the network",
			err:  PushFailed("ghcr.io/org/myapp", "Get \"https://ghcr.io/v2/\": dial tcp: lookup ghcr.io: no such host"),
			ja: `エラー: イメージのプッシュに失敗しました

対象: ghcr.io/org/myapp
原因: Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io: no such host

解決方法:
  • レジストリにネットワークで接続できるか確認してください
  • ghcr.io/org/myapp へのプッシュ権限があるか確認してください
`,
			en: `Error: pushing the image failed

Target: ghcr.io/org/myapp
Cause: Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io: no such host

How to fix:
  • check that the registry can be reached over the network
  • check that you have permission to push to ghcr.io/org/myapp
`,
		},
		{
			name: "push failed on TLS adds the certificate remedy",
			err:  PushFailed("127.0.0.1:5443/app", "Get \"https://127.0.0.1:5443/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"),
			ja: `エラー: イメージのプッシュに失敗しました

対象: 127.0.0.1:5443/app
原因: Get "https://127.0.0.1:5443/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority

解決方法:
  • レジストリにネットワークで接続できるか確認してください
  • 127.0.0.1:5443/app へのプッシュ権限があるか確認してください
  • レジストリの TLS 証明書が信頼されているか確認してください（独自の CA の場合はシステムの信頼済み証明書に追加してください）
`,
			en: `Error: pushing the image failed

Target: 127.0.0.1:5443/app
Cause: Get "https://127.0.0.1:5443/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority

How to fix:
  • check that the registry can be reached over the network
  • check that you have permission to push to 127.0.0.1:5443/app
  • check that the registry's TLS certificate is trusted (for a private CA, add it to the system's trusted certificates)
`,
		},
		{
			name: "invalid tag from a branch name",
			err:  InvalidTag("ghcr.io/org/myapp", "feature/login"),
			ja: `エラー: タグに使用できない文字が含まれています

対象: ghcr.io/org/myapp
原因: タグ "feature/login" の "/" は使用できません

解決方法:
  • タグには英数字と "_"、"."、"-" だけを使用してください（先頭は英数字か "_"、最大128文字）
  • --tag の値、または image フィールドのタグを修正してください（例: --tag feature-login）
`,
			en: `Error: the tag contains characters that are not allowed

Target: ghcr.io/org/myapp
Cause: tag "feature/login" contains "/", which is not allowed

How to fix:
  • use only letters, digits, "_", "." and "-" (the first character a letter, digit or "_"; at most 128 characters)
  • fix the --tag value or the tag in the image field, e.g. --tag feature-login
`,
		},
		{
			name: "invalid tag without a known target",
			err:  InvalidTag("", "-rc1"),
			ja: `エラー: タグに使用できない文字が含まれています

原因: タグの先頭に "-" は使用できません

解決方法:
  • タグには英数字と "_"、"."、"-" だけを使用してください（先頭は英数字か "_"、最大128文字）
  • --tag の値、または image フィールドのタグを修正してください（例: --tag rc1）
`,
			en: `Error: the tag contains characters that are not allowed

Cause: a tag must not start with "-"

How to fix:
  • use only letters, digits, "_", "." and "-" (the first character a letter, digit or "_"; at most 128 characters)
  • fix the --tag value or the tag in the image field, e.g. --tag rc1
`,
		},
		{
			name: "invalid image with the default remedy",
			err:  InvalidImage("ghcr.io/Org/App", Text{En: `the repository path contains uppercase "O"`, Ja: `リポジトリ名に大文字 "O" は使用できません`}),
			ja: `エラー: イメージ名が不正です

対象: ghcr.io/Org/App
原因: リポジトリ名に大文字 "O" は使用できません

解決方法:
  • image フィールドを修正してください（例: image "ghcr.io/org/myapp:v1"）
`,
			en: `Error: the image name is invalid

Target: ghcr.io/Org/App
Cause: the repository path contains uppercase "O"

How to fix:
  • fix the image field, e.g. image "ghcr.io/org/myapp:v1"
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Render(Japanese); got != tt.ja {
				t.Errorf("Render(Japanese) =\n%s\nwant\n%s", got, tt.ja)
			}
			if got := tt.err.Render(English); got != tt.en {
				t.Errorf("Render(English) =\n%s\nwant\n%s", got, tt.en)
			}
		})
	}
}

func TestErrorOneLiner(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{AuthFailed("ghcr.io/org/myapp", "ghcr.io"), "authentication to the registry failed: ghcr.io/org/myapp"},
		{NoRegistry("myapp"), "the image name does not include a registry: myapp"},
		{PushFailed("ghcr.io/org/myapp", "connection\nrefused"), "pushing the image failed: ghcr.io/org/myapp: connection refused"},
		{InvalidTag("ghcr.io/org/myapp", "a b"), `the tag contains characters that are not allowed: ghcr.io/org/myapp: tag "a b" contains " ", which is not allowed`},
		{InvalidImage("", Text{En: "the image name is empty", Ja: "イメージ名が空です"}), "the image name is invalid: the image name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Kind.String(), func(t *testing.T) {
			got := tt.err.Error()
			if got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("Error() spans lines: %q", got)
			}
		})
	}
}

func TestLangFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Lang
	}{
		{"nothing set: the product's language", nil, Japanese},
		{"LANG Japanese", map[string]string{"LANG": "ja_JP.UTF-8"}, Japanese},
		{"LANG bare ja", map[string]string{"LANG": "ja"}, Japanese},
		{"LANG English", map[string]string{"LANG": "en_US.UTF-8"}, English},
		{"LANG bare en", map[string]string{"LANG": "en"}, English},
		{"LANG en_GB", map[string]string{"LANG": "en_GB.UTF-8"}, English},
		{"LANG C (CI runners)", map[string]string{"LANG": "C"}, Japanese},
		{"LANG C.UTF-8 (CI runners)", map[string]string{"LANG": "C.UTF-8"}, Japanese},
		{"LANG POSIX", map[string]string{"LANG": "POSIX"}, Japanese},
		{"another language is not English", map[string]string{"LANG": "fr_FR.UTF-8"}, Japanese},
		{"LC_MESSAGES beats LANG", map[string]string{"LANG": "en_US.UTF-8", "LC_MESSAGES": "ja_JP.UTF-8"}, Japanese},
		{"LC_MESSAGES English beats Japanese LANG", map[string]string{"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, English},
		{"LC_MESSAGES C beats English LANG", map[string]string{"LANG": "en_US.UTF-8", "LC_MESSAGES": "C"}, Japanese},
		{"LC_ALL beats everything", map[string]string{"LANG": "en_US.UTF-8", "LC_MESSAGES": "en_US.UTF-8", "LC_ALL": "ja_JP.eucJP"}, Japanese},
		{"LC_ALL English beats Japanese", map[string]string{"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "ja_JP.UTF-8", "LC_ALL": "en_US.UTF-8"}, English},
		{"LC_ALL C.UTF-8 beats English", map[string]string{"LANG": "en_US.UTF-8", "LC_ALL": "C.UTF-8"}, Japanese},
		{"empty LC_ALL is skipped", map[string]string{"LC_ALL": "", "LC_MESSAGES": "", "LANG": "en_US.UTF-8"}, English},
		{"other variables do not count", map[string]string{"LC_CTYPE": "en_US.UTF-8", "LANGUAGE": "en"}, Japanese},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LangFromEnv(func(k string) string { return tt.env[k] })
			if got != tt.want {
				t.Errorf("LangFromEnv(%v) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}

func TestTagProblem(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := []struct {
		tag    string
		en, ja string
	}{
		{"v1.0", "", ""},
		{"", "the tag is empty", "タグが空です"},
		{"a/b@c/d", `tag "a/b@c/d" contains "/", "@", which are not allowed`, `タグ "a/b@c/d" の "/", "@" は使用できません`},
		{".hidden", `a tag must not start with "."`, `タグの先頭に "." は使用できません`},
		{"タグ", `tag "タグ" contains "タ", "グ", which are not allowed`, `タグ "タグ" の "タ", "グ" は使用できません`},
		{"v1\x1b[2J", `tag "v1\x1b[2J" contains "\x1b", "[", which are not allowed`, `タグ "v1\x1b[2J" の "\x1b", "[" は使用できません`},
		{long, "the tag is 129 characters long, at most 128 are allowed", "タグが長すぎます（129文字、最大128文字）"},
		{"-x:y", `tag "-x:y" contains ":", which is not allowed; a tag must not start with "-"`, `タグ "-x:y" の ":" は使用できません、タグの先頭に "-" は使用できません`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.tag), func(t *testing.T) {
			got := tagProblem(tt.tag)
			if got.En != tt.en || got.Ja != tt.ja {
				t.Errorf("tagProblem(%q) = %+v, want {En:%q Ja:%q}", tt.tag, got, tt.en, tt.ja)
			}
		})
	}
}

func TestSuggestTag(t *testing.T) {
	tests := map[string]string{
		"feature/login":          "feature-login",
		"release 1.2":            "release-1.2",
		"-rc1":                   "rc1",
		"a//b":                   "a-b",
		"///":                    "",
		"ok_tag":                 "ok_tag",
		strings.Repeat("x", 200): strings.Repeat("x", 128),
	}
	for in, want := range tests {
		if got := suggestTag(in); got != want {
			t.Errorf("suggestTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\nb\r\n\tc", "a b c"},
		{"  padded  ", "padded"},
		{"esc\x1b[31mred", "esc[31mred"},
		{"bell\a", "bell"},
		{strings.Repeat("x", 500), strings.Repeat("x", maxDetail) + "…"},
	}
	for _, tt := range tests {
		if got := OneLine(tt.in); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDetailFieldIsFlattenedWhenSetDirectly(t *testing.T) {
	e := &Error{Kind: KindPushFailed, Target: "r/x", Detail: "line1\nline2"}
	if got := e.Render(English); !strings.Contains(got, "Cause: line1 line2\n") {
		t.Errorf("Render = %q, want the detail on one line", got)
	}
}

func TestFormat(t *testing.T) {
	wrapped := fmt.Errorf("service api: %w", NoRegistry("myapp"))
	if got := Format(wrapped, Japanese); !strings.HasPrefix(got, "エラー: イメージ名にレジストリが含まれていません\n\n対象: myapp\n") {
		t.Errorf("Format(wrapped user error) = %q, want the full Japanese block", got)
	}
	// An error from elsewhere (the cluster, the file system) is an unexpected error whose cause is
	// its own text: the headline is in the user's language, the cause verbatim.
	plain := errors.New("dial tcp 10.0.0.1:6443: connect: connection refused")
	if got, want := Format(plain, Japanese), "エラー: 予期しないエラーが発生しました\n\n原因: dial tcp 10.0.0.1:6443: connect: connection refused\n"; got != want {
		t.Errorf("Format(plain, ja) = %q, want %q", got, want)
	}
	if got, want := Format(plain, English), "Error: an unexpected error occurred\n\nCause: dial tcp 10.0.0.1:6443: connect: connection refused\n"; got != want {
		t.Errorf("Format(plain, en) = %q, want %q", got, want)
	}
	if got := Format(nil, English); got != "" {
		t.Errorf("Format(nil) = %q, want empty", got)
	}
}

func TestWithCauseUnwraps(t *testing.T) {
	err := error(PushFailed("r/x", "canceled").WithCause(context.Canceled))
	if !errors.Is(err, context.Canceled) {
		t.Error("errors.Is(err, context.Canceled) = false, want true")
	}
	if strings.Contains(err.Error(), "context canceled") {
		t.Errorf("the attached cause leaked into the text: %q", err.Error())
	}
	var ue *Error
	if !errors.As(fmt.Errorf("wrap: %w", err), &ue) || ue.Kind != KindPushFailed {
		t.Errorf("errors.As did not find the PushFailed error")
	}
}

func TestUnknownLangFallsBackToEnglish(t *testing.T) {
	e := NoRegistry("myapp")
	if got, want := e.Render(Lang("fr")), e.Render(English); got != want {
		t.Errorf("Render(fr) = %q, want the English block", got)
	}
}

func TestNewWithHeadlineLinesAndRemedies(t *testing.T) {
	e := New(KindConfig, T("stage 'qa' not found", "ステージ 'qa' が見つかりません")).
		WithTarget("/p/.fleetflow/fleet.kdl").
		WithLines(T("available stages: dev, prod", "利用可能なステージ: dev, prod")).
		WithRemedies(T("name one of them", "いずれかを指定してください"))
	if got, want := e.Render(Japanese), "エラー: ステージ 'qa' が見つかりません\n\n対象: /p/.fleetflow/fleet.kdl\n利用可能なステージ: dev, prod\n\n解決方法:\n  • いずれかを指定してください\n"; got != want {
		t.Errorf("Render(ja) =\n%s\nwant\n%s", got, want)
	}
	if got, want := e.Render(English), "Error: stage 'qa' not found\n\nTarget: /p/.fleetflow/fleet.kdl\navailable stages: dev, prod\n\nHow to fix:\n  • name one of them\n"; got != want {
		t.Errorf("Render(en) =\n%s\nwant\n%s", got, want)
	}
	if got, want := e.Error(), "stage 'qa' not found: /p/.fleetflow/fleet.kdl"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := Warning(T("w", "警告文"), Japanese), "警告: 警告文\n"; got != want {
		t.Errorf("Warning = %q, want %q", got, want)
	}
}
