package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads compose/docker-compose.yml the way `docker compose`
// does, with dotEnv as compose/.env (none if empty).
func loadCompose(t *testing.T, dotEnv string) (*types.Project, error) {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile("../compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if dotEnv != "" {
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotEnv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir), cli.WithName("pulse"), cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// filledExample is compose/env.example with the required values set.
func filledExample(t *testing.T, masterKeys string) string {
	t.Helper()
	b, err := os.ReadFile("../compose/env.example")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = strings.Replace(s, "\nPULSE_MASTER_KEYS=\n", "\nPULSE_MASTER_KEYS="+masterKeys+"\n", 1)
	s = strings.Replace(s, "\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=pg-secret\n", 1)
	s = strings.Replace(s, "\nCLICKHOUSE_PASSWORD=\n", "\nCLICKHOUSE_PASSWORD=ch-secret\n", 1)
	return s
}

func TestComposeRefusesToStartWithoutSecrets(t *testing.T) {
	if _, err := loadCompose(t, ""); err == nil {
		t.Fatal("compose loaded without compose/.env")
	}
	example, err := os.ReadFile("../compose/env.example")
	if err != nil {
		t.Fatal(err)
	}
	// The template as shipped (empty values) must not start.
	_, err = loadCompose(t, string(example))
	if err == nil || !strings.Contains(err.Error(), "PULSE_MASTER_KEYS") && !strings.Contains(err.Error(), "PASSWORD") {
		t.Fatalf("empty template: err %v, want a refusal naming the missing secret", err)
	}
	// Only the master key missing: refused, naming it.
	_, err = loadCompose(t, strings.Replace(filledExample(t, "k1:x"), "PULSE_MASTER_KEYS=k1:x\n", "", 1))
	if err == nil || !strings.Contains(err.Error(), "PULSE_MASTER_KEYS") {
		t.Fatalf("no master key: err %v, want a refusal naming PULSE_MASTER_KEYS", err)
	}
}

func TestComposeIsASafeTemplate(t *testing.T) {
	const keys = "k1:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
	p, err := loadCompose(t, filledExample(t, keys))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("../compose/docker-compose.yml")
	if m := regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}`).Find(raw); m != nil {
		t.Errorf("docker-compose.yml holds what looks like a key: %s", m)
	}
	pulse := 0
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q, want 127.0.0.1", name, port.Published, port.HostIP)
			}
		}
		v := s.Environment["PULSE_MASTER_KEYS"]
		switch name {
		case "sim", "kafka", "clickhouse", "postgres":
			if v != nil {
				t.Errorf("%s gets the master keys", name)
			}
		default:
			pulse++
			if v == nil || *v != keys {
				t.Errorf("%s: master keys %v, want the ones from .env", name, v)
			}
			if u := s.Environment["PULSE_POSTGRES_URL"]; u == nil || !strings.Contains(*u, ":pg-secret@") {
				t.Errorf("%s: postgres URL without the password from .env", name)
			}
		}
	}
	if pulse < 7 || p.Services["sim"].Ports == nil {
		t.Errorf("%d Pulse services, sim ports %v: compose file not what this test expects", pulse, p.Services["sim"].Ports)
	}
}
