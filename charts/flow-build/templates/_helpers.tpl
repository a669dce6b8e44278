{{- define "flow-build.name" -}}flow-build-manager{{- end -}}

{{- define "flow-build.labels" -}}
app.kubernetes.io/name: flow-build
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "flow-build.selector" -}}
app.kubernetes.io/name: flow-build
app.kubernetes.io/component: manager
{{- end -}}

{{- define "flow-build.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
