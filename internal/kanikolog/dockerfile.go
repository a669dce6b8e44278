package kanikolog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// CountSteps returns how many Step events Kaniko will log when it builds target (the last stage
// when target is empty) from dockerfile, so that progress can be shown as a percentage.
//
// Without --skip-unused-stages, which the build pods do not pass, Kaniko builds every stage from
// the first one up to and including the target, whether the target uses it or not
// (pkg/dockerfile/dockerfile.go, MakeKanikoStages), and logs each instruction of those stages
// except FROM and MAINTAINER. CountSteps counts exactly those. Use CountStepsSkipUnused for pods
// started with --skip-unused-stages.
//
// The count is a lower bound in one case: ONBUILD triggers of a base image run as extra steps,
// and they are only known once Kaniko has pulled the image.
//
// The Dockerfile is read the way BuildKit's parser (which Kaniko uses) reads it: parser
// directives (# escape=`), comments, line continuations, heredocs (<<EOF … EOF) and instructions
// in any case. An error names the line and what is wrong; Kaniko would refuse the same file.
func CountSteps(dockerfile []byte, target string) (int, error) {
	stages, idx, err := stagesFor(dockerfile, target)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range stages[:idx+1] {
		n += s.steps
	}
	return n, nil
}

// CountStepsSkipUnused is CountSteps for an executor started with --skip-unused-stages: only the
// target and the stages it depends on (its FROM <stage> and COPY --from=<stage>, transitively)
// are built.
//
// It follows Kaniko v1.24.0's own selection (skipUnusedStages in pkg/dockerfile/dockerfile.go)
// rather than the ideal one, so the count matches what Kaniko really logs: stage names are
// compared as Kaniko compares them (a stage's own name lower-cased, COPY --from as written), and
// a dependency on an unnamed stage (COPY --from=0) does not keep that stage.
func CountStepsSkipUnused(dockerfile []byte, target string) (int, error) {
	stages, idx, err := stagesFor(dockerfile, target)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, i := range usedStages(stages, idx, target) {
		n += stages[i].steps
	}
	return n, nil
}

// usedStages mirrors Kaniko's skipUnusedStages and returns the indices of the stages it keeps.
func usedStages(stages []stage, idx int, target string) []int {
	deps := map[string]bool{}
	lastBase := stages[idx].base
	for i := idx; i >= 0; i-- {
		s := stages[i]
		if (s.name != "" && deps[s.name]) || s.name == lastBase || i == idx {
			for _, from := range s.copyFrom {
				if n, ok := stageIndex(from); ok && n < len(stages) {
					from = stages[n].name
				}
				deps[from] = true
			}
			if i != idx {
				deps[s.base] = true
			}
		}
	}
	var used []int
	switch {
	case target == "" && len(deps) == 0:
		for i := range stages {
			used = append(used, i)
		}
		return used
	case len(deps) > 0:
		for i := 0; i < idx; i++ {
			if s := stages[i]; s.name != "" && (deps[s.name] || s.name == lastBase) {
				used = append(used, i)
			}
		}
	}
	return append(used, idx)
}

// stageIndex reads a numeric stage reference such as the 0 of COPY --from=0.
func stageIndex(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// stage is what counting needs to know of one FROM block.
type stage struct {
	name     string // lower-cased AS name, "" when unnamed
	base     string // the FROM argument as written
	steps    int
	copyFrom []string // COPY --from values as written, one per COPY (empty without --from)
	line     int
}

// stagesFor parses dockerfile and finds the index of the target stage.
func stagesFor(dockerfile []byte, target string) ([]stage, int, error) {
	stages, err := parseStages(dockerfile)
	if err != nil {
		return nil, 0, err
	}
	if target == "" {
		return stages, len(stages) - 1, nil
	}
	var names []string
	for i, s := range stages {
		if strings.EqualFold(s.name, target) {
			return stages, i, nil
		}
		if s.name != "" {
			names = append(names, s.name)
		}
	}
	if len(names) == 0 {
		return nil, 0, fmt.Errorf("target stage %q is not in the Dockerfile, which names no stages: add \"AS %s\" to a FROM line or remove the target", target, target)
	}
	return nil, 0, fmt.Errorf("target stage %q is not in the Dockerfile: use one of %s, or name a stage with \"FROM <image> AS %s\"", target, strings.Join(names, ", "), target)
}

// knownInstructions are BuildKit's instructions; anything else is an error in BuildKit (and so in
// Kaniko): "unknown instruction".
var knownInstructions = map[string]bool{
	"ADD": true, "ARG": true, "CMD": true, "COPY": true, "ENTRYPOINT": true, "ENV": true,
	"EXPOSE": true, "FROM": true, "HEALTHCHECK": true, "LABEL": true, "MAINTAINER": true,
	"ONBUILD": true, "RUN": true, "SHELL": true, "STOPSIGNAL": true, "USER": true,
	"VOLUME": true, "WORKDIR": true,
}

// validStageName is BuildKit's rule for the name after AS (instructions/parse.go).
var validStageName = regexp.MustCompile(`^[a-z][a-z0-9-_.]*$`)

// parseStages splits a Dockerfile into stages and counts each stage's steps.
func parseStages(dockerfile []byte) ([]stage, error) {
	insts, err := instructions(dockerfile)
	if err != nil {
		return nil, err
	}
	var stages []stage
	for _, in := range insts {
		if in.keyword == "FROM" {
			s, err := fromStage(in)
			if err != nil {
				return nil, err
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			// ARGs before the first FROM are global build arguments, not steps.
			if in.keyword == "ARG" {
				continue
			}
			return nil, fmt.Errorf("line %d of the Dockerfile: %s comes before the first FROM; only ARG may precede FROM, so start the Dockerfile with a FROM line", in.line, in.keyword)
		}
		cur := &stages[len(stages)-1]
		switch in.keyword {
		case "MAINTAINER":
			// Kaniko drops it with a "deprecated, skipping" warning.
		case "COPY":
			cur.steps++
			cur.copyFrom = append(cur.copyFrom, copyFrom(in.args))
		default:
			cur.steps++
		}
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("the Dockerfile has no FROM instruction: a build needs at least one FROM line that names the base image")
	}
	return stages, nil
}

func fromStage(in instruction) (stage, error) {
	var args []string
	for _, w := range in.args {
		if strings.HasPrefix(w, "--") && len(args) == 0 {
			continue // --platform=…
		}
		args = append(args, w)
	}
	switch {
	case len(args) == 1:
		return stage{base: args[0], line: in.line}, nil
	case len(args) == 3 && strings.EqualFold(args[1], "AS"):
		name := strings.ToLower(args[2])
		if !validStageName.MatchString(name) {
			return stage{}, fmt.Errorf("line %d of the Dockerfile: %q is not a valid stage name: it must start with a letter and contain only letters, digits, '-', '_' and '.'", in.line, args[2])
		}
		return stage{base: args[0], name: name, line: in.line}, nil
	}
	return stage{}, fmt.Errorf("line %d of the Dockerfile: FROM needs an image and optionally \"AS <name>\" (FROM <image> [AS <name>]), got %q", in.line, strings.Join(in.args, " "))
}

// copyFrom returns the value of COPY's --from= flag, or "". BuildKit only accepts the --flag=value
// form, and flags come before the sources.
func copyFrom(words []string) string {
	for _, w := range words {
		if !strings.HasPrefix(w, "--") {
			break
		}
		if v, ok := strings.CutPrefix(w, "--from="); ok {
			return v
		}
	}
	return ""
}

// instruction is one logical Dockerfile instruction.
type instruction struct {
	keyword string   // upper case
	args    []string // words after the keyword, quotes kept
	line    int      // 1-based line where it starts
}

var directiveLine = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)

// instructions reads the logical instructions of a Dockerfile, following BuildKit's parser
// (frontend/dockerfile/parser/parser.go, v0.22): directives only at the very top, comment lines
// dropped even inside a continuation, empty continuation lines skipped, and heredoc bodies of
// RUN, COPY and ADD consumed so that their lines are not taken for instructions.
func instructions(dockerfile []byte) ([]instruction, error) {
	dockerfile = bytes.TrimPrefix(dockerfile, []byte("\xef\xbb\xbf"))
	lines := strings.Split(string(dockerfile), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	escape := byte('\\')
	seen := map[string]bool{}
	i := 0
	// Parser directives: "# syntax=", "# escape=" and "# check=" lines at the very top. The first
	// line that is not one (an empty line, an instruction, any other comment) ends them.
	for ; i < len(lines); i++ {
		m := directiveLine.FindStringSubmatch(strings.TrimLeft(lines[i], " \t"))
		if m == nil {
			break
		}
		key := strings.ToLower(m[1])
		if key != "syntax" && key != "escape" && key != "check" {
			break // an ordinary comment, which ends the directives
		}
		if seen[key] {
			return nil, fmt.Errorf("line %d of the Dockerfile: the parser directive %q appears twice; keep only one", i+1, key)
		}
		seen[key] = true
		if key == "escape" {
			if m[2] != "\\" && m[2] != "`" {
				return nil, fmt.Errorf("line %d of the Dockerfile: escape directive %q is invalid; use \\ or `", i+1, m[2])
			}
			escape = m[2][0]
		}
	}

	var out []instruction
	for i < len(lines) {
		start := i
		first := strings.TrimLeft(lines[i], " \t\v\f")
		i++
		if first == "" || first[0] == '#' {
			continue
		}
		text, cont := trimContinuation(first, escape)
		var b strings.Builder
		b.WriteString(text)
		for cont && i < len(lines) {
			l := lines[i]
			i++
			trimmed := strings.TrimLeft(l, " \t\v\f")
			if trimmed == "" || trimmed[0] == '#' {
				continue
			}
			text, cont = trimContinuation(l, escape)
			b.WriteString(text)
		}
		logical := b.String()
		words := splitWords(logical, escape)
		if len(words) == 0 {
			continue // a lone continuation character
		}
		kw := strings.ToUpper(words[0])
		if !knownInstructions[kw] {
			return nil, fmt.Errorf("line %d of the Dockerfile: unknown instruction %q; use a Dockerfile instruction such as RUN, COPY or FROM", start+1, words[0])
		}
		args := words[1:]
		if kw != "FROM" && len(args) == 0 {
			return nil, fmt.Errorf("line %d of the Dockerfile: %s has no arguments; complete the instruction or remove the line", start+1, kw)
		}
		in := instruction{keyword: kw, args: args, line: start + 1}
		var err error
		if i, err = skipHeredocs(lines, i, kw, args, start+1); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// trimContinuation removes a trailing escape character (and the blanks after it) and reports
// whether the instruction continues on the next line. It copies BuildKit's rule exactly, quirk
// included: the escape character continues the line when it stands alone or follows a character
// other than itself, so "foo \\" ends the instruction.
func trimContinuation(line string, escape byte) (string, bool) {
	t := strings.TrimRight(line, " \t")
	n := len(t)
	if n == 0 || t[n-1] != escape || (n > 1 && t[n-2] == escape) {
		return line, false
	}
	return t[:n-1], true
}

// heredocWord is BuildKit's heredoc marker: optional file descriptor, <<, optional - (strip tabs),
// then the delimiter word.
var heredocWord = regexp.MustCompile(`^(\d*)<<(-?)\s*([^<]*)$`)

// skipHeredocs consumes the bodies of the heredocs that start on an instruction line and returns
// the index of the line after the last terminator.
func skipHeredocs(lines []string, i int, kw string, args []string, line int) (int, error) {
	if kw == "ONBUILD" && len(args) > 0 {
		kw, args = strings.ToUpper(args[0]), args[1:]
	}
	if kw != "RUN" && kw != "COPY" && kw != "ADD" {
		return i, nil
	}
	if isJSONForm(args) {
		return i, nil
	}
	for _, w := range args {
		m := heredocWord.FindStringSubmatch(w)
		if m == nil {
			continue
		}
		name := unquote(m[3])
		if name == "" {
			continue
		}
		chomp := m[2] == "-"
		terminated := false
		for i < len(lines) {
			l := lines[i]
			i++
			if chomp {
				l = strings.TrimLeft(l, "\t")
			}
			if l == name {
				terminated = true
				break
			}
		}
		if !terminated {
			return i, fmt.Errorf("line %d of the Dockerfile: heredoc <<%s is never closed; add a line that holds only %s after its content", line, name, name)
		}
	}
	return i, nil
}

// isJSONForm reports whether the arguments (after --flags) are an exec-form JSON array, which
// BuildKit never scans for heredocs.
func isJSONForm(args []string) bool {
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		args = args[1:]
	}
	if len(args) == 0 || !strings.HasPrefix(args[0], "[") {
		return false
	}
	var v []string
	return json.Unmarshal([]byte(strings.Join(args, " ")), &v) == nil
}

// unquote removes the quotes of a heredoc delimiter: <<"EOF" and <<'EOF' end at EOF.
func unquote(s string) string {
	var b strings.Builder
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == 0 && (c == '"' || c == '\''):
			q = c
		case q != 0 && c == q:
			q = 0
		case q == 0 && c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitWords splits an instruction line at blanks outside quotes, keeping quotes and escapes in
// the words, the way BuildKit's heredoc detection sees them.
func splitWords(s string, escape byte) []string {
	var words []string
	var b strings.Builder
	inWord := false
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else if c == escape && q == '"' && i+1 < len(s) {
				b.WriteByte(c)
				i++
				c = s[i]
			}
		case c == escape && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
			continue
		case c == '"' || c == '\'':
			q = c
		}
		b.WriteByte(c)
		inWord = true
	}
	if inWord {
		words = append(words, b.String())
	}
	return words
}
