{{/* Names, labels and the values both components share. */}}

{{- define "gantry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gantry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Component names leave room for the "-receiver" and "-reconciler" suffixes. */}}
{{- define "gantry.receiver.fullname" -}}
{{- printf "%s-receiver" (include "gantry.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}

{{- define "gantry.reconciler.fullname" -}}
{{- printf "%s-reconciler" (include "gantry.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}

{{- define "gantry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "gantry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gantry
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "receiver"). */}}
{{- define "gantry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gantry.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gantry.componentLabels" -}}
{{ include "gantry.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image of one component: call with (dict "ctx" $ "image" .Values.receiver.image). */}}
{{- define "gantry.image" -}}
{{- $reg := .ctx.Values.image.registry | trimSuffix "/" -}}
{{- $tag := .ctx.Values.image.tag | default .ctx.Chart.AppVersion -}}
{{- if $reg -}}
{{- printf "%s/%s:%s" $reg .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "gantry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gantry.reconciler.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The bundled NATS chart's Service name, computed as that chart's nats.fullname does. */}}
{{- define "gantry.nats.fullname" -}}
{{- if .Values.nats.fullnameOverride -}}
{{- .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "nats" .Values.nats.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The NATS URL both components connect to; empty when only externalNats.urlSecret gives it. */}}
{{- define "gantry.nats.url" -}}
{{- if .Values.nats.enabled -}}
{{- if or .Values.externalNats.url .Values.externalNats.urlSecret.name -}}
{{- fail "nats.enabled=true and externalNats are both set: choose the bundled NATS or an external one" -}}
{{- end -}}
{{- $full := include "gantry.nats.fullname" . -}}
{{- $cluster := (.Values.nats.config | default dict).cluster | default dict -}}
{{- if and $cluster.enabled (gt (int ($cluster.replicas | default 1)) 1) -}}
{{- /* Every server of the bundled cluster (the StatefulSet's pods behind its headless
       Service), so that a client reaches the cluster whichever server is down. */ -}}
{{- $urls := list -}}
{{- range $i := until (int $cluster.replicas) -}}
{{- $urls = append $urls (printf "nats://%s-%d.%s-headless.%s.svc:4222" $full $i $full $.Release.Namespace) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- printf "nats://%s.%s.svc:4222" $full .Release.Namespace -}}
{{- end -}}
{{- else if .Values.externalNats.url -}}
{{- .Values.externalNats.url -}}
{{- else if not .Values.externalNats.urlSecret.name -}}
{{- fail "nats.enabled=false needs externalNats.url or externalNats.urlSecret.name" -}}
{{- end -}}
{{- end -}}

{{/* Copies of each stream, bucket and consumer Gantry creates: natsReplicas when set; else 3
     when the bundled NATS is a cluster of 3 or more servers; else 1. */}}
{{- define "gantry.nats.replicas" -}}
{{- $cluster := (.Values.nats.config | default dict).cluster | default dict -}}
{{- if .Values.natsReplicas -}}
{{- int .Values.natsReplicas -}}
{{- else if and .Values.nats.enabled $cluster.enabled (ge (int ($cluster.replicas | default 1)) 3) -}}
3
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* GANTRY_NATS_URL from a Secret, when one is named. */}}
{{- define "gantry.nats.env" -}}
{{- if and (not .Values.nats.enabled) .Values.externalNats.urlSecret.name }}
- name: GANTRY_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalNats.urlSecret.name }}
      key: {{ .Values.externalNats.urlSecret.key }}
{{- end }}
{{- end -}}

{{/* Scheduling and pod-level settings shared by both Deployments:
call with (dict "ctx" $ "c" .Values.receiver "component" "receiver"). */}}
{{- define "gantry.podScheduling" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml .c.topologySpreadConstraints | nindent 2 }}
{{- else if not .c.affinity }}
# Replicas on different nodes when there are several, so that one node's drain or loss
# leaves the other serving (the PodDisruptionBudget covers only voluntary evictions).
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "gantry.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 8 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* The namespaces a namespace-scoped RBAC covers. */}}
{{- define "gantry.rbac.namespaces" -}}
{{- if .Values.rbac.namespaces -}}
{{- toJson .Values.rbac.namespaces -}}
{{- else -}}
{{- toJson (list .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{/* reconciler.yaml (contract section 4): the values minus the chart's Secret references,
which become environment variables and mounted files instead. */}}
{{- define "gantry.reconciler.config" -}}
{{- $c := .Values.reconciler.config -}}
{{- $forges := list -}}
{{- range $c.forges -}}
{{- $forges = append $forges (omit . "tokenSecret") -}}
{{- end -}}
{{- $repositories := list -}}
{{- range $c.repositories -}}
{{- $repositories = append $repositories (omit . "tokenSecret") -}}
{{- end -}}
{{- $clusters := list -}}
{{- range $c.clusters -}}
{{- if .kubeconfigSecret -}}
{{- $clusters = append $clusters (merge (dict "kubeconfig" (printf "/etc/gantry/clusters/%s/kubeconfig" .name)) (omit . "kubeconfigSecret")) -}}
{{- else -}}
{{- $clusters = append $clusters . -}}
{{- end -}}
{{- end -}}
{{- $out := dict "concurrency" $c.concurrency "forges" $forges "repositories" $repositories "clusters" $clusters -}}
{{- $nats := dict "replicas" (int (include "gantry.nats.replicas" .)) -}}
{{- with include "gantry.nats.url" . -}}
{{- $_ := set $nats "url" . -}}
{{- end -}}
{{- $_ := set $out "nats" $nats -}}
{{- with $c.workerId -}}
{{- $_ := set $out "workerId" . -}}
{{- end -}}
{{- with $c.publicUrl -}}
{{- $_ := set $out "publicUrl" . -}}
{{- end -}}
{{- with $c.resync -}}
{{- $_ := set $out "resync" . -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Whole seconds of a duration the schema allows ("25s", "2m"). */}}
{{- define "gantry.seconds" -}}
{{- if hasSuffix "m" . -}}
{{- mul (trimSuffix "m" . | int) 60 -}}
{{- else -}}
{{- trimSuffix "s" . | int -}}
{{- end -}}
{{- end -}}
