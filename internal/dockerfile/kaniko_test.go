package dockerfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCountSteps(t *testing.T) {
	node, err := os.ReadFile(filepath.Join("testdata", "node-multistage.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		dockerfile string
		target     string
		want       int // every stage up to the target (Kaniko's default)
		wantUsed   int // --skip-unused-stages
	}{
		{
			name:       "multi-stage with target",
			dockerfile: string(node),
			target:     "production",
			want:       3 + 4 + 7,
			wantUsed:   3 + 4 + 7,
		},
		{
			name:       "multi-stage, last stage",
			dockerfile: string(node),
			want:       3 + 4 + 7 + 1,
			wantUsed:   3 + 4 + 7 + 1,
		},
		{
			name:       "target in another case",
			dockerfile: string(node),
			target:     "Build",
			want:       3 + 4,
			wantUsed:   3 + 4,
		},
		{
			name:       "single stage",
			dockerfile: "FROM alpine\nRUN apk add curl\nCOPY . /app\nCMD [\"/app/run\"]\n",
			want:       3,
			wantUsed:   3,
		},
		{
			name: "an unused stage before the target is still built by default",
			dockerfile: "FROM golang:1.22 AS tools\nRUN go install example.com/lint@v1\n" +
				"FROM golang:1.22 AS builder\nWORKDIR /src\nCOPY . .\nRUN go build -o /app\n" +
				"FROM alpine AS final\nCOPY --from=builder /app /app\nENTRYPOINT [\"/app\"]\n",
			target:   "final",
			want:     1 + 3 + 2,
			wantUsed: 3 + 2,
		},
		{
			name: "dependency through FROM <stage>",
			dockerfile: "FROM alpine AS base\nRUN apk add tini\n" +
				"FROM alpine AS unused\nRUN true\n" +
				"FROM base AS app\nCOPY app /app\n",
			target:   "app",
			want:     1 + 1 + 1,
			wantUsed: 1 + 1,
		},
		{
			name: "transitive dependencies",
			dockerfile: "FROM alpine AS a\nRUN echo a\n" +
				"FROM alpine AS b\nCOPY --from=a /a /a\nRUN echo b\n" +
				"FROM alpine AS c\nRUN echo c\n" +
				"FROM alpine AS d\nCOPY --from=b /b /b\n",
			want:     1 + 2 + 1 + 1,
			wantUsed: 1 + 2 + 1,
		},
		{
			name:       "continuation lines, comments inside and empty continuation lines",
			dockerfile: "FROM debian:bookworm\nRUN apt-get update && \\\n    # the packages\n    apt-get install -y \\\n\n      curl \\\n      git\nRUN echo done\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "comments and blank lines",
			dockerfile: "# build the api\n\nFROM alpine\n\n  # indented comment\nRUN true # not a comment, an argument\n\n",
			want:       1,
			wantUsed:   1,
		},
		{
			name:       "lowercase instructions and as",
			dockerfile: "from alpine as Builder\nrun make\ncopy . /src\nfrom alpine\ncopy --from=builder /src /src\n",
			want:       2 + 1,
			wantUsed:   2 + 1,
		},
		{
			name:       "heredoc bodies are not instructions",
			dockerfile: "FROM alpine\nRUN <<EOF\nset -e\nRUN this is shell, not Dockerfile\nFROM neither\nEOF\nCOPY <<-EOT /etc/motd\n\thello\n\tEOT\nRUN <<'A' bash && cat <<\"B\"\necho a\nA\nB-body\nB\nCMD [\"sh\"]\n",
			want:       4,
			wantUsed:   4,
		},
		{
			name:       "heredoc-looking text in JSON form is not a heredoc",
			dockerfile: "FROM alpine\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nRUN echo next\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "ONBUILD heredoc",
			dockerfile: "FROM alpine\nONBUILD RUN <<EOF\nFROM x\nEOF\nRUN true\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "escape directive",
			dockerfile: "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nRUN dir `\n    C:\\\nCOPY a b\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "a directive after an instruction is a comment",
			dockerfile: "FROM alpine\n# escape=`\nRUN echo \\\n  continued\n",
			want:       1,
			wantUsed:   1,
		},
		{
			name:       "an escaped escape does not continue",
			dockerfile: "FROM alpine\nRUN echo foo\\\\\nRUN echo bar\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "MAINTAINER is not a step, global ARGs are not steps, stage ARGs are",
			dockerfile: "ARG BASE=alpine\nARG TAG\nFROM ${BASE}:${TAG}\nMAINTAINER someone\nARG BASE\nLABEL a=b\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "FROM --platform",
			dockerfile: "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN go build\nFROM alpine\nCOPY --from=build /x /x\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "CRLF line endings and a byte-order mark",
			dockerfile: "\xef\xbb\xbfFROM alpine\r\nRUN echo a \\\r\n  b\r\nRUN echo c\r\n",
			want:       2,
			wantUsed:   2,
		},
		{
			name:       "every step instruction",
			dockerfile: "FROM a\nADD x y\nARG A\nCMD c\nCOPY x y\nENTRYPOINT e\nENV A=b\nEXPOSE 80\nHEALTHCHECK NONE\nLABEL a=b\nONBUILD RUN x\nRUN x\nSHELL [\"sh\"]\nSTOPSIGNAL SIGTERM\nUSER u\nVOLUME /v\nWORKDIR /w\n",
			want:       16,
			wantUsed:   16,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CountSteps([]byte(tt.dockerfile), tt.target)
			if err != nil {
				t.Fatalf("CountSteps: %v", err)
			}
			if got != tt.want {
				t.Errorf("CountSteps = %d, want %d", got, tt.want)
			}
			used, err := CountStepsSkipUnused([]byte(tt.dockerfile), tt.target)
			if err != nil {
				t.Fatalf("CountStepsSkipUnused: %v", err)
			}
			if used != tt.wantUsed {
				t.Errorf("CountStepsSkipUnused = %d, want %d", used, tt.wantUsed)
			}
		})
	}
}

func TestCountStepsErrors(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		target     string
		want       []string // substrings of the error: what is wrong and how to fix it
	}{
		{"unknown target", "FROM a AS build\nRUN x\nFROM b AS prod\n", "production", []string{`"production"`, "build, prod"}},
		{"target without named stages", "FROM a\nRUN x\n", "prod", []string{`"prod"`, "AS prod"}},
		{"no FROM", "# nothing\nARG X\n", "", []string{"no FROM"}},
		{"empty", "", "", []string{"no FROM"}},
		{"instruction before FROM", "RUN x\nFROM a\n", "", []string{"line 1", "RUN", "before the first FROM"}},
		{"unknown instruction", "FROM a\nRUNN make\n", "", []string{"line 2", `"RUNN"`}},
		{"missing argument", "FROM a\nWORKDIR\n", "", []string{"line 2", "WORKDIR"}},
		{"bad FROM", "FROM a b\n", "", []string{"line 1", "FROM <image>"}},
		{"bad stage name", "FROM a AS 1st\n", "", []string{"line 1", `"1st"`}},
		{"unterminated heredoc", "FROM a\nRUN <<EOF\necho\n", "", []string{"line 2", "EOF"}},
		{"bad escape", "# escape=x\nFROM a\n", "", []string{"line 1", "escape"}},
		{"repeated directive", "# syntax=a\n# syntax=b\nFROM a\n", "", []string{"line 2", "syntax"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CountSteps([]byte(tt.dockerfile), tt.target)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, err2 := CountStepsSkipUnused([]byte(tt.dockerfile), tt.target); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("CountStepsSkipUnused error %v, want %v", err2, err)
			}
		})
	}
}
