// Package kanikolog reads the log of a Kaniko executor (v1.24.0): the CLI follows a build's
// progress with it and shows it as build output (Output: the steps and what they print, and the
// last lines of a failing step), and the controller finds in it the cause of a failure and the
// lines it keeps in the build's status. It is the one place that knows how Kaniko formats its log.
//
// Kaniko logs through logrus. Its default --log-format is "color", a text format with ANSI colour
// codes even when the output is not a terminal, so a pod log line looks like
//
//	\x1b[36mINFO\x1b[0m[0001] RUN echo hi                                  (padded to 44 columns)
//
// The "text" (logfmt: time="…" level=info msg="…") and "json" formats are understood as well, so
// the CLI keeps working if the pod is ever started with another --log-format. Lines that are not
// log records are the output of RUN commands or Kaniko's final error, printed bare on stderr.
package kanikolog

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Kind is what a log line tells about the build.
type Kind int

const (
	// Step means Kaniko started a Dockerfile instruction. Text is the instruction as written in the
	// Dockerfile (continuation lines joined; a heredoc shows only its first line), e.g.
	// "RUN npm ci" or "COPY --from=builder /out /app". FROM is never a step: Kaniko announces a
	// stage instead.
	Step Kind = iota + 1
	// Stage means Kaniko started building a stage. Index is the stage's position in the Dockerfile
	// (0-based) and Text its base image or base stage, e.g. "golang:1.22".
	Stage
	// Pushing means Kaniko started pushing the image; Text is the destination, e.g.
	// "ghcr.io/org/app:v1". One event per --destination. Pushes of cache layers are not reported
	// as Pushing.
	Pushing
	// Pushed means a destination was pushed; Text is the reference by digest, "repo@sha256:…".
	Pushed
	// CachePush means that, with --cache, Kaniko uploads the layer of a RUN to the cache repository
	// while the build goes on; Text is the cache destination, "repo:<cache key>". The image push
	// that follows it is not reported as Pushing or Pushed.
	CachePush
	// Warning is a WARN or ERRO record that does not end the build (Kaniko logs, for example,
	// unreadable cache entries at error level and carries on). Text is the message.
	Warning
	// Error means the build failed. Text is Kaniko's message, e.g. "error building image: …", and is
	// what a person should see: it names the failing step or registry.
	Error
)

// String names the kind for test failures and debug output.
func (k Kind) String() string {
	switch k {
	case Step:
		return "Step"
	case Stage:
		return "Stage"
	case Pushing:
		return "Pushing"
	case Pushed:
		return "Pushed"
	case CachePush:
		return "CachePush"
	case Warning:
		return "Warning"
	case Error:
		return "Error"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one fact read from a log line.
type Event struct {
	Kind Kind
	Text string
	// Index is the stage index for Stage events and 0 otherwise.
	Index int
}

// stepKeywords are the instructions Kaniko v1.24.0 runs as commands and announces by logging the
// instruction's original text (pkg/executor/build.go: logrus.Info(command.String()), where
// String() is the Dockerfile source of the instruction). FROM starts a stage and is not a command;
// MAINTAINER is dropped with a deprecation warning before the build starts.
var stepKeywords = map[string]bool{
	"ADD": true, "ARG": true, "CMD": true, "COPY": true, "ENTRYPOINT": true, "ENV": true,
	"EXPOSE": true, "HEALTHCHECK": true, "LABEL": true, "ONBUILD": true, "RUN": true,
	"SHELL": true, "STOPSIGNAL": true, "USER": true, "VOLUME": true, "WORKDIR": true,
}

// fatalPrefixes start the bare lines Kaniko prints on stderr just before it exits with an error
// (cmd/executor/cmd/root.go: exitWithCode prints err with fmt.Fprintln, and cobra prints
// "Error: " before errors of flag validation). They are matched exactly, not as "any line
// starting with error", because a failing RUN prints its own output on the same stream and tools
// commonly write "Error: …" lines that are not the build's verdict.
var fatalPrefixes = []string{
	"error building image",
	"error pushing image",
	"error checking push permissions",
	"error resolving relative paths",
	"error changing to root dir",
	"kaniko should only be run inside of a container",
	"Error: error resolving source context",
	"Error: error resolving dockerfile path",
	"Error: cache flags invalid",
	"Error: you must provide --destination",
}

var (
	// ansiCSI matches ANSI control sequences (colours and cursor movement).
	ansiCSI = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	// logrusText matches logrus' TextFormatter in TTY style (what "color" produces once the colour
	// codes are removed): a four-letter level (the whole level name with the formatter's
	// DisableLevelTruncation), a [timestamp] (seconds since start, or a full timestamp with
	// --log-timestamp), then the message padded to 44 columns. The timestamp is required: Kaniko
	// always prints one, and a RUN's own output ("WARN: disk low") must not pass for a record.
	logrusText = regexp.MustCompile(`^(INFO|WARN(?:ING)?|ERRO(?:R)?|FATA(?:L)?|PANI(?:C)?|DEBU(?:G)?|TRAC(?:E)?)\[[^\]]*\]\s*(.*)$`)
	// buildingStage is pkg/executor/build.go's "Building stage '%v' [idx: '%v', base-idx: '%v']".
	buildingStage = regexp.MustCompile(`^Building stage '(.*)' \[idx: '(\d+)', base-idx: '-?\d+'\]$`)
)

// Parser reads the lines of one Kaniko log in order. It keeps count of the cache uploads under
// way, because a cache upload ends with the same "Pushed repo@sha256:…" line as the image's own
// push. The zero value is ready to use; a Parser is not safe for concurrent use (one Parser per
// log stream).
type Parser struct {
	// uploads counts, per cache repository, the uploads announced and not yet reported pushed.
	// Kaniko waits for every upload of a stage before the next stage starts and before the image
	// is pushed, so the counts start again from zero there; an upload that failed (it logs a
	// warning, never "Pushed") is forgotten then too.
	uploads map[string]int
}

// Parse reads one line of a Kaniko pod log. It reports false for lines that say nothing about
// progress (most of them: manifests retrieved, snapshots taken, RUN output …). A trailing newline
// or carriage return is ignored; colour codes are removed.
func (p *Parser) Parse(line string) (Event, bool) {
	ev, ok := parse(line)
	if !ok {
		return ev, false
	}
	switch ev.Kind {
	case CachePush:
		if p.uploads == nil {
			p.uploads = map[string]int{}
		}
		p.uploads[repository(ev.Text)]++
	case Stage, Pushing:
		clear(p.uploads)
	case Pushed:
		if repo := repository(ev.Text); p.uploads[repo] > 0 {
			p.uploads[repo]--
			return Event{}, false
		}
	}
	return ev, true
}

// ParseLine is Parse without memory, for a single line. It recognises the start of a cache
// upload by its tag (Kaniko's cache keys are 64 hex digits, which no release tag is), but cannot
// tell the "Pushed" line of a cache upload from the image's own: use a Parser to read a whole log.
func ParseLine(line string) (Event, bool) {
	return parse(line)
}

func parse(line string) (Event, bool) {
	line = clean(line)
	if level, msg, ok := record(line); ok {
		return fromRecord(level, msg)
	}
	for _, p := range fatalPrefixes {
		if strings.HasPrefix(line, p) {
			return Event{Kind: Error, Text: strings.TrimSpace(line)}, true
		}
	}
	return Event{}, false
}

// clean removes colour codes and surrounding blanks (the line ending, logrus' padding).
func clean(line string) string {
	if strings.IndexByte(line, 0x1b) >= 0 {
		line = ansiCSI.ReplaceAllString(line, "")
	}
	return strings.TrimSpace(line)
}

// Record splits one line of a Kaniko log into its logrus level, spelt as logrus names levels
// ("info", "warning", "error", "fatal", "panic", "debug", "trace"), and its message. It reads all
// of Kaniko's --log-format values ("color", "text", "json"). ok is false for lines that are not
// log records: the output of RUN steps, and the bare error line Kaniko prints before it exits.
// Colour codes, the line ending and logrus' padding are removed.
func Record(line string) (level, msg string, ok bool) {
	return record(clean(line))
}

// IsStep reports whether line is Kaniko announcing a Dockerfile instruction, and returns the
// instruction as the Dockerfile spells it ("RUN make"). Kaniko announces each instruction as it
// starts it, so the last one announced before a failure is the one that failed.
func IsStep(line string) (string, bool) {
	ev, ok := parse(line)
	if !ok || ev.Kind != Step {
		return "", false
	}
	return ev.Text, true
}

// repository strips the tag or digest from an image reference. A colon before the last slash
// belongs to the registry's port.
func repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// isCacheKey reports whether tag is one of Kaniko's layer cache keys: a SHA-256 in hex.
func isCacheKey(tag string) bool {
	if len(tag) != 64 {
		return false
	}
	for _, c := range tag {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// record splits a logrus record into its level (lower case, as logrus spells it: "info",
// "warning", "error", "fatal", …) and message.
func record(line string) (level, msg string, ok bool) {
	if m := logrusText.FindStringSubmatch(line); m != nil {
		// Fields, if any, follow the padded message after at least one space; Kaniko's records
		// carry none, so only the padding is removed.
		return textLevels[m[1][:4]], strings.TrimRight(m[2], " "), true
	}
	switch {
	case strings.HasPrefix(line, "{"):
		var r struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &r) != nil || r.Level == "" {
			return "", "", false
		}
		return strings.ToLower(r.Level), r.Msg, true
	case strings.HasPrefix(line, "time=") || strings.HasPrefix(line, "level="):
		return logfmt(line)
	}
	return "", "", false
}

var textLevels = map[string]string{
	"INFO": "info", "WARN": "warning", "ERRO": "error", "FATA": "fatal",
	"PANI": "panic", "DEBU": "debug", "TRAC": "trace",
}

// logfmt reads the level and msg keys of logrus' non-TTY text format, where values that need it
// are Go-quoted (strconv.Quote).
func logfmt(line string) (level, msg string, ok bool) {
	var haveLevel bool
	for rest := line; rest != ""; {
		rest = strings.TrimLeft(rest, " ")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			break
		}
		key := rest[:eq]
		rest = rest[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return "", "", false
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		switch key {
		case "level":
			level, haveLevel = strings.ToLower(val), true
		case "msg":
			msg = val
		}
	}
	return level, msg, haveLevel
}

func fromRecord(level, msg string) (Event, bool) {
	msg = strings.TrimSpace(msg)
	switch level {
	case "fatal", "panic":
		if msg == "" {
			msg = "Kaniko stopped with a " + level + " error and no message"
		}
		return Event{Kind: Error, Text: msg}, true
	case "warning", "error":
		if msg == "" {
			return Event{}, false
		}
		return Event{Kind: Warning, Text: msg}, true
	case "info":
	default:
		return Event{}, false
	}
	if m := buildingStage.FindStringSubmatch(msg); m != nil {
		idx, err := strconv.Atoi(m[2])
		if err != nil {
			return Event{}, false
		}
		return Event{Kind: Stage, Text: m[1], Index: idx}, true
	}
	if dest, ok := strings.CutPrefix(msg, "Pushing layer "); ok {
		if dest, ok = strings.CutSuffix(dest, " to cache now"); ok && dest != "" {
			return Event{Kind: CachePush, Text: dest}, true
		}
	}
	if dest, ok := strings.CutPrefix(msg, "Pushing image to "); ok && dest != "" {
		// The second line of a cache upload, after "Pushing layer … to cache now".
		if repo := repository(dest); len(dest) > len(repo) && isCacheKey(dest[len(repo)+1:]) {
			return Event{}, false
		}
		return Event{Kind: Pushing, Text: dest}, true
	}
	if ref, ok := strings.CutPrefix(msg, "Pushed "); ok && strings.Contains(ref, "@sha256:") {
		return Event{Kind: Pushed, Text: ref}, true
	}
	if isInstruction(msg) {
		return Event{Kind: Step, Text: msg}, true
	}
	return Event{}, false
}

// isInstruction reports whether msg is a Dockerfile instruction: a known keyword in any case
// (Kaniko logs the source text, so "run make" stays lower case) followed by blanks and arguments.
// The blank is what tells "RUN make" from Kaniko's own "Cmd: /bin/sh" and "Args: [-c …]".
func isInstruction(msg string) bool {
	i := strings.IndexAny(msg, " \t")
	if i <= 0 || strings.TrimSpace(msg[i:]) == "" {
		return false
	}
	return stepKeywords[strings.ToUpper(msg[:i])]
}
