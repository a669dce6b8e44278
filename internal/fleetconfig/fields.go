package fleetconfig

import (
	"strings"

	"github.com/fleetflow/flow-build/internal/usererr"
)

// The names FleetFlow's parser knows at each level (crates/fleetflow-core/src/parser), so that a
// misspelled one can be told apart from a setting for another FleetFlow command.
var (
	topLevelNodes = []string{"project", "registry", "variables", "service", "stage", "include", "provider", "server", "tenant", "cloud"}
	// serviceFieldNames are the children of a service block, build settings and run settings.
	serviceFieldNames = []string{
		"image", "version", "command", "registry", "restart", "type", "service_type", "ports", "port", "environment", "env",
		"volumes", "depends_on", "healthcheck", "wait_for", "readiness", "deploy",
		"dockerfile", "context", "target", "build_args", "image_tag", "build", "no_cache", "platform", "platforms",
	}
	// buildFields are the children of a nested build block.
	buildFields = []string{"dockerfile", "context", "target", "args", "no_cache", "image_tag", "platform", "platforms"}
	stageFields = []string{"service", "variables", "registry", "server", "backend"}
)

// suggest warns about a name that is not one of known but close to one: a misspelling that
// FleetFlow would ignore without a word (`dockerfil`). Names far from every known one are left
// alone, since they may be settings of FleetFlow commands other than build; in a build block,
// whose fields are all known, any unknown name is reported.
func (c nodeCtx) suggest(name string, known []string, kindEn, kindJa string) {
	closed := len(known) > 0 && &known[0] == &buildFields[0]
	for _, k := range known {
		if k == name {
			return
		}
	}
	best, dist := "", 1<<30
	for _, k := range known {
		if d := editDistance(name, k); d < dist {
			best, dist = k, d
		}
	}
	if dist <= max(1, min(2, len(name)/3)) {
		c.warn(usererr.T(sprintf("unknown %s %q, did you mean %q? It is ignored", kindEn, name, best),
			sprintf("不明な%s %q です（%q の間違いではありませんか？）。無視されます", kindJa, name, best)))
		return
	}
	if closed {
		c.warn(usererr.T(sprintf("unknown %s %q (known: %s); it is ignored", kindEn, name, strings.Join(buildFields, ", ")),
			sprintf("不明な%s %q です（使える項目: %s）。無視されます", kindJa, name, strings.Join(buildFields, ", "))))
	}
}

// editDistance is the Damerau-Levenshtein distance (optimal string alignment) between a and b:
// insertions, deletions, substitutions and swaps of neighbours each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
