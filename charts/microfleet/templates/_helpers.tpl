{{/* The name of every object of the release. */}}
{{- define "microfleet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "microfleet.labels" -}}
app.kubernetes.io/name: microfleet-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels that select the operator's pods. */}}
{{- define "microfleet.selectorLabels" -}}
app.kubernetes.io/name: microfleet-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of the objects Prometheus and Grafana pick up. */}}
{{- define "microfleet.monitoringLabels" -}}
{{ include "microfleet.labels" . }}
{{- with .Values.extraLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "microfleet.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "microfleet.fetcherImage" -}}
{{- printf "%s:%s" .Values.fetcherImage.repository (default .Chart.AppVersion .Values.fetcherImage.tag) -}}
{{- end -}}

{{/* A label map as k=v,k=v (for the operator's --rule-labels). */}}
{{- define "microfleet.labelList" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
