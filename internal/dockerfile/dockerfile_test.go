package dockerfile

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseStages(t *testing.T) {
	d, err := Parse([]byte("ARG BASE=golang\nARG TAG\n# the build\nFROM --platform=$BUILDPLATFORM ${BASE}:1.22 AS Build\nRUN go build\nMAINTAINER me\n" +
		"FROM alpine\nCOPY --from=build /app /app\nCOPY --from=0 /b /b\nCOPY x y\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{
		{Name: "build", Base: "${BASE}:1.22", Line: 4, Steps: 1},
		{Base: "alpine", Line: 7, Steps: 3, CopyFrom: []string{"build", "0"}},
	}
	if !reflect.DeepEqual(d.Stages, want) {
		t.Errorf("stages\n got %+v\nwant %+v", d.Stages, want)
	}
	if len(d.MetaArgs) != 2 || d.MetaArgs[0].Name != "BASE" || d.MetaArgs[0].Default == nil || *d.MetaArgs[0].Default != "golang" ||
		d.MetaArgs[1].Name != "TAG" || d.MetaArgs[1].Default != nil {
		t.Errorf("meta args %+v", d.MetaArgs)
	}
}

func TestBaseImages(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		target     string
		args       map[string]string
		want       []string
		wantErr    []string
	}{
		{name: "single stage", dockerfile: "FROM alpine:3.20\nRUN true\n", want: []string{"alpine:3.20"}},
		{
			name:       "build args override defaults of global ARGs",
			dockerfile: "ARG BASE=alpine\nARG TAG=3.20\nFROM ${BASE}:${TAG}\n",
			args:       map[string]string{"TAG": "3.21"},
			want:       []string{"alpine:3.21"},
		},
		{
			name: "only the stages the target needs",
			dockerfile: "FROM golang:1.22 AS tools\nRUN go install example.com/lint@v1\n" +
				"FROM golang:1.23 AS builder\nRUN go build -o /app\n" +
				"FROM alpine AS final\nCOPY --from=builder /app /app\n" +
				"FROM debian AS debug\nCOPY --from=builder /app /app\n",
			target: "final",
			want:   []string{"golang:1.23", "alpine"},
		},
		{
			name:       "FROM an earlier stage pulls that stage's image",
			dockerfile: "FROM node:20 AS base\nRUN npm ci\nFROM BASE AS app\nCOPY . .\n",
			want:       []string{"node:20"},
		},
		{
			name:       "COPY --from a stage index",
			dockerfile: "FROM a.io/one:1\nRUN x\nFROM a.io/two:1\nCOPY --from=0 /x /x\n",
			want:       []string{"a.io/one:1", "a.io/two:1"},
		},
		{
			name:       "scratch pulls nothing and repeats are left out",
			dockerfile: "FROM alpine AS a\nFROM alpine AS b\nCOPY --from=a / /\nFROM scratch\nCOPY --from=b / /\n",
			want:       []string{"alpine"},
		},
		{
			name:       "platform args need no ARG line",
			dockerfile: "FROM ${TARGETARCH}/alpine\n",
			args:       map[string]string{"TARGETARCH": "arm64"},
			want:       []string{"arm64/alpine"},
		},
		{
			name:       "an unset arg that leaves no image",
			dockerfile: "ARG BASE\nFROM ${BASE}\n",
			wantErr:    []string{"line 2", "BASE has no value"},
		},
		{
			name:       "a stage's own ARG is not visible to FROM",
			dockerfile: "FROM alpine AS a\nARG V=1\nFROM busybox:${V}\n",
			args:       map[string]string{"V": "2"},
			wantErr:    []string{"line 3", `"busybox:"`, "V has no value"},
		},
		{name: "unknown target", dockerfile: "FROM a AS x\n", target: "y", wantErr: []string{`"y"`, "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.BaseImages(tt.target, tt.args)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("BaseImages = %q, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BaseImages = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNeeds(t *testing.T) {
	d, err := Parse([]byte("FROM a AS one\nFROM b AS two\nCOPY --from=one / /\nFROM c AS three\nFROM two AS four\nCOPY --from=nginx:1 / /\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Needs(3), []int{0, 1, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("Needs(3) = %v, want %v", got, want)
	}
	if got, want := d.Needs(2), []int{2}; !reflect.DeepEqual(got, want) {
		t.Errorf("Needs(2) = %v, want %v", got, want)
	}
}

func TestCopiedImages(t *testing.T) {
	tests := []struct {
		name, dockerfile, target string
		want                     []string
		wantErr                  string
	}{
		{name: "none", dockerfile: "FROM alpine\nCOPY . /app\n"},
		{
			name:       "an image, once, and not the stages",
			dockerfile: "FROM golang AS build\nRUN true\nFROM alpine\nCOPY --from=build /a /a\nCOPY --from=busybox:1.36 /bin/sh /sh\nCOPY --from=busybox:1.36 /bin/ls /ls\nCOPY --from=0 /b /b\n",
			want:       []string{"busybox:1.36"},
		},
		{
			name:       "only stages the target needs",
			dockerfile: "FROM alpine AS a\nCOPY --from=nginx /x /x\nFROM alpine AS b\nCOPY --from=redis /y /y\n",
			target:     "b",
			want:       []string{"redis"},
		},
		{name: "a variable", dockerfile: "FROM alpine\nARG SRC=busybox\nCOPY --from=${SRC} /x /x\n", wantErr: "uses a variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.CopiedImages(tt.target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
