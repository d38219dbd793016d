{{/* The chart's name, or nameOverride. */}}
{{- define "municipio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name. Short, since suffixes are added to it. */}}
{{- define "municipio.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else if contains (include "municipio.name" .) .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "municipio.name" .) | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "municipio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "municipio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "municipio.labels" -}}
{{ include "municipio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "municipio.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The leader election Lease: `municipio run` names it after the tenant selector (the
first 10 hex digits of its SHA-256), so shards have their own. */}}
{{- define "municipio.lease" -}}
{{- if .Values.operator.tenantSelector }}
{{- printf "municipio-controller-%s" (sha256sum .Values.operator.tenantSelector | trunc 10) }}
{{- else }}
{{- print "municipio-controller" }}
{{- end }}
{{- end }}

{{/* Names shared by several templates. */}}
{{/* The role the operator binds a municipality's administrators to in its namespace. */}}
{{- define "municipio.tenantAdminRole" -}}{{ include "municipio.fullname" . }}-tenant-admin{{- end }}
{{- define "municipio.webhookService" -}}{{ include "municipio.fullname" . }}-webhook{{- end }}
{{- define "municipio.webhookConfiguration" -}}{{ include "municipio.fullname" . }}{{- end }}
{{- define "municipio.webhookSecret" -}}
{{- default (printf "%s-webhook-tls" (include "municipio.fullname" .)) .Values.webhook.tls.existingSecret }}
{{- end }}
