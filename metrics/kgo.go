package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KgoHooks counts the records a franz-go client consumes (as they are
// polled) and produces (once acknowledged) in pulse_records_in_total and
// pulse_records_out_total for component. Pass it with kgo.WithHooks.
func KgoHooks(component string) kgo.Hook { return &kgoHooks{component: component} }

type kgoHooks struct {
	component string
	in, out   sync.Map // topic → prometheus.Counter
}

var (
	_ kgo.HookFetchRecordUnbuffered   = (*kgoHooks)(nil)
	_ kgo.HookProduceRecordUnbuffered = (*kgoHooks)(nil)
)

func (h *kgoHooks) counter(m *sync.Map, vec *prometheus.CounterVec, topic string) prometheus.Counter {
	if c, ok := m.Load(topic); ok {
		return c.(prometheus.Counter)
	}
	c := vec.WithLabelValues(h.component, topic)
	m.Store(topic, c)
	return c
}

// OnFetchRecordUnbuffered implements kgo.HookFetchRecordUnbuffered.
func (h *kgoHooks) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) {
	if polled {
		h.counter(&h.in, RecordsIn, r.Topic).Inc()
	}
}

// OnProduceRecordUnbuffered implements kgo.HookProduceRecordUnbuffered.
func (h *kgoHooks) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err == nil {
		h.counter(&h.out, RecordsOut, r.Topic).Inc()
	}
}
