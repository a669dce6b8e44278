package kanikolog

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// DefaultTailLines is how many lines of a failed build's output are shown by default: enough
// for a compiler's or a package manager's last complaint, few enough to read under a ✗ line.
const DefaultTailLines = 20

// MaxLineBytes bounds one line of a log as Lines reads it. Minified files and progress bars
// print lines of megabytes; the rest of such a line is dropped, not the rest of the log.
const MaxLineBytes = 16 << 10

// Line is one line of a Kaniko log read as build output.
type Line struct {
	// Text is the line as people read it. For a log record, its message, led by "WARNING: " or
	// "ERROR: " for warnings and errors and by "FROM " for the start of a stage; every other
	// line (what RUN commands print, Kaniko's final error) as it is. Colour codes and trailing
	// blanks are removed, and of a line redrawn with carriage returns (a download's progress
	// bar) only its last state is kept.
	Text string
	// Shown is true for build output: the stages and steps, what the steps print, cache hits,
	// pushes, warnings and errors. It is false for Kaniko's informational records (manifests
	// retrieved, snapshots taken, commands resolved …), which say nothing the steps do not.
	Shown bool
	// Event is what the line tells about the build's progress, when HasEvent is true.
	Event    Event
	HasEvent bool
}

// Output reads one Kaniko log, line by line as it is written, as build output: each line
// rendered for people (Line), and the end of the output of the step that ran last kept, for
// showing a failure (Tail). The zero value keeps no tail; use NewOutput. An Output is not safe
// for concurrent use.
type Output struct {
	parser Parser
	max    int
	// tail holds the shown lines since the last step, stage or push began, the last max of them.
	tail []string
	// usage is set once cobra's usage text follows an error: the flag listing is no output.
	usage bool
	// lastFatal is set while the previous line was Kaniko's fatal error line.
	lastFatal bool
}

// NewOutput returns an Output that keeps the last tailLines lines of the failing step's output.
func NewOutput(tailLines int) *Output {
	return &Output{max: max(tailLines, 0)}
}

// Read reads the next line of the log. A trailing newline is ignored.
func (o *Output) Read(raw string) Line {
	ev, hasEvent := o.parser.Parse(raw)
	l := Line{Event: ev, HasEvent: hasEvent, Shown: true}
	if level, msg, ok := Record(raw); ok {
		l.Text, l.Shown = recordText(level, msg, ev, hasEvent)
	} else {
		l.Text = bareText(raw)
	}
	o.keep(l)
	return l
}

// keep adds a line to the tail: a step, a stage or a push starts the tail anew, since Kaniko
// announces each before doing it, and a failure belongs to the last one announced.
func (o *Output) keep(l Line) {
	fatal := l.HasEvent && l.Event.Kind == Error
	defer func() { o.lastFatal = fatal }()
	if o.max == 0 || o.usage {
		return
	}
	if o.lastFatal && l.Text == "Usage:" {
		o.usage = true
		return
	}
	if l.HasEvent {
		switch l.Event.Kind {
		case Step, Stage, Pushing:
			o.tail = o.tail[:0]
		}
	}
	if !l.Shown || strings.TrimSpace(l.Text) == "" {
		return
	}
	if len(o.tail) == o.max {
		copy(o.tail, o.tail[1:])
		o.tail = o.tail[:o.max-1]
	}
	o.tail = append(o.tail, l.Text)
}

// Tail returns the last lines of the output of the step that ran last (the one that failed, if
// the build failed), oldest first, starting with the step itself when it fits: at most the
// number of lines NewOutput was given. Blank lines are left out.
func (o *Output) Tail() []string {
	return append([]string(nil), o.tail...)
}

// Tail returns the last n lines of the output of the step that ran last in log, a whole Kaniko
// log or its end; see Output.Tail.
func Tail(log string, n int) []string {
	o := NewOutput(n)
	for line := range strings.Lines(log) {
		o.Read(line)
	}
	return o.Tail()
}

// Lines calls fn with every line of r, without its line ending, until r ends. A line longer
// than MaxLineBytes is cut there and the rest of it skipped, so that one huge line neither
// stops the reading nor fills memory. The error is r's, never io.EOF.
func Lines(r io.Reader, fn func(line string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(b)+len(chunk) <= MaxLineBytes {
			b = append(b, chunk...)
		} else if len(b) < MaxLineBytes {
			b = append(b, chunk[:MaxLineBytes-len(b)]...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil || len(b) > 0:
			fn(strings.TrimRight(string(b), "\r\n"))
			b = b[:0]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// recordText renders a log record, and says whether it is build output.
func recordText(level, msg string, ev Event, hasEvent bool) (string, bool) {
	msg = strings.TrimSpace(msg)
	switch level {
	case "warning":
		return "WARNING: " + msg, true
	case "error", "fatal", "panic":
		return "ERROR: " + msg, true
	}
	if hasEvent {
		switch ev.Kind {
		case Stage:
			return "FROM " + ev.Text, true
		case Step, Pushing, Pushed:
			return msg, true
		}
	}
	// A cache hit is why a step prints nothing.
	return msg, strings.HasPrefix(msg, "Using caching version of cmd:")
}

// bareText is a line that is not a log record, as a terminal would have shown it: without
// colour codes and trailing blanks, and only the last state of a line redrawn with carriage
// returns. Leading blanks stay: they are the indentation of a program's output.
func bareText(raw string) string {
	line := strings.TrimRight(raw, " \t\r\n")
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	if strings.IndexByte(line, 0x1b) >= 0 {
		line = ansiCSI.ReplaceAllString(line, "")
	}
	return strings.TrimRight(line, " \t")
}
