package kafka

import (
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// TopicManagerBuilder returns the builder of the topic managers Pulse's
// goka processors and views check their topics with: goka's, with g's
// topic settings, made safe for processes that start together (see
// createdElsewhere).
func (g *Goka) TopicManagerBuilder() goka.TopicManagerBuilder {
	build := goka.TopicManagerBuilderWithConfig(g.copyConfig(), g.TopicConfig)
	return func(brokers []string) (goka.TopicManager, error) {
		tm, err := build(brokers)
		if err != nil {
			return nil, err
		}
		return concurrentTopicManager{tm}, nil
	}
}

// concurrentTopicManager is goka's topic manager, except that a topic
// another process creates between goka's check and its create is not an
// error. goka creates a topic it does not find and fails on the broker's
// TOPIC_ALREADY_EXISTS, so two processes starting together on a new
// cluster (`pulse processor` and `pulse api`, both reading the aggregator's
// table) could stop one of them; now the check is repeated, against the
// topic the other made (its partitions and settings are checked as for
// any existing topic).
type concurrentTopicManager struct{ goka.TopicManager }

func (m concurrentTopicManager) EnsureTableExists(topic string, npar int) error {
	return createdElsewhere(func() error { return m.TopicManager.EnsureTableExists(topic, npar) })
}

func (m concurrentTopicManager) EnsureStreamExists(topic string, npar int) error {
	return createdElsewhere(func() error { return m.TopicManager.EnsureStreamExists(topic, npar) })
}

func (m concurrentTopicManager) EnsureTopicExists(topic string, npar, rfactor int, config map[string]string) error {
	return createdElsewhere(func() error { return m.TopicManager.EnsureTopicExists(topic, npar, rfactor, config) })
}

// createdElsewhereRetries bounds how often ensure is repeated while the
// broker says the topic exists and its metadata does not show it yet,
// waiting createdElsewhereWait longer each time (5.5 s in all).
const createdElsewhereRetries = 10

var createdElsewhereWait = 100 * time.Millisecond

// createdElsewhere runs ensure and, while it fails because the topic was
// created meanwhile (goka formats the broker's error into its own, so it
// is recognised by its text), runs it again after a short wait.
func createdElsewhere(ensure func() error) error {
	err := ensure()
	for i := 1; i <= createdElsewhereRetries && err != nil && strings.Contains(err.Error(), sarama.ErrTopicAlreadyExists.Error()); i++ {
		time.Sleep(time.Duration(i) * createdElsewhereWait)
		err = ensure()
	}
	return err
}
