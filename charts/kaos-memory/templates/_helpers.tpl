{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "kaos-memory.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name plus chart name, unless the release name already contains it. */}}
{{- define "kaos-memory.fullname" -}}
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

{{- define "kaos-memory.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kaos-memory.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kaos-memory.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kaos-memory.labels" -}}
helm.sh/chart: {{ include "kaos-memory.chart" . }}
{{ include "kaos-memory.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kaos-memory
{{- end }}

{{/* Labels of one component; call with (dict "ctx" $ "component" "webhook"). */}}
{{- define "kaos-memory.componentLabels" -}}
{{ include "kaos-memory.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "kaos-memory.componentSelectorLabels" -}}
{{ include "kaos-memory.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Resource names, in one place so templates and env agree. */}}
{{- define "kaos-memory.webhookName" -}}
{{- printf "%s-webhook" (include "kaos-memory.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kaos-memory.redisName" -}}
{{- printf "%s-redis" (include "kaos-memory.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kaos-memory.serviceAccountName" -}}
{{- default (include "kaos-memory.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The Secret holding the serving certificate in self-managed and cert-manager modes. */}}
{{- define "kaos-memory.certSecretName" -}}
{{- if eq .Values.certificates.mode "secret" }}
{{- .Values.certificates.secret.name }}
{{- else }}
{{- printf "%s-webhook-tls" (include "kaos-memory.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "kaos-memory.certificateName" -}}
{{- printf "%s-webhook" (include "kaos-memory.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kaos-memory.webhookImage" -}}
{{- printf "%s:%s" .Values.webhook.image.repository (default .Chart.AppVersion .Values.webhook.image.tag) }}
{{- end }}

{{/* The sidecar runs the same image as the webhook unless told otherwise. */}}
{{- define "kaos-memory.sidecarImage" -}}
{{- $repo := default .Values.webhook.image.repository .Values.sidecar.image.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.webhook.image.tag) .Values.sidecar.image.tag }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{- define "kaos-memory.redisSecretName" -}}
{{- default (include "kaos-memory.redisName" .) .Values.redis.auth.existingSecret }}
{{- end }}

{{- define "kaos-memory.redisSecretKey" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecretKey }}
{{- else }}
{{- "redis-password" }}
{{- end }}
{{- end }}

{{/* MEMORY_REDIS_URL for agents: the value given, else the bundled Redis Service. */}}
{{- define "kaos-memory.agentRedisUrl" -}}
{{- if .Values.agentDefaults.memory.redisUrl }}
{{- .Values.agentDefaults.memory.redisUrl }}
{{- else if .Values.redis.enabled }}
{{- printf "redis://%s.%s.svc.%s:6379" (include "kaos-memory.redisName" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}
{{- end }}

{{/* "secret-name/key" of the agents' Redis password, or empty when there is none. */}}
{{- define "kaos-memory.agentPasswordSecret" -}}
{{- $ps := .Values.agentDefaults.memory.passwordSecret }}
{{- if $ps.name }}
{{- printf "%s/%s" $ps.name (default "redis-password" $ps.key) }}
{{- else if and .Values.redis.enabled .Values.redis.auth.enabled (not .Values.agentDefaults.memory.redisUrl) }}
{{- printf "%s/%s" (include "kaos-memory.redisSecretName" .) (include "kaos-memory.redisSecretKey" .) }}
{{- end }}
{{- end }}

{{/* The name alone of the agents' password Secret, or empty. */}}
{{- define "kaos-memory.agentPasswordSecretName" -}}
{{- $ref := include "kaos-memory.agentPasswordSecret" . }}
{{- if $ref }}{{ first (splitList "/" $ref) }}{{ end }}
{{- end }}

{{/*
"true" when the webhook copies the password Secret from the release namespace into every
namespace where it injects a pod (INJECT_REDIS_PASSWORD_COPY), else empty.
*/}}
{{- define "kaos-memory.copyPassword" -}}
{{- if and (include "kaos-memory.agentPasswordSecret" .) .Values.agentDefaults.memory.passwordSecret.copyToAgentNamespaces }}true{{ end }}
{{- end }}

{{/*
The tenant controller's mode (webhook/tenants.ts): managed, provided, or empty when
isolation is off. managed needs the bundled Redis with auth (it acts as its admin user).
*/}}
{{- define "kaos-memory.tenants" -}}
{{- $iso := .Values.isolation | default dict }}
{{- if or (dig "enabled" false $iso) (eq (dig "default" "shared" $iso) "namespace") }}
{{- $mode := dig "tenantSecrets" "managed" $iso }}
{{- if and (eq $mode "managed") (not (and .Values.redis.enabled .Values.redis.auth.enabled)) }}
{{- fail "isolation.tenantSecrets: managed needs the bundled Redis with auth (redis.enabled, redis.auth.enabled); use provided for a Redis you run yourself" }}
{{- end }}
{{- $mode }}
{{- end }}
{{- end }}

{{/* The namespaces never injected (and never given a password copy), as a YAML list. */}}
{{- define "kaos-memory.excludedNamespaces" -}}
{{- concat (list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace) .Values.webhook.excludedNamespaces | uniq | toYaml }}
{{- end }}

{{/*
The bundled Redis password: the value given, else the one already stored (kept across
upgrades through lookup), else a new random one. Rendered once per release render.
*/}}
{{- define "kaos-memory.redisPassword" -}}
{{- if .Values.redis.auth.password }}
{{- .Values.redis.auth.password }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "kaos-memory.redisName" .) }}
{{- if and $existing $existing.data (index $existing.data "redis-password") }}
{{- index $existing.data "redis-password" | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kaos-memory.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "kaos-memory.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}
