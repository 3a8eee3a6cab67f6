// Command aggregates-consumer is the smallest useful subscriber to Pulse's
// metrics: it follows pulse.user-aggregates.v1 in its own consumer group
// and prints each user's follower deltas. Copy it as the starting point of
// an internal team's consumer.
//
//	go run ./examples/aggregates-consumer --brokers 127.0.0.1:9092 --group my-team
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/topics"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	group := flag.String("group", "aggregates-example", "your team's consumer group")
	flag.Parse()

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(topics.UserAggregates),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(t string, p int32, err error) { log.Printf("fetch %s/%d: %v", t, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			agg, err := topics.UserAggregateCodec.Unmarshal(r.Value)
			if err != nil {
				// A newer major version or a malformed value: skip, don't crash.
				log.Printf("skipping %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
				return
			}
			for _, a := range agg.Accounts {
				fmt.Printf("user %s %s/%s followers=%d 24h=%+d 7d=%+d 30d=%+d engagement=%.4f\n",
					agg.UserID, a.Platform, a.Handle, a.Followers, a.Delta24h, a.Delta7d, a.Delta30d, a.EngagementRate)
			}
		})
	}
}
