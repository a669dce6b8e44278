package usererr

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// dockerHubHosts are the names under which Docker Hub credentials are found;
// `docker login` without an argument logs in to Docker Hub.
var dockerHubHosts = map[string]bool{
	"":                            true,
	"docker.io":                   true,
	"index.docker.io":             true,
	"registry-1.docker.io":        true,
	"https://index.docker.io/v1/": true,
}

// ecrHost matches Amazon ECR private registries and captures the region;
// their passwords are short-lived tokens, so plain `docker login` is not how
// people log in there.
var ecrHost = regexp.MustCompile(`^[0-9]+\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)

// AuthFailed reports that the registry refused the credentials (or that there
// were none). target is the repository; registryHost is its registry, named in
// the `docker login` remedy.
func AuthFailed(target, registryHost string) *Error {
	login := "docker login " + registryHost
	if dockerHubHosts[registryHost] {
		login = "docker login"
	}
	e := &Error{
		Kind:   KindAuthFailed,
		Target: target,
		Remedies: []Text{
			{En: "run " + login, Ja: login + " を実行してください"},
			{En: "in CI, set DOCKER_USERNAME and DOCKER_PASSWORD", Ja: "CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください"},
		},
	}
	if m := ecrHost.FindStringSubmatch(registryHost); m != nil {
		cmd := fmt.Sprintf("aws ecr get-login-password --region %s | docker login --username AWS --password-stdin %s", m[1], registryHost)
		e.Remedies = append(e.Remedies, Text{
			En: "for Amazon ECR, run " + cmd,
			Ja: "Amazon ECR の場合は " + cmd + " を実行してください",
		})
	}
	return e
}

// NoRegistry reports an image written without a registry host or Docker Hub
// namespace (`myapp`, `myapp:v1`): there is nowhere to push it.
func NoRegistry(target string) *Error {
	n := exampleName(target)
	return &Error{
		Kind:   KindNoRegistry,
		Target: target,
		Remedies: []Text{
			{
				En: fmt.Sprintf(`include the registry in the image field, e.g. image "ghcr.io/org/%s"`, n),
				Ja: fmt.Sprintf(`image フィールドにレジストリを含めてください（例: image "ghcr.io/org/%s"）`, n),
			},
			{
				En: `or set registry, e.g. registry "ghcr.io/org"`,
				Ja: `または registry を設定してください（例: registry "ghcr.io/org"）`,
			},
			{
				En: fmt.Sprintf(`for Docker Hub, write your user name in front: image "USER/%s"`, n),
				Ja: fmt.Sprintf(`Docker Hub の場合はユーザー名を付けてください（例: image "USER/%s"）`, n),
			},
		},
	}
}

// exampleName takes the image's own name for the examples in a remedy, so
// that the user can copy the line; anything unusual falls back to a neutral
// name rather than echoing odd input into a suggested command.
func exampleName(target string) string {
	n := target
	if i := strings.IndexByte(n, '@'); i >= 0 {
		n = n[:i]
	}
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	if i := strings.IndexByte(n, ':'); i >= 0 {
		n = n[:i]
	}
	if !plainName.MatchString(n) {
		return "myapp"
	}
	return n
}

var plainName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// PushFailed reports a push (or push check) that failed for a reason other
// than authentication: the network, TLS, the registry itself. detail is the
// one-line cause; it must not contain credentials.
func PushFailed(target, detail string) *Error {
	e := &Error{
		Kind:   KindPushFailed,
		Target: target,
		Detail: OneLine(detail),
		Remedies: []Text{
			{En: "check that the registry can be reached over the network", Ja: "レジストリにネットワークで接続できるか確認してください"},
		},
	}
	if target != "" {
		e.Remedies = append(e.Remedies, Text{
			En: "check that you have permission to push to " + target,
			Ja: target + " へのプッシュ権限があるか確認してください",
		})
	} else {
		e.Remedies = append(e.Remedies, Text{
			En: "check that you have permission to push to the repository",
			Ja: "リポジトリへのプッシュ権限があるか確認してください",
		})
	}
	if strings.Contains(detail, "x509:") || strings.Contains(detail, "tls:") {
		e.Remedies = append(e.Remedies, Text{
			En: "check that the registry's TLS certificate is trusted (for a private CA, add it to the system's trusted certificates)",
			Ja: "レジストリの TLS 証明書が信頼されているか確認してください（独自の CA の場合はシステムの信頼済み証明書に追加してください）",
		})
	}
	return e
}

// PushDenied reports a registry that accepted the credentials but refused
// the push (HTTP 403, the registry's DENIED code): the account lacks
// permission on the repository, so the remedy is about permission, not about
// logging in again.
func PushDenied(target, detail string) *Error {
	repo := target
	if repo == "" {
		repo = "the repository"
	}
	return &Error{
		Kind:   KindPushFailed,
		Target: target,
		Detail: OneLine(detail),
		Remedies: []Text{
			{
				En: "check that the account you are logged in with has permission to push to " + repo + " (a token with write or push scope, membership of the organisation)",
				Ja: pushTargetJa(target) + "へのプッシュ権限があるか確認してください（書き込み・プッシュ権限のあるトークン、組織のメンバーであること）",
			},
			{
				En: "check that the repository name is spelled right; some registries refuse pushes to repositories that do not exist",
				Ja: "リポジトリ名が正しいか確認してください（存在しないリポジトリへのプッシュを拒否するレジストリもあります）",
			},
		},
	}
}

// PushUnreachable reports a registry that could not be reached at all:
// connection refused, no route, a name that does not resolve, a timeout.
func PushUnreachable(target, detail string) *Error {
	return &Error{
		Kind:   KindPushFailed,
		Target: target,
		Detail: OneLine(detail),
		Remedies: []Text{
			{En: "check that the registry can be reached over the network (its host name and port, a proxy in HTTPS_PROXY)", Ja: "レジストリにネットワークで接続できるか確認してください（ホスト名とポート、HTTPS_PROXY のプロキシ設定）"},
			{En: "check that the registry host in the image name is spelled right", Ja: "イメージ名のレジストリホストが正しいか確認してください"},
		},
	}
}

func pushTargetJa(target string) string {
	if target == "" {
		return "リポジトリ"
	}
	return target + " "
}

// MaxTagLength is the longest tag the registry API accepts.
const MaxTagLength = 128

// InvalidTag reports a tag outside the grammar [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
// and names exactly what is wrong with it. target is the repository the tag
// was meant for, or "" when not known yet.
func InvalidTag(target, tag string) *Error {
	e := &Error{
		Kind:   KindInvalidTag,
		Target: target,
		Reason: tagProblem(tag),
		Remedies: []Text{
			{
				En: `use only letters, digits, "_", "." and "-" (the first character a letter, digit or "_"; at most 128 characters)`,
				Ja: `タグには英数字と "_"、"."、"-" だけを使用してください（先頭は英数字か "_"、最大128文字）`,
			},
		},
	}
	fix := Text{En: "fix the --tag value or the tag in the image field", Ja: "--tag の値、または image フィールドのタグを修正してください"}
	if s := suggestTag(tag); s != "" && s != tag {
		fix.En += fmt.Sprintf(", e.g. --tag %s", s)
		fix.Ja = fmt.Sprintf("--tag の値、または image フィールドのタグを修正してください（例: --tag %s）", s)
	}
	e.Remedies = append(e.Remedies, fix)
	return e
}

func tagChar(r rune) bool {
	return r == '_' || r == '.' || r == '-' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
}

// tagProblem names every way tag breaks the grammar; it is empty for a valid
// tag.
func tagProblem(tag string) Text {
	if tag == "" {
		return Text{En: "the tag is empty", Ja: "タグが空です"}
	}
	var en, ja []string
	var bad []string
	seen := map[rune]bool{}
	for _, r := range tag {
		if !tagChar(r) && !seen[r] {
			seen[r] = true
			bad = append(bad, quoteRune(r))
		}
	}
	if len(bad) > 0 {
		list := strings.Join(bad, ", ")
		verb := "is"
		if len(bad) > 1 {
			verb = "are"
		}
		en = append(en, fmt.Sprintf("tag %s contains %s, which %s not allowed", quote(tag), list, verb))
		ja = append(ja, fmt.Sprintf("タグ %s の %s は使用できません", quote(tag), list))
	}
	if first, _ := utf8.DecodeRuneInString(tag); first == '.' || first == '-' {
		en = append(en, fmt.Sprintf("a tag must not start with %s", quoteRune(first)))
		ja = append(ja, fmt.Sprintf("タグの先頭に %s は使用できません", quoteRune(first)))
	}
	if n := utf8.RuneCountInString(tag); n > MaxTagLength {
		en = append(en, fmt.Sprintf("the tag is %d characters long, at most %d are allowed", n, MaxTagLength))
		ja = append(ja, fmt.Sprintf("タグが長すぎます（%d文字、最大%d文字）", n, MaxTagLength))
	}
	return Text{En: strings.Join(en, "; "), Ja: strings.Join(ja, "、")}
}

// suggestTag turns a rejected tag into the nearest valid one, mostly for
// branch names such as feature/login → feature-login. It returns "" when
// nothing sensible is left.
func suggestTag(tag string) string {
	var b strings.Builder
	for _, r := range tag {
		if tagChar(r) {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), ".-")
	s = strings.TrimRight(s, "-")
	if len(s) > MaxTagLength {
		s = strings.TrimRight(s[:MaxTagLength], "-")
	}
	return s
}

// quote shows user input in a message; Go quoting makes invisible and control
// characters visible and keeps the message one line.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 80 {
		r := []rune(s)
		s = string(r[:77]) + "..."
	}
	return fmt.Sprintf("%q", s)
}

func quoteRune(r rune) string { return fmt.Sprintf("%q", string(r)) }

// InvalidImage reports an image name that breaks the reference grammar.
// reason says what is wrong; remedies, when given, replace the generic
// "fix the image field" line.
func InvalidImage(target string, reason Text, remedies ...Text) *Error {
	if len(remedies) == 0 {
		remedies = []Text{{
			En: `fix the image field, e.g. image "ghcr.io/org/myapp:v1"`,
			Ja: `image フィールドを修正してください（例: image "ghcr.io/org/myapp:v1"）`,
		}}
	}
	return &Error{Kind: KindInvalidImage, Target: target, Reason: reason, Remedies: remedies}
}
