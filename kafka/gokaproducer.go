package kafka

import (
	"context"
	"fmt"
	"hash"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// gokaProducerCloseTimeout bounds how long Close waits for the records
// still buffered, as goka's sarama producer does.
const gokaProducerCloseTimeout = 60 * time.Second

// gokaProducerBuilder builds the producer goka processors emit with: a
// franz-go client instead of goka's sarama AsyncProducer, which cost the
// normalizer more CPU than its own work per emitted record (sarama's
// per-message encoding and channel hops). Records land where goka's
// producer puts them (the same key hash, kafka.Partitioner's), and each
// emit's promise is finished with the record's partition and offset, which
// goka's table writes read.
//
// Like goka's sarama producer it is not idempotent (the processors'
// outputs are idempotent downstream), and a record the broker does not
// take within deliveryTimeout fails its emit, which stops the processor.
func gokaProducerBuilder(linger, deliveryTimeout time.Duration) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		h := func(key []byte) uint32 {
			x := hasher()
			x.Write(key)
			return x.Sum32()
		}
		cl, err := NewClient(brokers,
			kgo.ClientID(clientID),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(h))),
			kgo.ProducerLinger(linger),
			kgo.DisableIdempotentWrite(),
			kgo.RecordDeliveryTimeout(deliveryTimeout),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
		)
		if err != nil {
			return nil, fmt.Errorf("kafka: goka producer: %w", err)
		}
		return &gokaProducer{cl: cl}, nil
	}
}

type gokaProducer struct{ cl *kgo.Client }

// Emit implements goka.Producer.
func (p *gokaProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

// EmitWithHeaders implements goka.Producer. A nil value is a tombstone.
func (p *gokaProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	e := &emit{rec: kgo.Record{Topic: topic, Key: []byte(key), Value: value}, finish: finish}
	for k, v := range headers {
		e.rec.Headers = append(e.rec.Headers, kgo.RecordHeader{Key: k, Value: v})
	}
	p.cl.Produce(context.Background(), &e.rec, e.done)
	return promise
}

// emit is one record in flight with what its promise is finished with,
// in one allocation: the record, the message goka's table writes read
// the offset from, and the finisher (an emit is on the normalizer's path
// per snapshot, post and table row).
type emit struct {
	rec    kgo.Record
	msg    sarama.ProducerMessage
	finish goka.PromiseFinisher
}

func (e *emit) done(r *kgo.Record, err error) {
	e.msg.Topic, e.msg.Partition, e.msg.Offset = r.Topic, r.Partition, r.Offset
	e.finish(&e.msg, err)
}

// Close implements goka.Producer: it waits (at most a minute) for the
// buffered records, then closes the client, failing what is left.
func (p *gokaProducer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), gokaProducerCloseTimeout)
	defer cancel()
	err := p.cl.Flush(ctx)
	p.cl.Close()
	if err != nil {
		return fmt.Errorf("kafka: goka producer: flush: %w", err)
	}
	return nil
}
