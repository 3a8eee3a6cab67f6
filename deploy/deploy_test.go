package deploy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/pulsehq/pulse/deploy"
)

// swaggerFile is the Kubernetes API's OpenAPI v2 document, cut down to the
// definitions Pulse's manifests use (and everything they reference). It
// comes from k8s.io/kube-openapi's copy of the Kubernetes v1.27.0 spec;
// -update-schema regenerates it from the module cache.
const swaggerFile = "testdata/kubernetes-v1.27.0-swagger.json"

var updateSchema = flag.Bool("update-schema", false, "regenerate "+swaggerFile+" from k8s.io/kube-openapi in the module cache")

// kinds are the API kinds the manifests may use, as OpenAPI definitions.
var kinds = []string{
	"io.k8s.api.apps.v1.Deployment",
	"io.k8s.api.apps.v1.StatefulSet",
	"io.k8s.api.batch.v1.Job",
	"io.k8s.api.core.v1.ConfigMap",
	"io.k8s.api.core.v1.Namespace",
	"io.k8s.api.core.v1.Secret",
	"io.k8s.api.core.v1.Service",
	"io.k8s.api.core.v1.ServiceAccount",
	"io.k8s.api.policy.v1.PodDisruptionBudget",
	"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
	"io.k8s.api.networking.v1.NetworkPolicy",
}

// kustomizations are every directory `kubectl apply -k` is meant for.
var kustomizations = []string{"base", "overlays/staging", "overlays/production", "monitoring"}

// render builds a kustomization the way `kustomize build` does and returns
// its objects.
func render(t *testing.T, dir string) []map[string]any {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []map[string]any
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestManifestsValidateAgainstKubernetesSchema(t *testing.T) {
	if *updateSchema {
		writeTrimmedSwagger(t)
	}
	v := newValidator(t)
	for _, dir := range kustomizations {
		objs := render(t, dir)
		if len(objs) == 0 {
			t.Fatalf("%s renders no objects", dir)
		}
		for _, o := range objs {
			b, err := yaml.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			res := v.ValidateResource(resource.Resource{Path: dir, Bytes: b})
			if res.Status != validator.Valid {
				t.Errorf("%s: %s/%s: %v (status %v)", dir, o["kind"], name(o), res.Err, res.Status)
			}
		}
	}
}

// TestValidatorRejectsBadManifests makes sure the validation above can fail:
// an unknown field, a wrong type and a missing required field are errors.
func TestValidatorRejectsBadManifests(t *testing.T) {
	v := newValidator(t)
	bad := map[string]string{
		"unknown field": `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: x, image: x, livenessProbe: {httpGet: {path: /healthz, prot: 80}}}]`,
		"wrong type": `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: x}
  maxReplicas: "six"`,
		"missing required": `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: x}
spec:
  selector: {matchLabels: [a]}`,
	}
	for what, doc := range bad {
		res := v.ValidateResource(resource.Resource{Path: what, Bytes: []byte(doc)})
		if res.Status != validator.Invalid {
			t.Errorf("%s: status %v (err %v), want invalid", what, res.Status, res.Err)
		}
	}
	good := `apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports: [{port: 80, targetPort: http}, {port: 81, targetPort: 8081}]`
	if res := v.ValidateResource(resource.Resource{Path: "good", Bytes: []byte(good)}); res.Status != validator.Valid {
		t.Errorf("int-or-string targetPort: %v %v", res.Status, res.Err)
	}
}

// newValidator writes one strict schema per kind, in kubeconform's layout,
// from the vendored OpenAPI document, and returns a kubeconform validator
// that reads only those files.
func newValidator(t *testing.T) validator.Validator {
	t.Helper()
	raw, err := os.ReadFile(swaggerFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc.Definitions
	// What openapi2jsonschema does for kubeconform's "-strict" schemas:
	// int-or-string and quantities take either form, and objects reject
	// fields they do not define.
	defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	for _, d := range defs {
		strict(d)
	}
	dir := t.TempDir()
	for _, k := range kinds {
		d, ok := defs[k]
		if !ok {
			t.Fatalf("%s is not in %s", k, swaggerFile)
		}
		gvks, _ := d["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) != 1 {
			t.Fatalf("%s: want one group-version-kind, got %v", k, gvks)
		}
		gvk := gvks[0].(map[string]any)
		group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
		suffix := "-" + version
		if group != "" {
			suffix = "-" + strings.Split(group, ".")[0] + "-" + version
		}
		schema := map[string]any{"$ref": "#/definitions/" + k, "definitions": defs}
		b, err := json.Marshal(schema)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.ToLower(kind)+suffix+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v, err := validator.New([]string{dir + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"}, validator.Opts{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// strict sets additionalProperties: false on every object schema that lists
// its properties, recursively.
func strict(s map[string]any) {
	if props, ok := s["properties"].(map[string]any); ok {
		if _, set := s["additionalProperties"]; !set {
			s["additionalProperties"] = false
		}
		for _, p := range props {
			if pm, ok := p.(map[string]any); ok {
				strict(pm)
			}
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		strict(items)
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		strict(ap)
	}
}

// writeTrimmedSwagger copies the definitions of kinds, and all they
// reference, from k8s.io/kube-openapi's Kubernetes spec to swaggerFile.
func writeTrimmedSwagger(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kube-openapi").Output()
	if err != nil {
		t.Fatalf("go list k8s.io/kube-openapi: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg/schemaconv/testdata/swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Info        map[string]any            `json:"info"`
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	keep := map[string]map[string]any{}
	var visit func(name string)
	visit = func(name string) {
		if _, done := keep[name]; done {
			return
		}
		d, ok := doc.Definitions[name]
		if !ok {
			t.Fatalf("definition %s missing", name)
		}
		delete(d, "description")
		keep[name] = d
		for _, ref := range refs(d) {
			visit(ref)
		}
	}
	for _, k := range kinds {
		visit(k)
	}
	dropDescriptions(keep)
	b, err := json.MarshalIndent(map[string]any{"swagger": "2.0", "info": doc.Info, "definitions": keep}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(swaggerFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// refs lists the definitions a schema references.
func refs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				out = append(out, strings.TrimPrefix(s, "#/definitions/"))
			} else {
				out = append(out, refs(e)...)
			}
		}
	case []any:
		for _, e := range x {
			out = append(out, refs(e)...)
		}
	}
	return out
}

// dropDescriptions removes prose from property schemas (kept small on
// disk; it plays no part in validation).
func dropDescriptions(v any) {
	switch x := v.(type) {
	case map[string]map[string]any:
		for _, e := range x {
			dropDescriptions(e)
		}
	case map[string]any:
		if _, isProp := x["description"].(string); isProp {
			delete(x, "description")
		}
		for _, e := range x {
			dropDescriptions(e)
		}
	case []any:
		for _, e := range x {
			dropDescriptions(e)
		}
	}
}

func name(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	n, _ := md["name"].(string)
	return n
}

// get walks a path of map keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func byKind(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestWorkloadsAreOperable checks what schema validation cannot: every
// long-running command has a workload with requests and limits, admin-port
// probes, a disruption budget and the secrets it needs and no others; the
// lag-scaled autoscalers never exceed the partition count; the goka
// processors keep their tables on a volume.
func TestWorkloadsAreOperable(t *testing.T) {
	for _, dir := range []string{"base", "overlays/staging", "overlays/production"} {
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			objs := render(t, dir)
			workloads := append(byKind(objs, "Deployment"), byKind(objs, "StatefulSet")...)
			commands := map[string]bool{}
			for _, w := range workloads {
				n := name(w)
				c := get(w, "spec", "template", "spec", "containers", 0).(map[string]any)
				args, _ := c["args"].([]any)
				cmd := fmt.Sprint(args[0])
				if cmd == "processor" {
					cmd += " " + fmt.Sprint(args[2])
				}
				commands[cmd] = true
				for _, res := range []string{"requests", "limits"} {
					for _, r := range []string{"cpu", "memory"} {
						if get(c, "resources", res, r) == nil {
							t.Errorf("%s: no %s.%s", n, res, r)
						}
					}
				}
				for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
					if get(c, probe, "httpGet", "port") != "admin" || get(c, probe, "httpGet", "path") != path {
						t.Errorf("%s: %s is not GET %s on the admin port: %v", n, probe, path, c[probe])
					}
				}
				if !hasPort(c, "admin", 9091) {
					t.Errorf("%s: no admin port 9091", n)
				}
				checkSecrets(t, n, cmd, w, c)
				// Every consumer group member is static; the API and the
				// refresher join no group.
				if has, want := podNamedInstance(c), cmd != "api" && cmd != "refresher"; has != want {
					t.Errorf("%s: PULSE_GROUP_INSTANCE_ID from the pod name: %v, want %v", n, has, want)
				}
				replicas, _ := get(w, "spec", "replicas").(int)
				if n != "pulse-scheduler" && pdbFor(objs, w) == nil {
					t.Errorf("%s: no PodDisruptionBudget selects it", n)
				}
				if n == "pulse-scheduler" {
					if replicas != 1 || get(w, "spec", "strategy", "type") != "Recreate" {
						t.Errorf("scheduler must be one replica replaced with Recreate (its budget is per process): replicas %d, strategy %v", replicas, get(w, "spec", "strategy"))
					}
				}
				if w["kind"] == "StatefulSet" {
					stateDir := fmt.Sprint(args[4])
					mounts, _ := c["volumeMounts"].([]any)
					if !slices.ContainsFunc(mounts, func(m any) bool {
						return get(m, "mountPath") == stateDir && get(m, "name") == get(w, "spec", "volumeClaimTemplates", 0, "metadata", "name")
					}) {
						t.Errorf("%s: --state-dir %s is not on its volume claim", n, stateDir)
					}
				}
			}
			for _, want := range []string{"api", "scheduler", "fetcher", "processor normalizer", "processor aggregator", "sink", "refresher"} {
				if !commands[want] {
					t.Errorf("no workload runs pulse %s", want)
				}
			}
			if len(byKind(objs, "Job")) != 1 || get(byKind(objs, "Job")[0], "spec", "template", "spec", "containers", 0, "args", 0) != "migrate" {
				t.Errorf("want one Job running pulse migrate")
			}
			if s := byKind(objs, "Secret"); len(s) != 0 {
				t.Errorf("the manifests must not carry secrets; found %d Secret objects", len(s))
			}
			checkAutoscalers(t, objs)
		})
	}
}

// podNamedInstance: the container's PULSE_GROUP_INSTANCE_ID is its pod's
// name, unique among live pods and kept across the container's restarts.
func podNamedInstance(c map[string]any) bool {
	env, _ := c["env"].([]any)
	return slices.ContainsFunc(env, func(e any) bool {
		return get(e, "name") == "PULSE_GROUP_INSTANCE_ID" && get(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.name"
	})
}

func hasPort(c map[string]any, name string, port int) bool {
	ports, _ := c["ports"].([]any)
	return slices.ContainsFunc(ports, func(p any) bool { return get(p, "name") == name && get(p, "containerPort") == port })
}

// checkSecrets: the master keys reach only the commands that decrypt tokens
// (as a read-only file), and platform credentials only those that call the
// platforms' OAuth endpoints.
func checkSecrets(t *testing.T, n, cmd string, w, c map[string]any) {
	t.Helper()
	wantKeys := map[string]bool{"api": true, "fetcher": true, "refresher": true}[cmd]
	hasKeys := false
	vols, _ := get(w, "spec", "template", "spec", "volumes").([]any)
	for _, v := range vols {
		if get(v, "secret", "secretName") == "pulse-master-keys" {
			hasKeys = true
			if get(v, "secret", "defaultMode") != 0o400 {
				t.Errorf("%s: master keys mode %v, want 0400", n, get(v, "secret", "defaultMode"))
			}
		}
	}
	if hasKeys != wantKeys {
		t.Errorf("%s: mounts master keys %v, want %v", n, hasKeys, wantKeys)
	}
	hasPlatforms := false
	envFrom, _ := c["envFrom"].([]any)
	for _, e := range envFrom {
		if get(e, "secretRef", "name") == "pulse-platforms" {
			hasPlatforms = true
		}
	}
	if hasPlatforms != wantKeys {
		t.Errorf("%s: platform credentials %v, want %v", n, hasPlatforms, wantKeys)
	}
	env, _ := c["env"].([]any)
	for _, e := range env {
		if v, ok := get(e, "value").(string); ok && strings.Contains(strings.ToLower(fmt.Sprint(get(e, "name"))), "secret") {
			t.Errorf("%s: %v set in clear: %q", n, get(e, "name"), v)
		}
	}
}

func pdbFor(objs []map[string]any, w map[string]any) map[string]any {
	labels := get(w, "spec", "template", "metadata", "labels").(map[string]any)
	for _, p := range byKind(objs, "PodDisruptionBudget") {
		sel := get(p, "spec", "selector", "matchLabels").(map[string]any)
		match := true
		for k, v := range sel {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			return p
		}
	}
	return nil
}

// checkAutoscalers: every fetcher, processor and sink workload scales on its
// consumer group's lag, at most to the partition count; the API on CPU.
func checkAutoscalers(t *testing.T, objs []map[string]any) {
	t.Helper()
	cm := byKind(objs, "ConfigMap")
	var partitions int
	for _, c := range cm {
		if name(c) == "pulse-config" {
			partitions, _ = strconv.Atoi(fmt.Sprint(get(c, "data", "PULSE_KAFKA_PARTITIONS")))
		}
	}
	if partitions < 1 {
		t.Fatalf("pulse-config has no PULSE_KAFKA_PARTITIONS")
	}
	lagScaled := map[string]string{"pulse-fetcher": "pulse-fetcher", "pulse-normalizer": "pulse-normalizer",
		"pulse-aggregator": "pulse-aggregator", "pulse-sink": "pulse-sink"}
	seen := map[string]bool{}
	for _, h := range byKind(objs, "HorizontalPodAutoscaler") {
		target := fmt.Sprint(get(h, "spec", "scaleTargetRef", "name"))
		seen[target] = true
		maxR, _ := get(h, "spec", "maxReplicas").(int)
		minR, _ := get(h, "spec", "minReplicas").(int)
		if minR < 1 || maxR < minR {
			t.Errorf("%s: replicas %d..%d", target, minR, maxR)
		}
		group, ok := lagScaled[target]
		if !ok {
			continue
		}
		if maxR > partitions {
			t.Errorf("%s: maxReplicas %d > %d partitions: the extra consumers would own no partition", target, maxR, partitions)
		}
		if get(h, "spec", "metrics", 0, "type") != "External" ||
			get(h, "spec", "metrics", 0, "external", "metric", "name") != "pulse_consumer_group_lag" ||
			get(h, "spec", "metrics", 0, "external", "metric", "selector", "matchLabels", "group") != group {
			t.Errorf("%s: does not scale on group %s's lag: %v", target, group, get(h, "spec", "metrics"))
		}
	}
	for _, want := range []string{"pulse-api", "pulse-fetcher", "pulse-normalizer", "pulse-aggregator", "pulse-sink"} {
		if !seen[want] {
			t.Errorf("no autoscaler for %s", want)
		}
	}
}

// TestMonitoringFilesAreWhatTheConfigMapsCarry guards against a generator
// rename: the ConfigMaps carry the files under the names consumers expect.
func TestMonitoringFilesAreWhatTheConfigMapsCarry(t *testing.T) {
	objs := render(t, "monitoring")
	want := map[string]string{"pulse-alerts": "alerts.yaml", "pulse-dashboard": "pulse-dashboard.json", "pulse-prometheus-adapter": "config.yaml"}
	for _, c := range byKind(objs, "ConfigMap") {
		key := want[name(c)]
		if key == "" {
			continue
		}
		if s, _ := get(c, "data", key).(string); !bytes.Contains([]byte(s), []byte("pulse_")) {
			t.Errorf("%s: key %s missing or empty", name(c), key)
		}
		delete(want, name(c))
	}
	if len(want) > 0 {
		t.Errorf("ConfigMaps missing: %v", want)
	}
}

// TestMonitoringQueriesParse: the alert rules pass Prometheus's rule-file
// validation, every dashboard query parses, and each names Pulse metrics
// (that those are exported is checked where the metrics are registered).
func TestMonitoringQueriesParse(t *testing.T) {
	qs, err := deploy.MonitoringQueries()
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, q := range qs {
		if strings.HasPrefix(q.Where, "alert ") {
			alerts++
		}
		names, err := deploy.MetricNames(q)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: names no metric: %s", q.Where, q.Expr)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "pulse_") {
				t.Errorf("%s: %s is not a Pulse metric", q.Where, n)
			}
		}
	}
	if alerts < 5 || len(qs)-alerts < 10 {
		t.Errorf("%d alert rules and %d dashboard queries: files not read?", alerts, len(qs)-alerts)
	}
}
