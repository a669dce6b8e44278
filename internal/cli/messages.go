package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/fleetflow/flow-build/internal/usererr"
)

// txt is a message in both languages, formatted with the same arguments.
func txt(en, ja string, args ...any) usererr.Text {
	return usererr.T(fmt.Sprintf(en, args...), fmt.Sprintf(ja, args...))
}

// usageError is an error of flow build's command line: exit status 2, with a pointer to --help.
func usageError(reason usererr.Text) error { return usageErrorFor("build", reason) }

// usageErrorFor is an error of the command line of flow's command: exit status 2, with a
// pointer to its --help.
func usageErrorFor(command string, reason usererr.Text) error {
	return usererr.New(usererr.KindUsage, reason).
		WithRemedies(txt("see flow %s --help", "flow %s --help を参照してください", command))
}

// problemsOf splits a joined error into the problems it holds, each shown as a block of its own.
func problemsOf(err error) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // only a join at the top is split
		return problems(joined.Unwrap())
	}
	return err
}

// pflagErrors are the messages of the flag parser (github.com/spf13/pflag) and of cobra, with
// their Japanese wording: the parser only speaks English, and a Japanese block must not.
var pflagErrors = []struct {
	re *regexp.Regexp
	ja string
}{
	{regexp.MustCompile(`^unknown flag: (\S+)$`), "不明なフラグです: $1"},
	{regexp.MustCompile(`^unknown shorthand flag: '(.)' in (\S+)$`), "不明な短縮フラグ '$1' です（$2）"},
	{regexp.MustCompile(`^flag needs an argument: '?(.)'? in (\S+)$`), "フラグ $2 には値が必要です"},
	{regexp.MustCompile(`^flag needs an argument: (\S+)$`), "フラグ $1 には値が必要です"},
	{regexp.MustCompile(`^invalid argument "(.*)" for "(.+)" flag: .*$`), "フラグ $2 の値 \"$1\" が不正です"},
	{regexp.MustCompile(`^bad flag syntax: (.*)$`), "フラグの書き方が不正です: $1"},
	{regexp.MustCompile(`^unknown command "(.*)" for "(.*)"$`), "不明なコマンド \"$1\" です（$2）"},
	{regexp.MustCompile(`^if any flags in the group \[(.*)\] are set none of the others can be; .*$`), "フラグ $1 は同時に指定できません"},
}

// commandLineError turns an error of cobra or pflag into a usage error in both languages.
func commandLineError(err error) error {
	msg, rest, _ := strings.Cut(err.Error(), "\n")
	var suggestions []string
	if _, after, ok := strings.Cut(rest, "Did you mean this?"); ok {
		suggestions = strings.Fields(after)
	}
	ja := "コマンドラインが不正です"
	for _, m := range pflagErrors {
		if m.re.MatchString(msg) {
			ja = m.re.ReplaceAllString(msg, m.ja)
			break
		}
	}
	e := usererr.New(usererr.KindUsage, usererr.T(msg, ja)).WithCause(err)
	if ja == "コマンドラインが不正です" {
		// A message with no Japanese wording: show it as the cause, verbatim, as for a registry's.
		e.Headline = usererr.T("the command line is invalid", ja)
		e.Detail = usererr.OneLine(msg)
	}
	if len(suggestions) > 0 {
		e = e.WithLines(txt("did you mean: %s", "もしかして: %s", strings.Join(suggestions, ", ")))
	}
	return e.WithRemedies(txt("see flow --help", "flow --help を参照してください"))
}

// validateSpecs applies the API server's rules for ImageBuilds (buildv1.ImageBuildSpec.Validate)
// to every target, so that nothing is pushed, created or rendered that the server would refuse.
func validateSpecs(targets []*target, p manifestParams) error {
	var errs []error
	for _, t := range targets {
		probe := *t
		if probe.git == nil && probe.bundleRef == "" {
			probe.bundleRef = probe.bundleRepo + "@sha256:" + zeroDigest
		}
		if probe.dockerfile == "" {
			probe.dockerfile = "Dockerfile"
		}
		ib := imageBuild(&probe, p)
		for _, fe := range ib.Spec.Validate() {
			errs = append(errs, usererr.New(usererr.KindConfig, txt(
				"the ImageBuild of service %s would be refused by the API server", "サービス %s の ImageBuild は API サーバーに拒否されます", t.build.Service)).
				WithReason(usererr.Same(fe.Error())))
		}
	}
	if len(errs) > 0 {
		return problems(errs)
	}
	return nil
}

// zeroDigest stands in for a bundle digest not known yet when a spec is checked.
const zeroDigest = "0000000000000000000000000000000000000000000000000000000000000000"
