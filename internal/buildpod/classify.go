package buildpod

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/kanikolog"
	"github.com/fleetflow/flow-build/internal/userns"
)

// classification is the verdict on a failed Kaniko run.
type classification struct {
	reason     string
	message    string
	causeInLog bool
}

// classify turns the text Kaniko left (its termination message: with FallbackToLogsOnError, the
// tail of its log when it wrote no digest) and its exit code into a reason and a message.
//
// Kaniko ends every failure with one line on stderr, the wrapped Go error (cmd/executor/cmd/root.go,
// exitWithCode): "error checking push permissions -- ...", "error building image: ...",
// "error pushing image: ...". Errors met before the build starts come from cobra instead, as
// "Error: error resolving source context: ..." followed by the whole usage text. The verdict rests
// on that last error line; the lines before it only name the failing Dockerfile step.
func classify(f facts, raw string, exitCode int32) classification {
	text := cleanText(lastBytes(raw, maxClassifiedBytes))
	trimmed := strings.TrimSpace(text)
	if ValidDigest(trimmed) {
		// The digest file is written before the push, and the kubelet only falls back to the log
		// when the termination message is empty: a digest plus a failure means the push failed
		// and its error is in the log alone.
		return classification{
			reason: v1alpha1.ReasonPushFailed,
			message: fmt.Sprintf("Kaniko built %s (digest %s) but exited with %s after writing the digest: the push most likely failed. The cause is only in the build log: %s",
				f.image(), trimmed, exitCodeText(exitCode), f.logs()),
			causeInLog: true,
		}
	}
	lines := splitLines(text)
	errLine := lastErrorLine(lines)
	if errLine == "" {
		return noErrorLine(f, lines, exitCode)
	}
	return classifyError(f, errLine, lines, exitCode)
}

func noErrorLine(f facts, lines []string, exitCode int32) classification {
	if usageText(lines) {
		c := classification{reason: v1alpha1.ReasonBuildFailed, causeInLog: true}
		if f.contextIsGit {
			c.reason = v1alpha1.ReasonSourceFetchFailed
			c.message = fmt.Sprintf("Kaniko stopped before building %s: it could not clone %s%s, or the Dockerfile %q is not in it. "+
				"Kaniko printed its usage text after the error, so the exact cause is only in the log: %s",
				f.image(), f.gitURL, revText(f.gitRev), f.dockerfile, f.logs())
		} else {
			c.message = fmt.Sprintf("Kaniko stopped before building %s: the Dockerfile %q is probably not in the build context, or Kaniko rejected its arguments. "+
				"Kaniko printed its usage text after the error, so the exact cause is only in the log: %s",
				f.image(), f.dockerfile, f.logs())
		}
		return c
	}
	last := lastLine(lines)
	if isAuth(last) {
		// The kubelet keeps 2 KiB of log: a very long error line can lose its "error ..." head
		// and still show a registry's refusal.
		host := hostIn(last, f.image())
		return classification{
			reason: v1alpha1.ReasonAuthenticationFailed,
			message: fmt.Sprintf("registry %s refused the build's credentials while building %s (%s); %s; details: %s",
				host, f.image(), clip(last, 300), credentialFix(f, host), f.logs()),
		}
	}
	if last == "" {
		return classification{
			reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("Kaniko failed building %s with %s and left no message; see %s",
				f.image(), exitCodeText(exitCode), f.logs()),
			causeInLog: true,
		}
	}
	return classification{
		reason:  v1alpha1.ReasonBuildFailed,
		message: fmt.Sprintf("Kaniko failed building %s with %s: %s; see %s", f.image(), exitCodeText(exitCode), clip(last, 400), f.logs()),
	}
}

func classifyError(f facts, e string, lines []string, exitCode int32) classification {
	low := strings.ToLower(e)
	quoted := clip(e, 500)
	switch {
	case strings.Contains(low, "error checking push permissions"):
		target := f.image()
		if m := pushCheckTarget.FindStringSubmatch(e); m != nil {
			target = m[1]
		}
		host := hostIn(e, target)
		switch {
		case isAuth(e):
			return classification{reason: v1alpha1.ReasonAuthenticationFailed,
				message: fmt.Sprintf("registry %s refused to let the build push to %s%s; %s", host, target, causeText(authCause(e)), credentialFix(f, host))}
		case isNetwork(e):
			return classification{reason: v1alpha1.ReasonPushFailed,
				message: fmt.Sprintf("cannot reach registry %s to push %s: %s; %s", host, target, netCause(e), networkHint(e))}
		}
		return classification{reason: v1alpha1.ReasonPushFailed,
			message: fmt.Sprintf("Kaniko could not verify that it may push to %s, so it did not build: %s", target, quoted)}

	case strings.Contains(low, "error pushing image") || strings.Contains(low, "failed to push"):
		target := f.image()
		if m := pushTarget.FindStringSubmatch(e); m != nil {
			target = m[1]
		}
		host := hostIn(e, target)
		switch {
		case isAuth(e):
			return classification{reason: v1alpha1.ReasonAuthenticationFailed,
				message: fmt.Sprintf("registry %s refused the push of %s%s; %s", host, target, causeText(authCause(e)), credentialFix(f, host))}
		case strings.Contains(low, "quota") || strings.Contains(low, "toomanyrequests"):
			return classification{reason: v1alpha1.ReasonPushFailed,
				message: fmt.Sprintf("registry %s refused the push of %s for a quota or rate limit: %s; free space in the registry or raise its limits, then rebuild", host, target, quoted)}
		case isNetwork(e):
			return classification{reason: v1alpha1.ReasonPushFailed,
				message: fmt.Sprintf("cannot reach registry %s to push %s: %s; %s", host, target, netCause(e), networkHint(e))}
		}
		return classification{reason: v1alpha1.ReasonPushFailed,
			message: fmt.Sprintf("pushing %s to %s failed after the build: %s", target, host, quoted)}

	case strings.Contains(low, "error finding target stage"):
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("spec.target %q is not a stage of the Dockerfile %q (%s); use the name of a FROM ... AS <name> stage, or leave spec.target empty to build the last stage",
				f.target, f.dockerfile, quoted)}

	case strings.Contains(low, "error resolving source context"):
		return classifyClone(f, e)

	case strings.Contains(low, "error resolving dockerfile path"):
		where := "the build context"
		if f.contextSubPath != "" {
			where = fmt.Sprintf("the build context (%s of the repository)", f.contextSubPath)
		}
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("the Dockerfile %q is not in %s of %s; check spec.dockerfile, a path relative to the build context", f.dockerfile, where, f.image())}

	case strings.Contains(low, "error building image"):
		return classifyBuild(f, e, lines, exitCode)

	case strings.Contains(low, "should only be run inside of a container"):
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("Kaniko did not detect that it runs in a container and refused to build %s: %s", f.image(), quoted)}
	}
	return classification{reason: v1alpha1.ReasonBuildFailed,
		message: fmt.Sprintf("building %s failed (%s): %s%s; see %s", f.image(), exitCodeText(exitCode), quoted, stepText(lastStep(lines)), f.logs())}
}

// classifyClone handles "error resolving source context: ...", Kaniko failing to clone a git
// context. The causes are go-git's errors (v5.16): the server's HTTP status as "authentication
// required" (401), "authorization failed" (403) or "repository not found" (404); a missing ref as
// "reference not found" or, for --git=branch=, Kaniko's "invalid branch"; a commit missing from
// the cloned ref as "object not found"; and a missing --context-sub-path as "stat <dir>: no such
// file or directory".
func classifyClone(f facts, e string) classification {
	low := strings.ToLower(e)
	repo := orDefault(f.gitURL, "the Git repository")
	quoted := clip(gitCause(e), 300)
	switch {
	case strings.Contains(low, "authentication required") || strings.Contains(low, "authorization failed"):
		if f.gitSecret == "" {
			return classification{reason: v1alpha1.ReasonAuthenticationFailed,
				message: fmt.Sprintf("the Git server of %s asks for credentials (%s) while building %s: the repository is private. "+
					"Name a kubernetes.io/basic-auth Secret of namespace %s (keys username and password, the password an access token) in spec.source.git.secretRef, "+
					"or run flow build --source git with --git-secret NAME or --git-credentials=forward",
					repo, quoted, f.image(), orDefault(f.namespace, "NAMESPACE"))}
		}
		return classification{reason: v1alpha1.ReasonAuthenticationFailed,
			message: fmt.Sprintf("the Git server of %s refused the credentials of Secret %s (spec.source.git.secretRef) while building %s (%s): "+
				"check its username and password, that the token has not expired and that it may read this repository",
				repo, f.gitSecret, f.image(), quoted)}
	case strings.Contains(low, "repository not found"):
		hint := "check spec.source.git.url"
		if f.gitSecret == "" {
			hint += "; if the repository is private, give the build credentials in spec.source.git.secretRef (servers such as GitHub answer \"not found\" to anonymous requests for private repositories)"
		} else {
			hint += fmt.Sprintf("; if it exists, the credentials of Secret %s may not read it (servers such as GitHub answer \"not found\" then)", f.gitSecret)
		}
		return classification{reason: v1alpha1.ReasonRepositoryNotFound,
			message: fmt.Sprintf("the Git server has no repository %s for %s (%s); %s", repo, f.image(), quoted, hint)}
	case strings.Contains(low, "exact sha1 refspec"):
		return classification{reason: v1alpha1.ReasonRevisionNotFound,
			message: fmt.Sprintf("the Git server of %s does not send commit %s when asked for it by SHA (%s) while building %s: "+
				"set spec.source.git.ref to the branch or tag it was taken from (refs/heads/main), which flow build --source git renders",
				repo, f.gitRev, quoted, f.image())}
	case strings.Contains(low, "reference not found") || strings.Contains(low, "invalid branch"):
		what := "revision " + orDefault(f.gitRev, "HEAD")
		if f.gitRef != "" {
			what = "ref " + f.gitRef
		}
		return classification{reason: v1alpha1.ReasonRevisionNotFound,
			message: fmt.Sprintf("%s is no branch or tag of %s (%s) while building %s: use an existing branch, tag, refs/... name or full 40-character commit SHA in spec.source.git.revision",
				what, repo, quoted, f.image())}
	case strings.Contains(low, "object not found"):
		where := ""
		if f.gitRef != "" {
			where = " reachable from " + f.gitRef
		}
		return classification{reason: v1alpha1.ReasonRevisionNotFound,
			message: fmt.Sprintf("commit %s is not in %s%s (%s) while building %s: check spec.source.git.revision, and that the commit was pushed to the branch or tag in spec.source.git.ref",
				orDefault(f.gitRev, "?"), repo, where, quoted, f.image())}
	case f.contextSubPath != "" && strings.Contains(low, "no such file or directory") && strings.Contains(e, "/kaniko/buildcontext"):
		return classification{reason: v1alpha1.ReasonSubPathNotFound,
			message: fmt.Sprintf("spec.source.git.subPath %q is no directory of %s%s while building %s: use a path relative to the repository root, as it is in that commit",
				f.contextSubPath, repo, revText(f.gitRev), f.image())}
	case isNetwork(e):
		return classification{reason: v1alpha1.ReasonSourceFetchFailed,
			message: fmt.Sprintf("cannot reach the Git server of %s while building %s: %s; check the host in spec.source.git.url, the cluster's network and the server's TLS certificate",
				repo, f.image(), netCause(e))}
	}
	return classification{reason: v1alpha1.ReasonSourceFetchFailed,
		message: fmt.Sprintf("Kaniko could not clone %s%s for %s: %s; check spec.source.git.url and spec.source.git.revision", repo, revText(f.gitRev), f.image(), clip(e, 500))}
}

// gitCause is the go-git error after Kaniko's "error resolving source context: " prefix.
func gitCause(e string) string {
	if rest, ok := afterFold(e, "error resolving source context: "); ok {
		return strings.TrimSpace(rest)
	}
	return e
}

// classifyBuild handles "error building image: ...": a base image pull or a Dockerfile step.
func classifyBuild(f facts, e string, lines []string, exitCode int32) classification {
	quoted := clip(e, 500)
	base := baseImage(e, lines)
	registryOp := strings.Contains(e, "/v2/") || strings.Contains(e, "/manifests/")
	switch {
	case manifestMissing(e):
		return classification{reason: v1alpha1.ReasonBaseImageNotFound,
			message: fmt.Sprintf("base image %s does not exist%s; check the FROM lines of %q (and the build args they use) and that the tag exists in the registry",
				base, causeText(authCause(e)), f.dockerfile)}
	case registryOp && strings.Contains(strings.ToLower(e), "toomanyrequests"):
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("pulling base image %s hit the registry's rate limit (%s); wait, or give the build a login for that registry in the push Secret (Docker Hub limits anonymous pulls)",
				base, clip(e, 300))}
	case registryOp && isAuth(e):
		host := hostIn(e, base)
		hubNote := ""
		if host == "docker.io" {
			hubNote = " (Docker Hub also answers this way for images that do not exist)"
		}
		return classification{reason: v1alpha1.ReasonAuthenticationFailed,
			message: fmt.Sprintf("registry %s refused access to base image %s%s%s; check the FROM lines of %q, and the credentials: %s",
				host, base, causeText(authCause(e)), hubNote, f.dockerfile, credentialFix(f, host))}
	case registryOp && isNetwork(e):
		host := hostIn(e, base)
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("cannot reach registry %s to pull base image %s: %s; %s", host, base, netCause(e), networkHint(e))}
	}

	if m := unmappedOwner.FindStringSubmatch(e); m != nil && f.inUserNamespace() {
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("base image %s has a file owned by a user or group ID that the build pod's user namespace does not map (%s): %s. "+
				"Raise the kubelet's userNamespaces.idsPerPod on the build nodes to a multiple of 65536 beyond the image's highest user and group IDs, "+
				"or run builds without user namespaces (manager --user-namespaces=false, Helm value userNamespaces: false), which makes Kaniko root on the node",
				base, clip(m[1], 200), mappedIDs(f.uidMap))}
	}

	step := lastStep(lines)
	if c, ok := foreignBinary(f, e); ok {
		return c
	}
	if rest, ok := afterFold(e, "failed to execute command: "); ok {
		outcome, hint := "failed with "+clip(rest, 200), "fix the command"
		if m := exitStatus.FindString(rest); m != "" {
			outcome = "failed with " + m
		}
		if f.inUserNamespace() {
			if h := userNamespaceHint(f, stepOutput(lines)); h != "" {
				hint = h
			}
		}
		if m := killedBy.FindString(rest); m != "" {
			outcome = "was killed (" + m + ")"
			hint = "it most likely ran out of memory: raise spec.resources.limits.memory"
		}
		what := "a RUN step"
		if step != "" {
			what = fmt.Sprintf("Dockerfile step %q", step)
		}
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("%s %s while building %s; %s (its output: %s)", what, outcome, f.image(), hint, f.logs())}
	}
	if missing := missingFile.FindStringSubmatch(e); missing != nil &&
		(strings.Contains(e, "failed to get files used from context") || strings.Contains(e, "failed to get fileinfo") || strings.Contains(e, "failed to optimize instructions")) {
		// Kaniko looks up a step's context files before it logs the step, so the last logged
		// step is an earlier one and must not be quoted here.
		p := contextRelative(missing[1], f.contextSubPath)
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("a COPY or ADD step failed: %s is not in the build context of %s; check the path in the Dockerfile %q and that .dockerignore does not exclude it",
				p, f.image(), f.dockerfile)}
	}
	return classification{reason: v1alpha1.ReasonBuildFailed,
		message: fmt.Sprintf("building %s failed%s (%s): %s; see %s", f.image(), stepText(step), exitCodeText(exitCode), quoted, f.logs())}
}

// foreignBinary recognises a RUN step whose program the node cannot execute: under emulation, a
// node without a working binfmt_misc handler for the platform; natively, a program built for
// another architecture.
func foreignBinary(f facts, e string) (classification, bool) {
	execFormat := strings.Contains(e, "exec format error")
	noInterpreter := strings.Contains(e, "fork/exec") && strings.Contains(e, "no such file or directory")
	node := "its node"
	if f.node != "" {
		node = "node " + f.node
	}
	platform := orDefault(f.platform, "the platform")
	switch {
	case f.emulated && execFormat:
		return classification{reason: v1alpha1.ReasonPlatformUnavailable,
			message: fmt.Sprintf("%s is labelled %s%s=true but cannot run %s programs: it has no binfmt_misc handler for them (exec format error) while building %s. "+
				"Register one on that node with the F flag (Debian's qemu-user-static, or tonistiigi/binfmt), or remove the label so that the build fails early",
				node, v1alpha1.EmulationLabelPrefix, strings.ReplaceAll(platform, "/", "-"), platform, f.image())}, true
	case f.emulated && noInterpreter:
		return classification{reason: v1alpha1.ReasonPlatformUnavailable,
			message: fmt.Sprintf("%s cannot run %s programs inside a build (fork/exec: no such file or directory) while building %s: its binfmt_misc handler was registered without the F flag, "+
				"so the emulator is looked up inside the image; register it again with flags F and P (qemu-user-static's own registration has them)", node, platform, f.image())}, true
	case execFormat:
		return classification{reason: v1alpha1.ReasonBuildFailed,
			message: fmt.Sprintf("a RUN step of %s started a program built for another architecture (exec format error): check that the base images and every binary the Dockerfile copies in are built for %s",
				f.image(), platform)}, true
	}
	return classification{}, false
}

// userNamespaceHint explains a RUN step that met a limit of the build's user namespace, judged by
// the step's output: empty when nothing in it points there.
func userNamespaceHint(f facts, output []string) string {
	const optOut = "or run builds without user namespaces (manager --user-namespaces=false, Helm value userNamespaces: false), which makes Kaniko root on the node"
	text := strings.ToLower(strings.Join(output, "\n"))
	switch {
	case strings.Contains(text, "operation not permitted") && strings.Contains(text, "mknod"):
		return "the build runs in a user namespace, where creating device files (mknod) is never allowed: create them at run time instead (a volume or the runtime's /dev), " + optOut
	case unmappedChown.MatchString(text):
		return fmt.Sprintf("the step gave a file an owner the build pod's user namespace does not map (%s): use IDs inside that range, raise the kubelet's userNamespaces.idsPerPod on the build nodes, %s",
			mappedIDs(f.uidMap), optOut)
	case strings.Contains(text, "operation not permitted"):
		return "the build runs in a user namespace, where root may not touch the node (mount, devices, kernel settings): remove that from the step, " + optOut
	}
	return ""
}

// mappedIDs says which IDs the build pod's user namespace maps.
func mappedIDs(m userns.Mapping) string {
	if n := m.IDs(); n > 0 && len(m) == 1 && m[0].Inside == 0 {
		return fmt.Sprintf("it maps IDs 0 to %d only", n-1)
	}
	if len(m) > 0 {
		return "it maps " + m.String()
	}
	return "by default it maps 65536 IDs, 0 to 65535"
}

// stepOutput is what the log shows after the last Dockerfile step Kaniko announced: the failing
// RUN step's own output.
func stepOutput(lines []string) []string {
	for i := len(lines) - 1; i >= 0; i-- {
		if _, ok := kanikolog.IsStep(lines[i]); ok {
			return lines[i+1:]
		}
	}
	return lines
}

var (
	// unmappedOwner is Kaniko failing to give an unpacked file an owner outside the user namespace.
	unmappedOwner = regexp.MustCompile(`failed to get filesystem from image: (?:.*: )?(chown \S+: invalid argument)`)
	// unmappedChown is a RUN step's chown (busybox, coreutils, useradd) refused for the same cause.
	unmappedChown = regexp.MustCompile(`(chown|chgrp|ownership).*invalid argument`)

	pushCheckTarget = regexp.MustCompile(`checking push permission for "([^"]+)"`)
	pushTarget      = regexp.MustCompile(`failed to push to destination (\S+): `)
	registryURL     = regexp.MustCompile(`https?://([^/\s"]+)/v2/`)
	manifestURL     = regexp.MustCompile(`https?://([^/\s"]+)/v2/(\S+?)/manifests/([^\s;"]+)`)
	retrieving      = regexp.MustCompile(`^Retrieving image manifest (\S+)`)
	exitStatus      = regexp.MustCompile(`exit status \d+`)
	killedBy        = regexp.MustCompile(`signal: (killed|terminated)`)
	missingFile     = regexp.MustCompile(`(?:lstat|stat|open) (\S+): no such file or directory`)
	authRE          = regexp.MustCompile(`(?i)\bunauthorized\b|status code 40[13]\b|\b40[13] (?:unauthorized|forbidden)\b|authentication required|no basic auth credentials|access to the resource is denied|\bDENIED\b|\bFORBIDDEN\b`)
	authCauseRE     = regexp.MustCompile(`\b(?:UNAUTHORIZED|DENIED|FORBIDDEN|MANIFEST_UNKNOWN|NAME_UNKNOWN|unauthorized|denied)\b: [^;\[]*|unexpected status code \d{3} [A-Za-z ]*[A-Za-z]`)
	networkRE       = regexp.MustCompile(`(?i)dial tcp|connection refused|no such host|\blookup \S+|i/o timeout|handshake timeout|x509:|\btls: |connection reset|network is unreachable|no route to host|context deadline exceeded|client\.timeout exceeded|server gave http response to https client`)
	manifestRE      = regexp.MustCompile(`MANIFEST_UNKNOWN|(?i:manifest unknown)|NAME_UNKNOWN|/manifests/\S+: (?:unexpected status code )?404\b`)
	flagHelpLine    = regexp.MustCompile(`^\s+(?:-\w, )?--[a-z][a-z0-9-]+\b`)
)

func isAuth(s string) bool          { return authRE.MatchString(s) }
func isNetwork(s string) bool       { return networkRE.MatchString(s) }
func manifestMissing(s string) bool { return manifestRE.MatchString(s) }

func authCause(s string) string {
	return strings.TrimSpace(authCauseRE.FindString(s))
}

func causeText(cause string) string {
	if cause == "" {
		return ""
	}
	return " (" + clip(cause, 200) + ")"
}

// netCause is the part of a transport error that says what went wrong, from the first network
// keyword to the end of that clause.
func netCause(s string) string {
	first := -1
	for _, k := range []string{"tls: ", "x509: ", "dial tcp", "lookup ", "i/o timeout", "connection reset", "context deadline exceeded", "net/http: "} {
		if i := strings.Index(s, k); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first < 0 {
		return clip(s, 300)
	}
	cause := s[first:]
	if i := strings.Index(cause, ";"); i >= 0 {
		cause = cause[:i]
	}
	return clip(strings.TrimSpace(cause), 300)
}

func networkHint(s string) string {
	low := strings.ToLower(s)
	switch {
	case strings.Contains(low, "x509:") || strings.Contains(low, "tls: "):
		return "Kaniko does not trust the registry's TLS certificate: serve a certificate from a public CA (or a complete chain), or fix the registry address in spec.image"
	case strings.Contains(low, "no such host") || strings.Contains(low, "lookup "):
		return "the registry host name does not resolve inside the cluster: check the host in spec.image and the cluster DNS"
	case strings.Contains(low, "connection refused"):
		return "nothing accepts connections at that address: check the registry host and port in spec.image and that the registry runs"
	case strings.Contains(low, "timeout") || strings.Contains(low, "deadline exceeded"):
		return "the connection timed out: check network policies, proxies and firewalls between the cluster and the registry"
	}
	return "check the registry address, the cluster's network and the registry's TLS certificate"
}

// hostIn is the registry a failing request went to, from its URL, or else from ref.
func hostIn(e, ref string) string {
	if m := registryURL.FindStringSubmatch(e); m != nil {
		return normalizeHost(m[1])
	}
	return registryHost(ref)
}

// baseImage names the base image a pull failed for: from the manifest URL of the error, or the
// last "Retrieving image manifest" line Kaniko logged.
func baseImage(e string, lines []string) string {
	if m := manifestURL.FindStringSubmatch(e); m != nil {
		host, repo, ref := normalizeHost(m[1]), m[2], strings.TrimRight(m[3], ":")
		sep := ":"
		if strings.HasPrefix(ref, "sha256:") {
			sep = "@"
		}
		if host == "docker.io" {
			repo = strings.TrimPrefix(repo, "library/")
		}
		return host + "/" + repo + sep + ref
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if m := retrieving.FindStringSubmatch(logMessage(lines[i])); m != nil {
			return m[1]
		}
	}
	return "a base image"
}

func contextRelative(p, subPath string) string {
	for _, prefix := range []string{WorkspaceDir + "/", "/kaniko/buildcontext/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			if subPath != "" {
				rest = strings.TrimPrefix(rest, strings.TrimSuffix(subPath, "/")+"/")
			}
			return rest
		}
	}
	return p
}

func revText(rev string) string {
	if rev == "" {
		return ""
	}
	return " at " + rev
}

func stepText(step string) string {
	if step == "" {
		return ""
	}
	return fmt.Sprintf(" at Dockerfile step %q", step)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// afterFold returns what follows the first case-insensitive occurrence of sep in s.
func afterFold(s, sep string) (string, bool) {
	i := strings.Index(strings.ToLower(s), strings.ToLower(sep))
	if i < 0 {
		return "", false
	}
	return s[i+len(sep):], true
}

// LogTailLines and LogTailBytes bound the end of the Kaniko log that the controller reads, once per
// failed build pod: to classify a failure whose cause the termination message lost, and for the
// last lines of the failing step's output that status.failureLog keeps. Kaniko v1.24.0 prints its
// 71-line usage text after errors it meets before building (a clone that failed, a Dockerfile that
// is not there), so the error line sits more than 71 lines from the end. Of those lines, the last
// LogTailBytes are kept.
const (
	LogTailLines = 200
	LogTailBytes = maxClassifiedBytes
)

// maxClassifiedBytes bounds the text classify reads. Kaniko's verdict is its last line, so a whole
// build log handed to InterpretWithLog only costs time beyond its tail.
const maxClassifiedBytes = 64 << 10

// lastBytes returns about the last n bytes of s, starting at a line boundary so that no secret
// is cut in half before redaction sees it.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return ""
}

func splitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return lines
}

// logMessage is the message of a Kaniko log record, or the whole (trimmed) line when it is not one.
func logMessage(line string) string {
	if _, msg, ok := kanikolog.Record(line); ok {
		return strings.TrimSpace(msg)
	}
	return strings.TrimSpace(line)
}

// logLevel is the logrus level of a Kaniko log record, "" for other lines.
func logLevel(line string) string {
	level, _, _ := kanikolog.Record(line)
	return level
}

// lastErrorLine finds the line a failure is judged by. Kaniko's own final line ("error ...",
// cobra's "Error: ...") wins over logrus error and fatal lines, which wins over nothing; among
// equals the last one counts. Scanning from the end also skips a RUN step's own output.
func lastErrorLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if logLevel(l) != "" {
			continue
		}
		low := strings.ToLower(l)
		if strings.HasPrefix(low, "error: ") {
			return strings.TrimSpace(l[len("error: "):])
		}
		if strings.HasPrefix(low, "error ") || strings.HasPrefix(low, "kaniko should only be run") {
			return l
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		switch logLevel(lines[i]) {
		case "fatal", "panic", "error":
			return logMessage(lines[i])
		}
	}
	return ""
}

func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if l := logMessage(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// lastStep is the last Dockerfile instruction Kaniko announced ("INFO[0002] RUN make"), which
// is the one that failed: Kaniko logs each instruction as it starts it.
func lastStep(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if step, ok := kanikolog.IsStep(lines[i]); ok {
			return clip(step, 200)
		}
	}
	return ""
}

// usageText recognises cobra's flag listing, which follows errors met before the build.
func usageText(lines []string) bool {
	n := 0
	for _, l := range lines {
		if flagHelpLine.MatchString(l) {
			n++
		}
	}
	return n >= 5
}
