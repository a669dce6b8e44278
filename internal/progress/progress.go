// Package progress shows the builds of `flow build` in the product's output format, which FleetFlow
// users know and scripts read; keep it exactly so:
//
//	Building api...
//	  → Dockerfile: ./services/api/Dockerfile
//	  → Context: .
//	  → Target: production
//	  [####################################] 100%
//
//	Pushing api...
//	  → ghcr.io/org/myapp:v1.2.0
//	  [####################################] 100%
//
//	✓ api: ghcr.io/org/myapp:v1.2.0 (sha256:…)
//
// A build pushed under several tags lists one "→" line per tag under Pushing, and every name in
// its closing line: "✓ api: ghcr.io/org/myapp:v1.2.0, ghcr.io/org/myapp:latest (sha256:…)".
//
// The caller registers each service with Add and reports what happens to it through the Task;
// Wait prints the closing lines, one per service in the order they were added.
//
// Two renderings exist. Live mode (for terminals) draws one github.com/vbauerster/mpb bar per
// service, redrawn in place. Plain mode (for CI logs and pipes) prints whole lines only — no
// cursor movement and no carriage returns — and bounds its output: a progress line appears only
// when a phase starts, when its percentage crosses 25, 50, 75 or 100, or when it ends. Services
// build in parallel, so in plain mode the lines of several services interleave; each block
// header names its service and, when more than one service is building, every progress line
// starts with the service's name.
//
// A build's own output (Kaniko's steps and what they print) appears in two places. With
// Task.Log, plain mode streams it, one line each, led by "[service]" ("[service linux/arm64]"
// for a platform of a build with several), as `docker compose build` does for several services;
// live mode shows only the bars. With Task.LastLines, the last lines of a failed build's output
// appear under its ✗ line, led the same way, in both modes.
//
// A Printer and its Tasks are safe for concurrent use.
package progress

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/vbauerster/mpb/v8"
	"golang.org/x/term"
)

// Options configure a Printer.
type Options struct {
	// Out receives everything; nil discards.
	Out io.Writer
	// Live selects the redrawn bars; set it only when Out is a terminal (see Detect).
	Live bool
	// Color allows the green ✓ and the red ✗; set it only when Out is a terminal. The NO_COLOR
	// environment variable, when present with any value, overrides it.
	Color bool
	// Width is the width mpb works with in live mode: the bar's width on a terminal, the whole
	// row's on any other writer. 0 leaves mpb's default (the terminal's width, or 80).
	Width int
	// LookupEnv reads the environment (NO_COLOR); nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Detect returns the options for writing to f: live bars and colours when f is a terminal that
// can draw them (TERM is not "dumb"), plain lines otherwise. NO_COLOR is applied by New.
func Detect(f *os.File) Options {
	tty := term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
	return Options{Out: f, Live: tty, Color: tty}
}

// Service is what the output says about a service before anything is built.
type Service struct {
	// Name is the service's name in the FleetFlow file.
	Name string
	// Dockerfile and Context are shown as the user should recognise them, relative to the
	// project root: "./services/api/Dockerfile", ".".
	Dockerfile string
	Context    string
	// Target is the Dockerfile stage built; empty for the last stage (no Target line).
	Target string
	// Destinations are the images pushed, "repo:tag", primary first: one name per tag, all of
	// them the same digest. They are shown under "Pushing", and in the closing line when
	// Succeeded is given no images.
	Destinations []string
	// Platforms are the platforms of a multi-platform build ("linux/amd64"), each built on its
	// own and shown with a bar of its own (Task.Platform); the closing line names them. Empty
	// for a build of one image.
	Platforms []string
}

// phase is where a task is. The order matters: a task only moves forward, so a late report of
// an earlier phase (a Building after Pushing) changes nothing.
type phase int

const (
	phaseAdded phase = iota
	phasePending
	phaseBuilding
	phasePushing
	phaseSucceeded
	phaseFailed
	phaseSkipped
)

func (ph phase) concluded() bool { return ph >= phaseSucceeded }

// barWidth is the number of '#' in a full plain bar: 36.
const barWidth = 36

// Printer renders the progress of several builds. Create it with New.
type Printer struct {
	mu     sync.Mutex
	done   *sync.Cond // signalled when a task concludes
	out    io.Writer
	live   bool
	color  bool
	tasks  []*Task
	open   int  // tasks not yet concluded
	closed bool // Wait has printed the summary

	// plain mode
	printed     bool  // something has been written
	lastSection phase // phaseBuilding or phasePushing: the kind of the last block header

	// live mode
	progress *mpb.Progress
}

// New returns a Printer writing to o.Out.
func New(o Options) *Printer {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	// https://no-color.org: present means no colour. An empty value counts too: whoever set it
	// asked for no colour, and printing none is never harmful.
	_, noColor := lookup("NO_COLOR")
	p := &Printer{out: out, live: o.Live, color: o.Color && !noColor}
	p.done = sync.NewCond(&p.mu)
	if p.live {
		opts := []mpb.ContainerOption{
			mpb.WithOutput(out),
			// Live was asked for; draw even when mpb does not recognise Out as a terminal.
			mpb.WithAutoRefresh(),
		}
		if o.Width > 0 {
			opts = append(opts, mpb.WithWidth(o.Width))
		}
		p.progress = mpb.New(opts...)
	}
	return p
}

// Live reports whether the Printer draws live bars: anything else written to the terminal while
// they are drawn would break them.
func (p *Printer) Live() bool { return p.live }

// Task is one service's build. Its methods report what happens, in any order and from any
// goroutine; a report of a phase the task has already left is ignored, and so is everything
// after Succeeded, Failed or Skipped. Every task must end with one of those three, or Wait
// does not return.
type Task struct {
	p   *Printer
	svc Service // names and paths already made printable

	phase phase
	inert bool // added after Wait: reports go nowhere

	// plain mode
	header      [2]bool // the Building and Pushing headers were printed
	quarter     int     // 0–4: the last quarter printed for the current phase
	lastPending string

	// summary
	images          []string
	digest, message string
	note            string   // after the digest, for an image reused as it was
	lastLines       []string // the end of a failed build's output, shown under its ✗ line

	// platforms of a multi-platform build, in the order of Service.Platforms
	platforms []*PlatformTask

	// live mode
	bar  *mpb.Bar
	view atomic.Pointer[liveView]
}

// Add registers a service and returns its task. It prints nothing yet in plain mode; in live
// mode the service's bar appears, waiting. Adding after Wait returns a task that prints nothing.
func (p *Printer) Add(s Service) *Task {
	s = Service{
		Name:         oneLine(s.Name),
		Dockerfile:   oneLine(s.Dockerfile),
		Context:      oneLine(s.Context),
		Target:       oneLine(s.Target),
		Destinations: oneLines(s.Destinations),
		Platforms:    oneLines(s.Platforms),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := &Task{p: p, svc: s}
	for _, name := range s.Platforms {
		t.platforms = append(t.platforms, &PlatformTask{t: t, name: name})
	}
	if p.closed {
		t.inert = true
		return t
	}
	p.tasks = append(p.tasks, t)
	p.open++
	if p.live {
		p.addBar(t)
		for _, pt := range t.platforms {
			p.addPlatformBar(pt)
		}
	}
	return t
}

// Pending reports that the build waits in the cluster, e.g. for a build slot or its Secret.
func (t *Task) Pending(message string) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || t.phase > phasePending {
		return
	}
	t.phase = phasePending
	message = oneLine(message)
	if p.live {
		t.show(message, -1)
		return
	}
	p.buildHeader(t)
	if message != "" && message != t.lastPending {
		t.lastPending = message
		p.line(t, "waiting: "+message)
	}
}

// Building reports build progress: done is the number of Dockerfile steps finished, total the
// number the build will run (dockerfile.CountSteps), and step the instruction now running (may be
// empty). total 0 means the number of steps is unknown: no percentage is shown until the build
// ends. A build reaches 100% when its last step finishes, or when Pushing or Succeeded is
// reported.
func (t *Task) Building(done, total int, step string) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || t.phase > phaseBuilding {
		return
	}
	if t.phase < phaseBuilding {
		t.phase, t.quarter = phaseBuilding, 0
	}
	step = shorten(oneLine(step), 72)
	pct := percent(done, total)
	if p.live {
		p.liveHeader(t, phaseBuilding)
		t.show(step, pct)
		return
	}
	p.buildHeader(t)
	p.advance(t, pct, step)
}

// Pushing reports that the image is being pushed: done of total (for example destinations
// pushed of destinations; total 0 when unknown). It ends the build phase: the build's bar is
// completed first.
func (t *Task) Pushing(done, total int) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || t.phase > phasePushing {
		return
	}
	pct := percent(done, total)
	// Pushing means every platform is built.
	for _, pt := range t.platforms {
		pt.built()
	}
	if p.live {
		p.liveHeader(t, phaseBuilding)
		p.liveHeader(t, phasePushing)
		t.phase = phasePushing
		t.show("", pct)
		return
	}
	if t.phase < phasePushing {
		// Pushing means the build is over, even if its progress was never reported.
		p.buildHeader(t)
		p.finish(t)
		t.phase, t.quarter = phasePushing, 0
		p.header(t, phasePushing)
	}
	p.advance(t, pct, "")
}

// Succeeded reports the finished image: its names as "repo:tag", one per tag (none: the
// service's Destinations), and its digest "sha256:…" (may be empty, e.g. for a build that was
// not pushed). The running phase's bar is completed.
func (t *Task) Succeeded(images []string, digest string) { t.succeed(images, digest, "") }

// UpToDate reports an image that needed no build: one built earlier from the same inputs, which
// the tags now point at. The closing line is Succeeded's, followed by note ("(up to date)", in
// the user's language); no bar is completed, since nothing ran.
func (t *Task) UpToDate(images []string, digest, note string) { t.succeed(images, digest, note) }

func (t *Task) succeed(images []string, digest, note string) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || t.phase.concluded() {
		return
	}
	t.images, t.digest, t.note = oneLines(images), oneLine(digest), oneLine(note)
	if len(t.images) == 0 {
		t.images = t.svc.Destinations
	}
	for _, pt := range t.platforms {
		pt.built()
	}
	if !p.live && note == "" {
		p.finish(t)
	}
	p.conclude(t, phaseSucceeded)
}

// Failed reports that the build failed. message may span several lines: a headline first, then
// the target, the cause and how to fix it, as usererr renders them; the closing line shows the
// headline after "✗ <service>:" and indents the rest.
func (t *Task) Failed(message string) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || t.phase.concluded() {
		return
	}
	t.message = message
	if !p.live && (t.header[0] || t.header[1]) {
		// Say so now, under the service's block: the summary may be many minutes away while
		// other services keep building.
		p.line(t, "failed: "+failureLines(message)[0])
	}
	p.conclude(t, phaseFailed)
}

// Skipped reports that the service is not built, e.g. "no Dockerfile" for a service that runs a
// pulled image. The closing line says "- <service>: skipped (<reason>)".
func (t *Task) Skipped(reason string) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || t.phase.concluded() {
		return
	}
	t.message = oneLine(reason)
	p.conclude(t, phaseSkipped)
}

// Log streams one line of the build's own output (kanikolog.Output's text, redacted): in plain
// mode it is printed at once as "[service] line"; live mode shows bars only and ignores it.
func (t *Task) Log(line string) {
	t.p.log(t, "", line)
}

// LastLines sets the last lines of a failed build's output, shown under its ✗ line as
// "[service] line". Call it before Failed.
func (t *Task) LastLines(lines []string) {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || t.phase.concluded() {
		return
	}
	t.lastLines = slices.Clone(lines)
}

// log prints one line of build output in plain mode.
func (p *Printer) log(t *Task, platform, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.inert || p.live || p.closed {
		return
	}
	if !t.header[0] && !t.header[1] {
		p.buildHeader(t)
	}
	p.write(LogLine(t.svc.Name, platform, line) + "\n")
}

// LogLine is one line of a build's output as flow prints it: led by "[service]", or by
// "[service platform]" for one platform of a build with several, with control characters
// replaced so that the line can neither move the cursor nor split. Leading blanks stay: they
// are the indentation of a program's output.
func LogLine(service, platform, line string) string {
	label := service
	if platform != "" {
		label += " " + platform
	}
	return strings.TrimRightFunc("["+oneLine(label)+"] "+printable(line), unicode.IsSpace)
}

// conclude records a final phase. Called with p.mu held.
func (p *Printer) conclude(t *Task, ph phase) {
	t.phase = ph
	if p.live {
		t.endBar()
		for _, pt := range t.platforms {
			if !pt.phase.concluded() {
				// Stopped where it was: another platform failed, or the build was stopped.
				pt.phase = phaseFailed
				pt.endBar("stopped")
			}
		}
	}
	p.open--
	p.done.Broadcast()
}

// Wait blocks until every task has succeeded, failed or been skipped, lets the live bars draw
// their final state, and prints the closing lines in the order the services were added. Calling
// it again does nothing.
func (p *Printer) Wait() {
	p.mu.Lock()
	for p.open > 0 {
		p.done.Wait()
	}
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()

	// Tasks can no longer change: every one has concluded and new ones are inert.
	if p.progress != nil {
		p.progress.Wait()
	}
	var b strings.Builder
	for _, t := range p.tasks {
		b.WriteString(p.summary(t))
	}
	if b.Len() == 0 {
		return
	}
	// As in write, a failed write (a closed pipe) has nowhere better to be reported than the exit
	// code the caller derives from the builds themselves.
	if p.printed || p.live {
		_, _ = io.WriteString(p.out, "\n")
	}
	_, _ = io.WriteString(p.out, b.String())
}

// summary is a task's closing line (several for a failure).
func (p *Printer) summary(t *Task) string {
	name := t.svc.Name
	switch t.phase {
	case phaseSucceeded:
		s := p.paint("✓", green) + " " + name + ": "
		image := strings.Join(t.images, ", ")
		digest := t.digest
		if digest != "" && len(t.platforms) > 0 {
			digest += " for " + strings.Join(t.svc.Platforms, ", ")
		}
		switch {
		case image != "" && digest != "":
			s += image + " (" + digest + ")"
		case image != "":
			s += image
		case digest != "":
			s += digest
		default:
			s += "built"
		}
		if t.note != "" {
			s += " " + t.note
		}
		return s + "\n"
	case phaseFailed:
		lines := failureLines(t.message)
		var b strings.Builder
		b.WriteString(p.paint("✗", red) + " " + name + ": " + lines[0] + "\n")
		for _, l := range lines[1:] {
			if l != "" {
				b.WriteString("  " + l)
			}
			b.WriteString("\n")
		}
		for _, l := range t.lastLines {
			b.WriteString("  " + LogLine(t.svc.Name, "", l) + "\n")
		}
		for _, pt := range t.platforms {
			for _, l := range pt.lastLines {
				b.WriteString("  " + LogLine(t.svc.Name, pt.logLabel(), l) + "\n")
			}
		}
		return b.String()
	case phaseSkipped:
		if t.message == "" {
			return "- " + name + ": skipped\n"
		}
		return "- " + name + ": skipped (" + t.message + ")\n"
	}
	return ""
}

const (
	green = "32"
	red   = "31"
)

func (p *Printer) paint(s, color string) string {
	if !p.color {
		return s
	}
	return "\x1b[" + color + "m" + s + "\x1b[0m"
}

// failureLines splits a failure message into printable lines without leading or trailing blank
// lines; the result has at least one line.
func failureLines(message string) []string {
	var lines []string
	for l := range strings.SplitSeq(strings.ReplaceAll(message, "\r\n", "\n"), "\n") {
		lines = append(lines, strings.TrimRightFunc(printable(l), unicode.IsSpace))
	}
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return []string{"failed"}
	}
	lines[0] = strings.TrimSpace(lines[0])
	return lines
}

// PlatformTask is one platform of a multi-platform service: it reports that platform's build
// with a bar of its own under the service's Building block ("linux/arm64 [####....] 25% RUN …").
// Its methods follow the Task's rules: a report of a phase already left is ignored.
type PlatformTask struct {
	t    *Task
	name string

	phase       phase // phaseAdded, phasePending, phaseBuilding, then phaseSucceeded or phaseFailed
	pct         int   // the last percentage shown, -1 unknown
	quarter     int
	lastPending string
	lastLines   []string

	bar  *mpb.Bar
	view atomic.Pointer[liveView]
}

// Platform returns the task of one platform of a service added with Platforms. A platform the
// service was not added with gets a task that prints nothing.
func (t *Task) Platform(name string) *PlatformTask {
	for _, pt := range t.platforms {
		if pt.name == name {
			return pt
		}
	}
	return &PlatformTask{t: &Task{p: t.p, inert: true}, name: name}
}

// Pending reports that the platform's build waits, e.g. for a build slot.
func (pt *PlatformTask) Pending(message string) {
	p := pt.t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt.t.inert || pt.t.phase.concluded() || pt.phase > phasePending {
		return
	}
	pt.phase = phasePending
	message = oneLine(message)
	if p.live {
		pt.show("waiting", message, -1)
		return
	}
	p.buildHeader(pt.t)
	if message != "" && message != pt.lastPending {
		pt.lastPending = message
		p.line(pt.t, pt.label()+"waiting: "+message)
	}
}

// Building reports the platform's build progress, as Task.Building does.
func (pt *PlatformTask) Building(done, total int, step string) {
	p := pt.t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	t := pt.t
	if t.inert || t.phase.concluded() || t.phase >= phasePushing || pt.phase > phaseBuilding {
		return
	}
	pt.phase = phaseBuilding
	if t.phase < phaseBuilding {
		t.phase, t.quarter = phaseBuilding, 0
	}
	step = shorten(oneLine(step), 72)
	pt.pct = percent(done, total)
	if p.live {
		p.liveHeader(t, phaseBuilding)
		pt.show("building", step, pt.pct)
		t.show("", t.meanPercent())
		return
	}
	p.buildHeader(t)
	if pt.pct >= 0 && pt.pct/25 > pt.quarter {
		pt.quarter = pt.pct / 25
		pt.progressLine(pt.pct, step)
	}
}

// Built reports that the platform's image is built (and, for a pushed build, in the registry).
func (pt *PlatformTask) Built() {
	p := pt.t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt.t.inert || pt.t.phase.concluded() {
		return
	}
	pt.built()
	if p.live {
		pt.t.show("", pt.t.meanPercent())
	}
}

// built completes the platform's bar. Called with p.mu held.
func (pt *PlatformTask) built() {
	if pt.phase.concluded() {
		return
	}
	p := pt.t.p
	pt.phase, pt.pct = phaseSucceeded, 100
	if p.live {
		pt.endBar("built")
		return
	}
	p.buildHeader(pt.t)
	if pt.quarter < 4 {
		pt.quarter = 4
		pt.progressLine(100, "")
	}
}

// Failed reports that the platform's build failed; the service's own Failed says how the build
// ended.
func (pt *PlatformTask) Failed(message string) {
	p := pt.t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt.t.inert || pt.t.phase.concluded() || pt.phase.concluded() {
		return
	}
	pt.phase = phaseFailed
	headline := failureLines(message)[0]
	if p.live {
		pt.endBar("failed: " + headline)
		return
	}
	p.buildHeader(pt.t)
	p.line(pt.t, pt.label()+"failed: "+headline)
}

// label leads the platform's plain lines: its name, padded to the longest of the service's.
func (pt *PlatformTask) label() string {
	width := 0
	for _, o := range pt.t.platforms {
		width = max(width, utf8.RuneCountInString(o.name))
	}
	return pt.name + strings.Repeat(" ", width-utf8.RuneCountInString(pt.name)) + " "
}

// Log streams one line of this platform's build output, as Task.Log does; the line is led by
// "[service platform]" when the service builds several platforms.
func (pt *PlatformTask) Log(line string) {
	pt.t.p.log(pt.t, pt.logLabel(), line)
}

// LastLines sets the last lines of this platform's failed output, shown under the service's ✗
// line. Call it before the service's Failed.
func (pt *PlatformTask) LastLines(lines []string) {
	p := pt.t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt.t.inert || pt.t.phase.concluded() {
		return
	}
	pt.lastLines = slices.Clone(lines)
}

// logLabel names the platform in lines of build output: only when the service builds several,
// since one platform is the service's whole build.
func (pt *PlatformTask) logLabel() string {
	if len(pt.t.platforms) < 2 {
		return ""
	}
	return pt.name
}

// progressLine prints one plain progress line of the platform. Called with p.mu held.
func (pt *PlatformTask) progressLine(pct int, step string) {
	n := pct * barWidth / 100
	s := pt.label() + "[" + strings.Repeat("#", n) + strings.Repeat(".", barWidth-n) + "] " + fmt.Sprint(pct) + "%"
	if step != "" {
		s += " " + step
	}
	pt.t.p.line(pt.t, s)
}

// meanPercent is the service's progress as the mean of its platforms' (-1 while none is known).
func (t *Task) meanPercent() int {
	sum, n := 0, 0
	for _, pt := range t.platforms {
		if pt.phase == phaseSucceeded || pt.pct >= 0 && pt.phase == phaseBuilding {
			sum += max(pt.pct, 0)
			n++
		}
	}
	if n == 0 {
		return -1
	}
	return sum / len(t.platforms)
}

// --- plain mode ---

// buildHeader prints the Building block of t once. Called with p.mu held.
func (p *Printer) buildHeader(t *Task) {
	if !t.header[0] {
		p.header(t, phaseBuilding)
	}
}

// header prints "Building api..." or "Pushing api..." with the lines that belong under it, in
// one write so that no other service's line can come between them. A blank line separates it
// from a block of the other kind.
func (p *Printer) header(t *Task, ph phase) {
	p.write(p.headerText(t, ph))
}

// liveHeader prints the same block above the live bars, so that a terminal shows the
// Building/Pushing blocks too, with the bars below them. Called with p.mu held.
func (p *Printer) liveHeader(t *Task, ph phase) {
	if (ph == phaseBuilding && t.header[0]) || (ph == phasePushing && t.header[1]) {
		return
	}
	p.printed = true
	// Written through mpb, which keeps the bars below what it prints.
	_, _ = p.progress.Write([]byte(p.headerText(t, ph)))
}

// headerText is the block of header, and marks it printed. Called with p.mu held.
func (p *Printer) headerText(t *Task, ph phase) string {
	var b strings.Builder
	if p.printed && p.lastSection != ph {
		b.WriteString("\n")
	}
	s := t.svc
	if ph == phaseBuilding {
		t.header[0] = true
		b.WriteString("Building " + s.Name + "...\n")
		if s.Dockerfile != "" {
			b.WriteString("  → Dockerfile: " + s.Dockerfile + "\n")
		}
		if s.Context != "" {
			b.WriteString("  → Context: " + s.Context + "\n")
		}
		if s.Target != "" {
			b.WriteString("  → Target: " + s.Target + "\n")
		}
	} else {
		t.header[1] = true
		b.WriteString("Pushing " + s.Name + "...\n")
		for _, d := range s.Destinations {
			b.WriteString("  → " + d + "\n")
		}
	}
	p.lastSection = ph
	return b.String()
}

// advance prints a progress line when pct (-1: unknown) enters a new quarter.
func (p *Printer) advance(t *Task, pct int, step string) {
	if pct < 0 || pct/25 <= t.quarter {
		return
	}
	t.quarter = pct / 25
	p.bar(t, pct, step)
}

// finish prints the 100% line of the current phase if it has a header and none was printed.
func (p *Printer) finish(t *Task) {
	var shown bool
	switch t.phase {
	case phaseAdded, phasePending, phaseBuilding:
		// A multi-platform build's progress is its platforms' lines.
		shown = t.header[0] && len(t.platforms) == 0
	case phasePushing:
		shown = t.header[1]
	}
	if shown && t.quarter < 4 {
		t.quarter = 4
		p.bar(t, 100, "")
	}
}

func (p *Printer) bar(t *Task, pct int, step string) {
	n := pct * barWidth / 100
	s := "[" + strings.Repeat("#", n) + strings.Repeat(".", barWidth-n) + "] " + fmt.Sprint(pct) + "%"
	if step != "" {
		s += " " + step
	}
	p.line(t, s)
}

// line prints one indented line of t, led by the service's name when several services build at
// once (the lines of different services interleave then).
func (p *Printer) line(t *Task, s string) {
	p.write("  " + p.prefix(t) + s + "\n")
}

// prefix is the service name padded to the longest name, or "" while only one service builds.
func (p *Printer) prefix(t *Task) string {
	width, active := 0, 0
	for _, o := range p.tasks {
		if o.phase == phaseSkipped {
			continue
		}
		active++
		width = max(width, utf8.RuneCountInString(o.svc.Name))
	}
	if active < 2 {
		return ""
	}
	return t.svc.Name + strings.Repeat(" ", width-utf8.RuneCountInString(t.svc.Name)) + " "
}

func (p *Printer) write(s string) {
	p.printed = true
	// Output errors (a closed pipe) cannot be reported anywhere better than the exit code the
	// caller derives from the builds themselves.
	_, _ = io.WriteString(p.out, s)
}

// --- text helpers ---

// percent is done/total in percent, clamped to 0–100 (Kaniko may run more steps than counted:
// ONBUILD triggers of a base image), or -1 when total is unknown.
func percent(done, total int) int {
	if total <= 0 {
		return -1
	}
	done = min(max(done, 0), total)
	return int(int64(done) * 100 / int64(total))
}

// printable replaces control characters with spaces, so that text from logs or the cluster can
// neither move the cursor nor colour the output, nor split a line.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			r = ' '
		}
		b.WriteRune(r) // invalid UTF-8 comes out as U+FFFD
	}
	return b.String()
}

func isControl(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// oneLine makes s printable on one line: control characters (newlines included) become spaces,
// runs of spaces collapse and the ends are trimmed.
func oneLine(s string) string {
	return strings.Join(strings.Fields(printable(s)), " ")
}

// oneLines is oneLine of every element, dropping those left empty.
func oneLines(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = oneLine(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shorten cuts s to at most n runes, marking the cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
