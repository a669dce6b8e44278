package progress

import (
	"strconv"
	"strings"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// A live bar counts in thousandths, and stops one short of the end until the task succeeds:
// an mpb bar that reaches its total is finished for good, while a build at 100% still has to push.
const (
	liveTotal  = 1000
	liveAlmost = liveTotal - 1
)

// liveView is what a task's bar shows besides the bar itself. Decorators run on mpb's
// goroutines and read it without locks, so that the Printer's mutex can be held while calling
// into mpb; each update stores a new value.
type liveView struct {
	state string // waiting, building, pushing, done, failed, skipped
	pct   int    // -1: unknown
	note  string // the running step, the reason for waiting, the failure headline
}

// addBar creates t's bar: "api  building  [#########.........]  25% RUN npm ci".
func (p *Printer) addBar(t *Task) {
	t.view.Store(&liveView{state: "waiting", pct: -1})
	paint := func(s string) string {
		if s == "" {
			return s
		}
		switch t.view.Load().state {
		case "done":
			return p.paint(s, green)
		case "failed":
			return p.paint(s, red)
		}
		return s
	}
	t.bar = p.progress.New(liveTotal,
		mpb.BarStyle().Lbound("[").Filler("#").Tip("#").Padding(".").Rbound("]").FillerMeta(paint).TipMeta(paint),
		mpb.PrependDecorators(
			decor.Name(t.svc.Name, decor.WCSyncSpaceR),
			decor.Any(func(decor.Statistics) string { return t.view.Load().state }, decor.WCSyncSpaceR),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string {
				if pct := t.view.Load().pct; pct >= 0 {
					return strconv.Itoa(pct) + "%"
				}
				return ""
			}, decor.WC{W: 4}),
			decor.Any(func(decor.Statistics) string {
				if n := t.view.Load().note; n != "" {
					return " " + n
				}
				return ""
			}),
		),
	)
}

// show updates the bar of a running task. Called with p.mu held.
func (t *Task) show(note string, pct int) {
	state := "waiting"
	switch t.phase {
	case phaseBuilding:
		state = "building"
	case phasePushing:
		state = "pushing"
	}
	// Steps are long; leave the bar its room on an ordinary terminal.
	t.view.Store(&liveView{state: state, pct: pct, note: shorten(note, 40)})
	t.bar.SetCurrent(min(int64(max(pct, 0))*liveTotal/100, liveAlmost))
}

// endBar shows how the task ended and releases its bar. Called with p.mu held.
func (t *Task) endBar() {
	v := *t.view.Load()
	switch t.phase {
	case phaseSucceeded:
		t.view.Store(&liveView{state: "done", pct: 100})
		t.bar.SetTotal(liveTotal, true)
		return
	case phaseFailed:
		v.state, v.note = "failed", shorten(failureLines(t.message)[0], 40)
	case phaseSkipped:
		v.state, v.pct, v.note = "skipped", -1, t.message
	}
	t.view.Store(&v)
	// Abort keeps the bar on screen, stopped where it was.
	t.bar.Abort(false)
}

// addPlatformBar creates the bar of one platform, below its service's:
// "api linux/arm64  building  [#####.......]  25% RUN make".
func (p *Printer) addPlatformBar(pt *PlatformTask) {
	pt.pct = -1
	pt.view.Store(&liveView{state: "waiting", pct: -1})
	paint := func(s string) string {
		if s == "" {
			return s
		}
		switch st := pt.view.Load().state; {
		case st == "built":
			return p.paint(s, green)
		case strings.HasPrefix(st, "failed"), st == "stopped":
			return p.paint(s, red)
		}
		return s
	}
	pt.bar = p.progress.New(liveTotal,
		mpb.BarStyle().Lbound("[").Filler("#").Tip("#").Padding(".").Rbound("]").FillerMeta(paint).TipMeta(paint),
		mpb.PrependDecorators(
			decor.Name(pt.t.svc.Name+" "+pt.name, decor.WCSyncSpaceR),
			decor.Any(func(decor.Statistics) string { return shorten(pt.view.Load().state, 40) }, decor.WCSyncSpaceR),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string {
				if pct := pt.view.Load().pct; pct >= 0 {
					return strconv.Itoa(pct) + "%"
				}
				return ""
			}, decor.WC{W: 4}),
			decor.Any(func(decor.Statistics) string {
				if n := pt.view.Load().note; n != "" {
					return " " + n
				}
				return ""
			}),
		),
	)
}

// show updates the platform's bar. Called with p.mu held.
func (pt *PlatformTask) show(state, note string, pct int) {
	pt.view.Store(&liveView{state: state, pct: pct, note: shorten(note, 40)})
	pt.bar.SetCurrent(min(int64(max(pct, 0))*liveTotal/100, liveAlmost))
}

// endBar shows how the platform ended and releases its bar. Called with p.mu held.
func (pt *PlatformTask) endBar(state string) {
	if state == "built" {
		pt.view.Store(&liveView{state: state, pct: 100})
		pt.bar.SetTotal(liveTotal, true)
		return
	}
	v := *pt.view.Load()
	v.state = state
	pt.view.Store(&v)
	pt.bar.Abort(false)
}
