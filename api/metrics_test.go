package api_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// counter reads pulse_api_requests_total{operation, code} from the
// process's registry.
func counter(t *testing.T, operation, code string) float64 {
	t.Helper()
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "pulse_api_requests_total" {
			continue
		}
		for _, m := range f.Metric {
			if label(m, "operation") == operation && label(m, "code") == code {
				return m.Counter.GetValue()
			}
		}
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestRequestMetricsByOperation: a GraphQL query counts under its root
// fields ("query links"), a failing one as an error, and a route under its
// pattern with its status, never under a raw path.
func TestRequestMetricsByOperation(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("metrics@example.com")
	links, feedErr := counter(t, "query links", "ok"), counter(t, "mutation unlink", "error")
	login := counter(t, "POST /auth/login", "401")
	b.mustGraphQL(`{ links { platform } }`, nil, nil)
	b.graphql(`mutation { unlink(linkId: "00000000-0000-0000-0000-000000000000") }`, nil, nil)
	b.login("metrics@example.com", "wrong password!!")
	if got := counter(t, "query links", "ok") - links; got != 1 {
		t.Errorf("query links counted %v times, want 1", got)
	}
	if got := counter(t, "mutation unlink", "error") - feedErr; got != 1 {
		t.Errorf("failed unlink counted %v times as an error, want 1", got)
	}
	if got := counter(t, "POST /auth/login", "401") - login; got != 1 {
		t.Errorf("failed login counted %v times, want 1", got)
	}
	if n := testutil.CollectAndCount(prometheus.DefaultGatherer.(prometheus.Collector), "pulse_api_request_duration_seconds"); n == 0 {
		t.Error("no latency series")
	}
}
