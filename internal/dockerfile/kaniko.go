package dockerfile

// CountSteps returns how many steps Kaniko will log when it builds target (the last stage when
// target is empty) from dockerfile, so that progress can be shown as a percentage.
//
// Without --skip-unused-stages Kaniko builds every stage from the first one up to and including
// the target, whether the target uses it or not (pkg/dockerfile/dockerfile.go, MakeKanikoStages),
// and logs each instruction of those stages except FROM and MAINTAINER. CountSteps counts exactly
// those. Use CountStepsSkipUnused for pods started with --skip-unused-stages.
//
// The count is a lower bound in one case: ONBUILD triggers of a base image run as extra steps,
// and they are only known once Kaniko has pulled the image.
func CountSteps(dockerfile []byte, target string) (int, error) {
	d, idx, err := parseFor(dockerfile, target)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range d.Stages[:idx+1] {
		n += s.Steps
	}
	return n, nil
}

// CountStepsSkipUnused is CountSteps for an executor started with --skip-unused-stages: only the
// target and the stages it depends on (its FROM <stage> and COPY --from=<stage>, transitively)
// are built.
//
// It follows Kaniko v1.24.0's own selection (skipUnusedStages in pkg/dockerfile/dockerfile.go)
// rather than the ideal one of Needs, so the count matches what Kaniko really logs: stage names
// are compared as Kaniko compares them (a stage's own name lower-cased, COPY --from as written),
// and a dependency on an unnamed stage (COPY --from=0) does not keep that stage.
func CountStepsSkipUnused(dockerfile []byte, target string) (int, error) {
	d, idx, err := parseFor(dockerfile, target)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, i := range kanikoUsedStages(d.Stages, idx, target) {
		n += d.Stages[i].Steps
	}
	return n, nil
}

func parseFor(dockerfile []byte, target string) (*Dockerfile, int, error) {
	d, err := Parse(dockerfile)
	if err != nil {
		return nil, 0, err
	}
	idx, err := d.Target(target)
	if err != nil {
		return nil, 0, err
	}
	return d, idx, nil
}

// kanikoUsedStages mirrors Kaniko's skipUnusedStages and returns the indices of the stages it
// keeps.
func kanikoUsedStages(stages []Stage, idx int, target string) []int {
	deps := map[string]bool{}
	lastBase := stages[idx].Base
	for i := idx; i >= 0; i-- {
		s := stages[i]
		if (s.Name != "" && deps[s.Name]) || s.Name == lastBase || i == idx {
			for _, from := range s.CopyFrom {
				if n, ok := stageIndex(from); ok && n < len(stages) {
					from = stages[n].Name
				}
				deps[from] = true
			}
			if i != idx {
				deps[s.Base] = true
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
			if s := stages[i]; s.Name != "" && (deps[s.Name] || s.Name == lastBase) {
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
