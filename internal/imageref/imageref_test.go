package imageref

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/usererr"
)

const hex64 = "4cd9a0a2c7f4e9b1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70819"

func TestResolve(t *testing.T) {
	tests := []struct {
		name  string
		image string
		flag  string
		want  Target
	}{
		// The tag rules, one row each: --tag wins, then the image's own tag, then latest.
		{"spec: image tag", "ghcr.io/org/myapp:main", "", Target{"ghcr.io/org/myapp", []string{"main"}, "ghcr.io"}},
		{"spec: --tag v1.0", "ghcr.io/org/myapp:main", "v1.0", Target{"ghcr.io/org/myapp", []string{"v1.0"}, "ghcr.io"}},
		{"spec: --tag abc123", "ghcr.io/org/myapp:main", "abc123", Target{"ghcr.io/org/myapp", []string{"abc123"}, "ghcr.io"}},

		{"no tag defaults to latest", "ghcr.io/org/myapp", "", Target{"ghcr.io/org/myapp", []string{"latest"}, "ghcr.io"}},
		{"flag on an untagged image", "ghcr.io/org/myapp", "v1.2.0", Target{"ghcr.io/org/myapp", []string{"v1.2.0"}, "ghcr.io"}},
		{"commit sha as tag", "ghcr.io/org/myapp", "0123456789abcdef0123456789abcdef01234567", Target{"ghcr.io/org/myapp", []string{"0123456789abcdef0123456789abcdef01234567"}, "ghcr.io"}},

		{"docker hub user/name", "myuser/myapp", "", Target{"myuser/myapp", []string{"latest"}, "docker.io"}},
		{"docker hub spec example", "myuser/myapp:latest", "", Target{"myuser/myapp", []string{"latest"}, "docker.io"}},
		{"docker hub explicit", "docker.io/myuser/myapp:v1", "", Target{"docker.io/myuser/myapp", []string{"v1"}, "docker.io"}},
		{"docker hub index alias", "index.docker.io/myuser/myapp", "", Target{"index.docker.io/myuser/myapp", []string{"latest"}, "docker.io"}},
		{"docker hub explicit official image", "docker.io/myapp", "", Target{"docker.io/myapp", []string{"latest"}, "docker.io"}},

		{"port is not a tag", "localhost:5000/app", "", Target{"localhost:5000/app", []string{"latest"}, "localhost:5000"}},
		{"port and tag", "localhost:5000/app:v2", "", Target{"localhost:5000/app", []string{"v2"}, "localhost:5000"}},
		{"port, flag wins", "localhost:5000/app:v2", "v3", Target{"localhost:5000/app", []string{"v3"}, "localhost:5000"}},
		{"localhost without port", "localhost/app", "", Target{"localhost/app", []string{"latest"}, "localhost"}},
		{"IPv4 with port", "127.0.0.1:5443/team/app:v1", "", Target{"127.0.0.1:5443/team/app", []string{"v1"}, "127.0.0.1:5443"}},
		{"IPv6 with port", "[::1]:5000/app:v1", "", Target{"[::1]:5000/app", []string{"v1"}, "[::1]:5000"}},
		{"IPv6 without port", "[fe80::1]/app", "", Target{"[fe80::1]/app", []string{"latest"}, "[fe80::1]"}},
		{"numeric tag after a path", "localhost:5000/app:5000", "", Target{"localhost:5000/app", []string{"5000"}, "localhost:5000"}},
		{"numeric tag, docker hub", "myuser/postgres:16", "", Target{"myuser/postgres", []string{"16"}, "docker.io"}},

		{"ECR example", "123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp:latest", "", Target{"123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp", []string{"latest"}, "123456789.dkr.ecr.ap-northeast-1.amazonaws.com"}},
		{"GCR deep path and separators", "gcr.io/my-project/my_app__x/sub.dir:v1.2.3-rc_1", "", Target{"gcr.io/my-project/my_app__x/sub.dir", []string{"v1.2.3-rc_1"}, "gcr.io"}},
		{"explicit 443", "registry.example.com:443/a/b/c/d", "", Target{"registry.example.com:443/a/b/c/d", []string{"latest"}, "registry.example.com:443"}},
		{"uppercase host is kept", "Registry.Example.com/team/app", "", Target{"Registry.Example.com/team/app", []string{"latest"}, "Registry.Example.com"}},
		{"repeated dashes", "ghcr.io/org/my--app", "", Target{"ghcr.io/org/my--app", []string{"latest"}, "ghcr.io"}},
		{"longest tag", "ghcr.io/org/app", strings.Repeat("a", 128), Target{"ghcr.io/org/app", []string{strings.Repeat("a", 128)}, "ghcr.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.image, flags(tt.flag)...)
			if err != nil {
				t.Fatalf("Resolve(%q, %q) error: %v", tt.image, tt.flag, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Resolve(%q, %q) = %+v, want %+v", tt.image, tt.flag, got, tt.want)
			}
			again, err := Resolve(got.Image())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("round trip Resolve(%q) = %+v, %v; want %+v", got.Image(), again, err, got)
			}
			if _, err := got.Reference(); err != nil {
				t.Errorf("Reference() of %q: %v", got.Image(), err)
			}
		})
	}
}

// flags is the --tag flags of a table row: none for "".
func flags(tag string) []string {
	if tag == "" {
		return nil
	}
	return []string{tag}
}

func TestResolveSeveralTags(t *testing.T) {
	got, err := Resolve("ghcr.io/org/myapp:main", "v1.2.0", "latest", "v1.2.0")
	if err != nil {
		t.Fatal(err)
	}
	want := Target{"ghcr.io/org/myapp", []string{"v1.2.0", "latest"}, "ghcr.io"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v (the image's own tag yields to the flags, repeats dropped)", got, want)
	}
	if imgs := got.Images(); !reflect.DeepEqual(imgs, []string{"ghcr.io/org/myapp:v1.2.0", "ghcr.io/org/myapp:latest"}) {
		t.Errorf("Images() = %v", imgs)
	}
	_, err = Resolve("ghcr.io/org/myapp", "v1", "feature/x")
	var ue *usererr.Error
	if !errors.As(err, &ue) || ue.Kind != usererr.KindInvalidTag || ue.Target != "ghcr.io/org/myapp" {
		t.Fatalf("a bad second tag: %v, want the invalid-tag error for ghcr.io/org/myapp", err)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name       string
		image      string
		flag       string
		kind       usererr.Kind
		target     string
		reasonEn   string // substring of the English cause; "" for kinds without one
		reasonJa   string
		remedyPart string // substring of some English remedy
	}{
		{"empty", "", "", usererr.KindInvalidImage, "", "the image name is empty", "イメージ名が空です", "fix the image field"},
		{"single component", "myapp", "", usererr.KindNoRegistry, "myapp", "", "", `image "ghcr.io/org/myapp"`},
		{"single component with tag", "myapp:v1", "", usererr.KindNoRegistry, "myapp:v1", "", "", `image "ghcr.io/org/myapp"`},
		{"single component even with --tag", "myapp", "v1", usererr.KindNoRegistry, "myapp", "", "", "registry"},
		{"single component with a numeric tag is not a host", "myapp:16", "", usererr.KindNoRegistry, "myapp:16", "", "", `image "ghcr.io/org/myapp"`},
		{"host only with a port after a domain", "registry.example.com:5000", "", usererr.KindInvalidImage, "registry.example.com:5000", "only a registry host", "リポジトリ名がありません", `"registry.example.com:5000/myapp"`},
		{"host only with port", "localhost:5000", "", usererr.KindInvalidImage, "localhost:5000", "only a registry host", "レジストリホストだけ", `image "localhost:5000/myapp"`},
		{"host only localhost", "localhost", "", usererr.KindInvalidImage, "localhost", "only a registry host", "リポジトリ名がありません", `"localhost/myapp"`},
		{"host only domain", "ghcr.io", "", usererr.KindInvalidImage, "ghcr.io", "only a registry host", "リポジトリ名がありません", `"ghcr.io/myapp"`},
		{"uppercase path", "ghcr.io/Org/MyApp:v1", "", usererr.KindInvalidImage, "ghcr.io/Org/MyApp:v1", `"Org/MyApp" contains uppercase`, "大文字", `image "ghcr.io/org/myapp:v1"`},
		{"uppercase docker hub", "MyUser/app", "", usererr.KindInvalidImage, "MyUser/app", "uppercase", "大文字", `image "myuser/app"`},
		{"uppercase that lowering cannot fix", "ghcr.io/Org/-App", "", usererr.KindInvalidImage, "ghcr.io/Org/-App", "uppercase", "大文字", `"/" between path components`},
		{"digest", "ghcr.io/org/myapp@sha256:" + hex64, "", usererr.KindInvalidImage, "ghcr.io/org/myapp@sha256:" + hex64, "cannot write to a digest", "ダイジェスト", `remove "@sha256:4cd9a0a2c7f4…"`},
		{"tag and digest", "ghcr.io/org/myapp:v1@sha256:" + hex64, "v2", usererr.KindInvalidImage, "ghcr.io/org/myapp:v1@sha256:" + hex64, "(@sha256:4cd9a0a2c7f4…)", "ダイジェスト", `image "ghcr.io/org/myapp:v1"`},
		{"malformed digest", "ghcr.io/org/myapp@sha256:xyz", "", usererr.KindInvalidImage, "ghcr.io/org/myapp@sha256:xyz", `"sha256:xyz" after "@" is not a digest`, "ダイジェストとして不正", "fix the image field"},
		{"space", "ghcr.io/org/my app", "", usererr.KindInvalidImage, "ghcr.io/org/my app", `contains " ", which is not allowed`, `の " " は使用できません`, "lowercase letters and digits"},
		{"several bad characters", "ghcr.io/org/a+b!c+", "", usererr.KindInvalidImage, "ghcr.io/org/a+b!c+", `contains "+", "!", which are not allowed`, `"+", "!"`, "lowercase letters and digits"},
		{"colon inside the path", "ghcr.io/org/app:v1/x", "", usererr.KindInvalidImage, "ghcr.io/org/app:v1/x", `contains ":"`, `":"`, "lowercase letters and digits"},
		{"double slash", "ghcr.io/org//app", "", usererr.KindInvalidImage, "ghcr.io/org//app", "empty component", "空の要素", "fix the image field"},
		{"trailing slash", "ghcr.io/org/app/", "", usererr.KindInvalidImage, "ghcr.io/org/app/", "empty component", "空の要素", "fix the image field"},
		{"leading dash component", "ghcr.io/org/-app", "", usererr.KindInvalidImage, "ghcr.io/org/-app", `path component "-app" is invalid`, `パスの要素 "-app"`, "lowercase letters and digits"},
		{"double dot component", "ghcr.io/org/a..b", "", usererr.KindInvalidImage, "ghcr.io/org/a..b", `path component "a..b" is invalid`, "不正", "lowercase letters and digits"},
		{"triple underscore", "ghcr.io/org/a___b", "", usererr.KindInvalidImage, "ghcr.io/org/a___b", `"a___b" is invalid`, "不正", "lowercase letters and digits"},
		{"unbracketed IPv6", "::1/app", "", usererr.KindInvalidImage, "::1/app", "write it in brackets", "角括弧", "fix the image field"},
		{"unclosed bracket", "[::1:5000/app", "", usererr.KindInvalidImage, "[::1:5000/app", `registry host "[::1:5000" is not a valid host name`, "不正", "fix the image field"},
		{"bracketed non-address", "[1:2:3]/app", "", usererr.KindInvalidImage, "[1:2:3]/app", `"[1:2:3]" is not a valid host name`, "不正", "fix the image field"},
		{"port out of range", "localhost:99999/app", "", usererr.KindInvalidImage, "localhost:99999/app", "port 99999", "範囲外", "fix the image field"},
		{"port zero", "localhost:0/app", "", usererr.KindInvalidImage, "localhost:0/app", "port 0", "範囲外", "fix the image field"},
		{"underscore in host", "my_reg.io/app", "", usererr.KindInvalidImage, "my_reg.io/app", `"my_reg.io" is not a valid host name`, "不正", "fix the image field"},
		{"too long", "ghcr.io/" + strings.Repeat("a", 250), "", usererr.KindInvalidImage, "ghcr.io/" + strings.Repeat("a", 250), "258 characters long; at most 255", "長すぎます", "fix the image field"},
		{"empty tag in image", "ghcr.io/org/app:", "", usererr.KindInvalidTag, "ghcr.io/org/app", "the tag is empty", "タグが空です", "fix the --tag value"},
		{"bad tag in image", "ghcr.io/org/app:-bad", "", usererr.KindInvalidTag, "ghcr.io/org/app", `must not start with "-"`, `先頭に "-"`, "--tag bad"},
		{"bad tag in image even with a good flag", "ghcr.io/org/app:a!b", "v1", usererr.KindInvalidTag, "ghcr.io/org/app", `"!"`, `"!"`, "--tag a-b"},
		{"branch name flag", "ghcr.io/org/myapp", "feature/login", usererr.KindInvalidTag, "ghcr.io/org/myapp", `contains "/"`, `の "/" は使用できません`, "--tag feature-login"},
		{"dot first flag", "ghcr.io/org/myapp", ".x", usererr.KindInvalidTag, "ghcr.io/org/myapp", `start with "."`, `先頭に "."`, "fix the --tag value"},
		{"too long flag", "ghcr.io/org/myapp", strings.Repeat("a", 129), usererr.KindInvalidTag, "ghcr.io/org/myapp", "129 characters", "129文字", "at most 128"},
		{"non-ASCII flag", "ghcr.io/org/myapp", "リリース", usererr.KindInvalidTag, "ghcr.io/org/myapp", `"リ"`, `"リ"`, "fix the --tag value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.image, flags(tt.flag)...)
			if err == nil {
				t.Fatalf("Resolve(%q, %q) = %+v, want an error", tt.image, tt.flag, got)
			}
			var ue *usererr.Error
			if !errors.As(err, &ue) {
				t.Fatalf("Resolve(%q, %q) error %T %v, want *usererr.Error", tt.image, tt.flag, err, err)
			}
			if ue.Kind != tt.kind {
				t.Errorf("kind = %v, want %v (%v)", ue.Kind, tt.kind, err)
			}
			if ue.Target != tt.target {
				t.Errorf("target = %q, want %q", ue.Target, tt.target)
			}
			if !strings.Contains(ue.Reason.En, tt.reasonEn) || (tt.reasonEn == "" && ue.Reason.En != "") {
				t.Errorf("English reason = %q, want it to contain %q", ue.Reason.En, tt.reasonEn)
			}
			if !strings.Contains(ue.Reason.Ja, tt.reasonJa) || (tt.reasonJa == "" && ue.Reason.Ja != "") {
				t.Errorf("Japanese reason = %q, want it to contain %q", ue.Reason.Ja, tt.reasonJa)
			}
			var remedies []string
			for _, r := range ue.Remedies {
				remedies = append(remedies, r.En)
				if r.Ja == "" {
					t.Errorf("remedy %q has no Japanese text", r.En)
				}
			}
			if !strings.Contains(strings.Join(remedies, "\n"), tt.remedyPart) {
				t.Errorf("remedies %q, want one containing %q", remedies, tt.remedyPart)
			}
		})
	}
}

// TestRenderedErrors pins two complete blocks as the user sees them, so that
// the pieces above are known to fit together.
func TestRenderedErrors(t *testing.T) {
	_, err := Resolve("ghcr.io/Org/MyApp:v1", "")
	want := `エラー: イメージ名が不正です

対象: ghcr.io/Org/MyApp:v1
原因: リポジトリのパス "Org/MyApp" に大文字が含まれています（小文字のみ使用できます）

解決方法:
  • リポジトリ名を小文字にしてください（例: image "ghcr.io/org/myapp:v1"）
`
	if got := usererr.Format(err, usererr.Japanese); got != want {
		t.Errorf("uppercase, Japanese:\n%s\nwant\n%s", got, want)
	}

	_, err = Resolve("ghcr.io/org/myapp", "feature/login")
	want = `Error: the tag contains characters that are not allowed

Target: ghcr.io/org/myapp
Cause: tag "feature/login" contains "/", which is not allowed

How to fix:
  • use only letters, digits, "_", "." and "-" (the first character a letter, digit or "_"; at most 128 characters)
  • fix the --tag value or the tag in the image field, e.g. --tag feature-login
`
	if got := usererr.Format(err, usererr.English); got != want {
		t.Errorf("branch tag, English:\n%s\nwant\n%s", got, want)
	}
}

func TestParseKeepsDigest(t *testing.T) {
	ref, err := Parse("ghcr.io/org/myapp:v1@sha256:" + hex64)
	if err != nil {
		t.Fatal(err)
	}
	want := Reference{Repository: "ghcr.io/org/myapp", Registry: "ghcr.io", Path: "org/myapp", Tag: "v1", Digest: "sha256:" + hex64}
	if ref != want {
		t.Errorf("Parse = %+v, want %+v", ref, want)
	}
}

func TestValidateRepository(t *testing.T) {
	tests := []struct {
		repo string
		kind usererr.Kind // 0 when valid
		msg  string
	}{
		{"ghcr.io/org/myapp", 0, ""},
		{"myuser/myapp", 0, ""},
		{"localhost:5000/app", 0, ""},
		{"[::1]:5000/app", 0, ""},
		{"123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp", 0, ""},
		{"ghcr.io/org/myapp:v1", usererr.KindInvalidImage, `must not include a tag (":v1")`},
		{"ghcr.io/org/myapp@sha256:" + hex64, usererr.KindInvalidImage, "must not include a digest"},
		{"myapp", usererr.KindNoRegistry, ""},
		{"ghcr.io/Org/app", usererr.KindInvalidImage, "uppercase"},
		{"ghcr.io/org/app:", usererr.KindInvalidTag, "empty"},
		{"", usererr.KindInvalidImage, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			err := ValidateRepository(tt.repo)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("ValidateRepository(%q) = %v, want nil", tt.repo, err)
				}
				return
			}
			var ue *usererr.Error
			if !errors.As(err, &ue) || ue.Kind != tt.kind {
				t.Fatalf("ValidateRepository(%q) = %v, want a %v error", tt.repo, err, tt.kind)
			}
			if !strings.Contains(ue.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", ue.Error(), tt.msg)
			}
		})
	}
}

func TestValidateTag(t *testing.T) {
	valid := []string{"latest", "v1.2.0", "abc123def", "_x", "A", "1.0-rc_1", "V1__x--y..z", strings.Repeat("a", 128)}
	for _, tag := range valid {
		if err := ValidateTag(tag); err != nil {
			t.Errorf("ValidateTag(%q) = %v, want nil", tag, err)
		}
	}
	invalid := []string{"", ".x", "-x", "a/b", "a:b", "a b", "a@b", strings.Repeat("a", 129), "ü", "v1\n", "v1\x00"}
	for _, tag := range invalid {
		err := ValidateTag(tag)
		var ue *usererr.Error
		if !errors.As(err, &ue) || ue.Kind != usererr.KindInvalidTag {
			t.Errorf("ValidateTag(%q) = %v, want an InvalidTag error", tag, err)
			continue
		}
		// usererr describes the problem with its own copy of the grammar;
		// every tag the regexp rejects must get a non-empty explanation.
		if ue.Reason.En == "" || ue.Reason.Ja == "" {
			t.Errorf("ValidateTag(%q) gives no reason: %+v", tag, ue.Reason)
		}
		if strings.ContainsAny(ue.Error(), "\n\x00") {
			t.Errorf("ValidateTag(%q) error text is not one clean line: %q", tag, ue.Error())
		}
	}
}

func TestValidateDigest(t *testing.T) {
	tests := map[string]bool{
		"sha256:" + hex64:                   true,
		"sha256:" + strings.ToUpper(hex64):  false,
		"sha256:" + hex64[:63]:              false,
		"sha512:" + hex64 + hex64:           false,
		"sha256:" + hex64 + "\n":            false,
		"":                                  false,
		"sha256:" + hex64[:60] + "xyz0":     false,
		"@sha256:" + hex64:                  false,
		"ghcr.io/org/app@sha256:" + hex64:   false,
		strings.TrimPrefix(hex64, "sha256"): false,
	}
	for d, ok := range tests {
		if err := ValidateDigest(d); (err == nil) != ok {
			t.Errorf("ValidateDigest(%q) = %v, want ok=%v", d, err, ok)
		}
	}
}

func TestStringHelpers(t *testing.T) {
	tg := Target{Repository: "ghcr.io/org/myapp", Tags: []string{"v1.2.0"}, Registry: "ghcr.io"}
	if got, want := tg.Image(), "ghcr.io/org/myapp:v1.2.0"; got != want {
		t.Errorf("Image() = %q, want %q", got, want)
	}
	if got := tg.String(); got != tg.Image() {
		t.Errorf("String() = %q, want Image()", got)
	}
	if got, want := RepoWithDigest("ghcr.io/org/myapp", "sha256:"+hex64), "ghcr.io/org/myapp@sha256:"+hex64; got != want {
		t.Errorf("RepoWithDigest = %q, want %q", got, want)
	}
	ref, err := Target{Repository: "myuser/myapp", Tags: []string{"v1"}, Registry: DockerHub}.Reference()
	if err != nil {
		t.Fatal(err)
	}
	// go-containerregistry expands Docker Hub names for the wire; the
	// Target itself keeps what the user wrote.
	if got, want := ref.Name(), "index.docker.io/myuser/myapp:v1"; got != want {
		t.Errorf("Reference().Name() = %q, want %q", got, want)
	}
}

func FuzzResolve(f *testing.F) {
	seeds := []struct{ image, flag string }{
		{"ghcr.io/org/myapp:main", ""},
		{"ghcr.io/org/myapp:main", "v1.0"},
		{"myuser/myapp", ""},
		{"localhost:5000/app", ""},
		{"[::1]:5000/app:v1", ""},
		{"123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp:latest", ""},
		{"repo@sha256:" + hex64, ""},
		{"myapp:v1", ""},
		{"ghcr.io/Org/App", "feature/x"},
		{"::1/app", ""},
		{"a/b:c@d", "e"},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s.image, s.flag)
	}
	f.Fuzz(func(t *testing.T, image, flag string) {
		got, err := Resolve(image, flags(flag)...)
		if err != nil {
			var ue *usererr.Error
			if !errors.As(err, &ue) {
				t.Fatalf("Resolve(%q, %q) returned %T %v, want *usererr.Error", image, flag, err, err)
			}
			if strings.Contains(ue.Error(), "\n") {
				t.Fatalf("error for %q spans lines: %q", image, ue.Error())
			}
			_ = ue.Render(usererr.Japanese)
			return
		}
		if err := ValidateTag(got.Tag()); err != nil {
			t.Fatalf("Resolve(%q, %q) accepted tag %q: %v", image, flag, got.Tag(), err)
		}
		if err := ValidateRepository(got.Repository); err != nil {
			t.Fatalf("Resolve(%q, %q) accepted repository %q: %v", image, flag, got.Repository, err)
		}
		again, err := Resolve(got.Image())
		if err != nil {
			t.Fatalf("Resolve(%q) of accepted %q, %q: %v", got.Image(), image, flag, err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip of %q, %q: %+v then %+v", image, flag, got, again)
		}
		if _, err := got.Reference(); err != nil {
			t.Fatalf("go-containerregistry rejects accepted %q: %v", got.Image(), err)
		}
	})
}

// Without --push a name needs no registry: `myapp:16` is myapp with tag 16, built and discarded.
func TestResolveLocal(t *testing.T) {
	for _, tc := range []struct {
		image, flag string
		want        Target
		canonical   string
	}{
		{"myapp", "", Target{"myapp", []string{"latest"}, ""}, "docker.io/library/myapp"},
		{"myapp:16", "", Target{"myapp", []string{"16"}, ""}, "docker.io/library/myapp"},
		{"myapp:16", "2", Target{"myapp", []string{"2"}, ""}, "docker.io/library/myapp"},
		{"my-app__x-1", "", Target{"my-app__x-1", []string{"latest"}, ""}, "docker.io/library/my-app__x-1"},
		{"ghcr.io/org/app:v1", "", Target{"ghcr.io/org/app", []string{"v1"}, "ghcr.io"}, "ghcr.io/org/app"},
		{"localhost:5000/app", "", Target{"localhost:5000/app", []string{"latest"}, "localhost:5000"}, "localhost:5000/app"},
	} {
		var flags []string
		if tc.flag != "" {
			flags = []string{tc.flag}
		}
		got, err := ResolveLocal(tc.image, flags...)
		if err != nil || !reflect.DeepEqual(got, tc.want) || got.CanonicalRepository() != tc.canonical {
			t.Errorf("ResolveLocal(%q, %q) = %+v (%s), %v; want %+v (%s)", tc.image, tc.flag, got, got.CanonicalRepository(), err, tc.want, tc.canonical)
		}
	}
	for _, bad := range []string{"MyApp", "myapp:-x", "localhost:5000", "ghcr.io", "my app", "myapp@sha256:" + hex64} {
		if got, err := ResolveLocal(bad); err == nil {
			t.Errorf("ResolveLocal(%q) = %+v, want an error", bad, got)
		}
	}
}
