{{/* Chart name, overridable with .Values.nameOverride. */}}
{{- define "kubetune.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name used as the prefix of every resource: <release>-<chart>, or the release name
alone when it already contains the chart name. 63 characters at most (DNS label).
*/}}
{{- define "kubetune.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart label value: name-version. */}}
{{- define "kubetune.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator pod; never change between upgrades. */}}
{{- define "kubetune.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubetune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels on every resource of the chart. */}}
{{- define "kubetune.labels" -}}
helm.sh/chart: {{ include "kubetune.chart" . }}
{{ include "kubetune.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubetune
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "kubetune.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubetune.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image reference: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "kubetune.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Fails the render on value combinations that cannot work. */}}
{{- define "kubetune.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail "replicaCount > 1 needs peering.enabled=true: two unpaired operators would both reconcile the same TuningJobs" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes through the Service" }}
{{- end }}
{{- with .Values.image.digest }}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" .) }}
{{- fail (printf "image.digest: %q is not an image digest; give sha256: and the 64 hex digits that docker inspect or the registry shows, or leave it empty to use image.tag" .) }}
{{- end }}
{{- end }}
{{- if .Values.admissionPolicy.enabled }}
{{- $actions := .Values.admissionPolicy.validationActions }}
{{- if or (not (kindIs "slice" $actions)) (empty $actions) }}
{{- fail "admissionPolicy.validationActions: give a list of one or more actions: [Deny], or [Warn, Audit] to only report" }}
{{- end }}
{{- if ne (len $actions) (len (uniq $actions)) }}
{{- fail (printf "admissionPolicy.validationActions: %v names an action twice; name each once" $actions) }}
{{- end }}
{{- if and (has "Deny" $actions) (has "Warn" $actions) }}
{{- fail "admissionPolicy.validationActions: Deny and Warn exclude each other (the API server refuses both); use [Deny], or [Warn, Audit] to only report" }}
{{- end }}
{{- range $actions }}
{{- if not (has . (list "Deny" "Warn" "Audit")) }}
{{- fail (printf "admissionPolicy.validationActions: %q is not an action; use Deny, Warn or Audit" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq (int .Values.operator.healthPort) (int .Values.operator.metricsPort) }}
{{- fail (printf "operator.healthPort and operator.metricsPort are both %v: the operator serves /healthz and /metrics on two ports; give them different ones" .Values.operator.healthPort) }}
{{- end }}
{{- $watch := include "kubetune.watchNamespaces" . | fromJsonArray }}
{{- range $watch }}
{{- if eq . "" }}
{{- fail (printf "watchNamespaces: an empty name in %s; list namespace names only, or, to watch every namespace, give none: --set 'watchNamespaces={}', --set watchNamespaces=null, or watchNamespaces: [] in a values file" (toJson $watch)) }}
{{- end }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name; the namespaced mode grants a Role in each listed namespace, so patterns cannot be used (to watch every namespace, give none: --set 'watchNamespaces={}', --set watchNamespaces=null, or watchNamespaces: [] in a values file)" .) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The namespaces to watch, as a JSON list (`include "kubetune.watchNamespaces" . | fromJsonArray`):
.Values.watchNamespaces, where no names at all means every namespace. `--set 'watchNamespaces={}'`
gives [""] (Helm reads {} as one empty item), which means none too; `--set watchNamespaces=null`
leaves the key out. The other templates read the list only through this.
*/}}
{{- define "kubetune.watchNamespaces" -}}
{{- $names := .Values.watchNamespaces | default list }}
{{- if not (kindIs "slice" $names) }}
{{- fail (printf "watchNamespaces: %q is not a list; give --set 'watchNamespaces={%v}' (braces), or a YAML list in a values file" $names $names) }}
{{- end }}
{{- if and (eq (len $names) 1) (eq (toString (first $names)) "") }}
{{- $names = list }}
{{- end }}
{{- toJson $names }}
{{- end }}
