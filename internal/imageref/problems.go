package imageref

import (
	"fmt"
	"strings"

	"github.com/fleetflow/flow-build/internal/usererr"
)

// The texts below say what is wrong with a name in both languages; usererr
// picks the language when the error is shown. User input is always quoted
// with %q so that invisible characters become visible.

var problemEmpty = usererr.Text{En: "the image name is empty", Ja: "イメージ名が空です"}

func problemHostOnly(image string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("%q is only a registry host; the repository name is missing", image),
		Ja: fmt.Sprintf("%q はレジストリホストだけで、リポジトリ名がありません", image),
	}
}

func remedyHostOnly(image string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf(`add the repository after the host, e.g. image "%s/myapp"`, image),
		Ja: fmt.Sprintf(`ホストの後にリポジトリ名を付けてください（例: image "%s/myapp"）`, image),
	}
}

func problemBadHost(host string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("registry host %q is not a valid host name or address", host),
		Ja: fmt.Sprintf("レジストリホスト %q はホスト名またはアドレスとして不正です", host),
	}
}

func problemUnbracketedIPv6(host string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("registry host %q looks like an IPv6 address; write it in brackets, e.g. [::1]:5000", host),
		Ja: fmt.Sprintf("レジストリホスト %q は IPv6 アドレスのようです。[::1]:5000 のように角括弧で囲んでください", host),
	}
}

func problemBadPort(host, port string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("registry host %q has port %s; ports go from 1 to 65535", host, port),
		Ja: fmt.Sprintf("レジストリホスト %q のポート %s は範囲外です（1〜65535）", host, port),
	}
}

func problemEmptyComponent(path string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("the repository path %q has an empty component (a leading, trailing or doubled \"/\")", path),
		Ja: fmt.Sprintf("リポジトリのパス %q に空の要素があります（先頭・末尾・連続した \"/\"）", path),
	}
}

func problemUppercase(path string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("the repository path %q contains uppercase letters; only lowercase is allowed", path),
		Ja: fmt.Sprintf("リポジトリのパス %q に大文字が含まれています（小文字のみ使用できます）", path),
	}
}

// remedyLowercase offers the lowercased name, which is what people almost
// always meant; it falls back to the general grammar when lowering is not
// enough to make the name valid.
func remedyLowercase(ref Reference) usererr.Text {
	// Host names are case-insensitive and keep their spelling.
	lower := strings.ToLower(ref.Path)
	if host, ok := strings.CutSuffix(ref.Repository, ref.Path); ok {
		lower = host + lower
	}
	if ref.Tag != "" {
		lower += ":" + ref.Tag
	}
	if _, err := Parse(lower); err != nil {
		return remedyPathGrammar
	}
	return usererr.Text{
		En: fmt.Sprintf(`write the repository in lowercase, e.g. image %q`, lower),
		Ja: fmt.Sprintf(`リポジトリ名を小文字にしてください（例: image %q）`, lower),
	}
}

func problemBadChars(path string, chars []string) usererr.Text {
	list := strings.Join(chars, ", ")
	verb := "is"
	if len(chars) > 1 {
		verb = "are"
	}
	return usererr.Text{
		En: fmt.Sprintf("the repository path %q contains %s, which %s not allowed", path, list, verb),
		Ja: fmt.Sprintf("リポジトリのパス %q の %s は使用できません", path, list),
	}
}

func problemBadComponent(c string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf(`path component %q is invalid: it must start and end with a lowercase letter or digit, with ".", "_", "__" or "-" only between them`, c),
		Ja: fmt.Sprintf(`パスの要素 %q が不正です（英小文字か数字で始まり、英小文字か数字で終わり、"."、"_"、"__"、"-" はその間にだけ使えます）`, c),
	}
}

var remedyPathGrammar = usererr.Text{
	En: `write the repository with lowercase letters and digits, "/" between path components and ".", "_", "__" or "-" inside them, e.g. image "ghcr.io/org/my-app:v1"`,
	Ja: `リポジトリ名は英小文字と数字で書き、パスの区切りに "/"、要素の中の区切りに "."、"_"、"__"、"-" を使ってください（例: image "ghcr.io/org/my-app:v1"）`,
}

func problemTooLong(n int) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("the repository name is %d characters long; at most %d are allowed", n, MaxNameLength),
		Ja: fmt.Sprintf("リポジトリ名が長すぎます（%d文字、最大%d文字）", n, MaxNameLength),
	}
}

func problemBadDigest(d string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("%q after \"@\" is not a digest (expected sha256: and 64 hex digits)", d),
		Ja: fmt.Sprintf("\"@\" の後の %q はダイジェストとして不正です（sha256: と16進64桁の形式です）", d),
	}
}

// shortDigest keeps messages readable: the algorithm and enough hex to
// recognise the digest.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13] + "…"
	}
	return d
}

func problemDigestForPush(d string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("the image names a digest (@%s); a push writes a tag and cannot write to a digest", shortDigest(d)),
		Ja: fmt.Sprintf("イメージにダイジェスト（@%s）が指定されています。プッシュはタグに書き込むため、ダイジェストは指定できません", shortDigest(d)),
	}
}

func remedyDigestForPush(repo, d string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf(`remove "@%s" from the image field and give a tag instead, e.g. image "%s:v1" or --tag v1`, shortDigest(d), repo),
		Ja: fmt.Sprintf(`image フィールドから "@%s" を削除し、代わりにタグを指定してください（例: image "%s:v1" または --tag v1）`, shortDigest(d), repo),
	}
}

func problemTagInRepository(tag string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("a repository name must not include a tag (%q); tags are given separately", ":"+tag),
		Ja: fmt.Sprintf("リポジトリ名にタグ（%q）は含められません。タグは別に指定します", ":"+tag),
	}
}

func problemDigestInRepository(d string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("a repository name must not include a digest (@%s)", shortDigest(d)),
		Ja: fmt.Sprintf("リポジトリ名にダイジェスト（@%s）は含められません", shortDigest(d)),
	}
}

func remedyNoTagInRepository(repo string) usererr.Text {
	return usererr.Text{
		En: fmt.Sprintf("write the repository alone, %q, and give the tag separately", repo),
		Ja: fmt.Sprintf("リポジトリ名だけを書き（%q）、タグは別に指定してください", repo),
	}
}
