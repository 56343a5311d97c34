package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifests holds every object of deploy/kubernetes, decoded strictly:
// a misspelt or misplaced field is an error, as kubectl --validate=strict
// would make it.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	configMaps  map[string]*corev1.ConfigMap
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}, map[string]*corev1.Secret{}, map[string]*corev1.ConfigMap{}}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s, document %d: %v", file, i+1, err)
			}
			if head.Kind == "" {
				continue // comments only
			}
			where := fmt.Sprintf("%s, document %d (%s)", file, i+1, head.Kind)
			var obj interface{ GetName() string }
			var wantAPI string
			switch head.Kind {
			case "Deployment":
				obj, wantAPI = &appsv1.Deployment{}, "apps/v1"
			case "Service":
				obj, wantAPI = &corev1.Service{}, "v1"
			case "Secret":
				obj, wantAPI = &corev1.Secret{}, "v1"
			case "ConfigMap":
				obj, wantAPI = &corev1.ConfigMap{}, "v1"
			default:
				t.Fatalf("%s: a kind this test does not know", where)
			}
			if head.APIVersion != wantAPI {
				t.Errorf("%s: apiVersion %q, want %q", where, head.APIVersion, wantAPI)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if obj.GetName() == "" {
				t.Errorf("%s: no metadata.name", where)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.deployments[o.Name] = o
			case *corev1.Service:
				m.services[o.Name] = o
			case *corev1.Secret:
				m.secrets[o.Name] = o
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			}
		}
	}
	return m
}

func TestKubernetesManifestsAreCompleteAndConsistent(t *testing.T) {
	m := loadManifests(t)
	for _, name := range []string{"gatehouse-api", "gatehouse-edge"} {
		if m.deployments[name] == nil {
			t.Fatalf("no Deployment %s", name)
		}
	}
	secret := m.secrets["gatehouse"]
	if secret == nil || secret.StringData["GATEHOUSE_MASTER_KEY"] == "" || secret.StringData["DATABASE_URL"] == "" {
		t.Fatalf("Secret gatehouse must hold GATEHOUSE_MASTER_KEY and DATABASE_URL: %+v", secret)
	}
	wantCommand := map[string]string{"gatehouse-api": "serve", "gatehouse-edge": "edge"}
	for name, d := range m.deployments {
		spec := d.Spec.Template.Spec
		if d.Spec.Selector == nil || !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("%s: the selector does not select its own pods", name)
		}
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers", name, len(spec.Containers))
		}
		c := spec.Containers[0]
		if len(c.Args) == 0 || c.Args[0] != wantCommand[name] {
			t.Errorf("%s: args %v, want gatehouse %s", name, c.Args, wantCommand[name])
		}
		// --config names a file of a mounted ConfigMap.
		i := slices.Index(c.Args, "--config")
		if i < 0 || i+1 >= len(c.Args) {
			t.Errorf("%s: no --config", name)
		} else if !mountedConfigKey(m, spec, c, c.Args[i+1]) {
			t.Errorf("%s: --config %s is not a key of a mounted ConfigMap", name, c.Args[i+1])
		}
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "gatehouse" {
			t.Errorf("%s: the environment must come from Secret gatehouse: %+v", name, c.EnvFrom)
		}
		for what, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if p == nil {
				t.Errorf("%s: no %s probe", name, what)
				continue
			}
			var port intstr.IntOrString
			switch {
			case p.HTTPGet != nil:
				port = p.HTTPGet.Port
				if !strings.HasPrefix(p.HTTPGet.Path, "/") {
					t.Errorf("%s: %s probe path %q", name, what, p.HTTPGet.Path)
				}
			case p.TCPSocket != nil:
				port = p.TCPSocket.Port
			default:
				t.Errorf("%s: %s probe is neither HTTP nor TCP", name, what)
				continue
			}
			if !hasPort(c, port) {
				t.Errorf("%s: %s probe port %s is not a container port", name, what, port.String())
			}
		}
		if name == "gatehouse-api" && (c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz") {
			t.Errorf("%s: readiness must be /readyz", name)
		}
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: the container must not escalate, must have a read-only root and drop every capability", name)
		}
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: runAsNonRoot", name)
		}
	}
	// Every Service reaches a Deployment's pods on a port they open.
	for name, s := range m.services {
		var target *appsv1.Deployment
		for _, d := range m.deployments {
			if len(s.Spec.Selector) > 0 && subset(s.Spec.Selector, d.Spec.Template.Labels) {
				target = d
			}
		}
		if target == nil {
			t.Errorf("Service %s selects no Deployment's pods", name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if !hasPort(target.Spec.Template.Spec.Containers[0], p.TargetPort) {
				t.Errorf("Service %s: targetPort %s is not a port of %s", name, p.TargetPort.String(), target.Name)
			}
		}
	}
	if len(m.services) < 2 {
		t.Errorf("want a Service for the API and one for the edges, have %d", len(m.services))
	}
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func hasPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}

// mountedConfigKey reports whether path is a key of a ConfigMap that c
// mounts, as a file of the mount's directory.
func mountedConfigKey(m manifests, spec corev1.PodSpec, c corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		if filepath.Dir(path) != filepath.Clean(vm.MountPath) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			cm := m.configMaps[v.ConfigMap.Name]
			if cm != nil && cm.Data[filepath.Base(path)] != "" {
				return true
			}
		}
	}
	return false
}

func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	type healthcheck struct {
		Test        []string `json:"test"`
		Interval    string   `json:"interval"`
		Timeout     string   `json:"timeout"`
		StartPeriod string   `json:"start_period"`
		Retries     int      `json:"retries"`
	}
	var compose struct {
		Services map[string]struct {
			Image string `json:"image"`
			Build *struct {
				Context string            `json:"context"`
				Args    map[string]string `json:"args"`
			} `json:"build"`
			Command     []string          `json:"command"`
			Environment map[string]string `json:"environment"`
			Volumes     []string          `json:"volumes"`
			Ports       []string          `json:"ports"`
			Healthcheck *healthcheck      `json:"healthcheck"`
			DependsOn   map[string]struct {
				Condition string `json:"condition"`
			} `json:"depends_on"`
			Restart string `json:"restart"`
		} `json:"services"`
		Volumes map[string]any `json:"volumes"`
	}
	if err := yaml.UnmarshalStrict(data, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	gh, ok := compose.Services["gatehouse"]
	if !ok || gh.Build == nil || gh.Build.Context != "." {
		t.Fatalf("no gatehouse service built from the Dockerfile: %+v", gh)
	}
	hc := gh.Healthcheck
	if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/gatehouse" || hc.Test[2] != "healthcheck" ||
		!strings.HasSuffix(hc.Test[len(hc.Test)-1], ":8080/readyz") {
		t.Errorf("gatehouse healthcheck must run the image's gatehouse healthcheck on the API's /readyz: %+v", hc)
	}
	if pg := compose.Services["postgres"]; pg.Healthcheck == nil || gh.DependsOn["postgres"].Condition != "service_healthy" {
		t.Error("gatehouse must wait for a healthy postgres")
	}
	// The master key is not required by the file, so that
	// `docker compose run --rm gatehouse keys generate-master` works
	// before there is one (${VAR:?} fails the whole file).
	if mk := gh.Environment["GATEHOUSE_MASTER_KEY"]; mk != "${GATEHOUSE_MASTER_KEY:-}" {
		t.Errorf("GATEHOUSE_MASTER_KEY: %q", mk)
	}
	if strings.Contains(string(data), ":?") {
		t.Error("a required ${VAR:?} makes every docker compose command fail without it")
	}
	// The image listens on 0.0.0.0 (Dockerfile), and compose publishes
	// those ports.
	docker, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GATEHOUSE_API_ADDR=0.0.0.0:8080", "GATEHOUSE_EDGE_ADDR=0.0.0.0:8000"} {
		if !bytes.Contains(docker, []byte(want)) {
			t.Errorf("Dockerfile does not set %s", want)
		}
	}
	for _, want := range []string{"127.0.0.1:8080:8080", "127.0.0.1:8000:8000"} {
		if !slices.Contains(gh.Ports, want) {
			t.Errorf("gatehouse does not publish %s: %v", want, gh.Ports)
		}
	}
	// docker compose config validates against the compose schema, where
	// the client is installed (it needs no engine).
	if _, err := exec.LookPath("docker"); err == nil {
		cmd := exec.Command("docker", "compose", "-f", "../docker-compose.yml", "config", "--quiet")
		cmd.Env = append(os.Environ(), "GATEHOUSE_MASTER_KEY=")
		if out, err := cmd.CombinedOutput(); err != nil {
			if bytes.Contains(out, []byte("is not a docker command")) || bytes.Contains(out, []byte("unknown")) {
				t.Logf("docker compose is not installed: %s", out)
			} else {
				t.Errorf("docker compose config: %v\n%s", err, out)
			}
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("systemd/gatehouse.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	section := ""
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("line %d: %q is not KEY=VALUE in a section", n+1, line)
			}
			keys[section+"."+k] = append(keys[section+"."+k], v)
		}
	}
	for key, want := range map[string]string{
		"Service.ExecStart":       "/usr/local/bin/gatehouse serve --config /etc/gatehouse/gatehouse.yaml",
		"Service.DynamicUser":     "yes",
		"Service.NoNewPrivileges": "yes",
		"Service.ProtectSystem":   "strict",
		"Service.ProtectHome":     "yes",
		"Service.PrivateTmp":      "yes",
		"Service.StateDirectory":  "gatehouse",
		"Service.EnvironmentFile": "/etc/gatehouse/gatehouse.env",
		"Install.WantedBy":        "multi-user.target",
	} {
		if got := keys[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if !slices.Contains(keys["Service.Environment"], "GATEHOUSE_STATE_DIR=/var/lib/gatehouse/edge-state") {
		t.Errorf("the edge's state must live in the StateDirectory: %q", keys["Service.Environment"])
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is not installed (.ci/run installs systemd)")
		}
		t.Log("systemd-analyze is not installed: the unit was only parsed")
		return
	}
	// verify checks every directive and that ExecStart is executable: it
	// runs on a copy that starts a real gatehouse binary.
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit := filepath.Join(dir, "gatehouse.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/gatehouse"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The command line it runs is one the binary takes.
	cfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("api-addr: 127.0.0.1:8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "serve", "--config", cfg, "--help").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--config")) {
		t.Errorf("gatehouse serve --config: %v\n%s", err, out)
	}
}
