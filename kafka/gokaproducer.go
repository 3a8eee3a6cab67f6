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
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	for k, v := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: v})
	}
	p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		finish(&sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, err)
	})
	return promise
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
