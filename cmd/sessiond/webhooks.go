package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/internal/webhooks"
)

// webhookConfig holds the settings of webhook delivery (docs/webhooks.md).
type webhookConfig struct {
	List        string // secret: environment only
	File        string
	Timeout     time.Duration
	MaxAttempts int
	RetryDelay  time.Duration
	RetryMax    time.Duration
	Lease       time.Duration

	endpoints []webhooks.Endpoint // parsed by check
}

func defaultWebhookConfig() webhookConfig {
	return webhookConfig{
		Timeout:     webhooks.DefaultTimeout,
		MaxAttempts: webhooks.DefaultMaxAttempts,
		RetryDelay:  webhooks.DefaultRetryDelay,
		RetryMax:    webhooks.DefaultRetryMax,
		Lease:       webhooks.DefaultLease,
	}
}

var webhookSettings = config.WithDefaults(defaultWebhookConfig(), []config.Setting[webhookConfig]{
	config.Secret("SESSIOND_WEBHOOKS", "webhook endpoints, separated by ';' or newlines, each 'name url types secret': types * or a comma-separated list of event types, secret whsec_<base64> (or the path of a file of secrets); prefer SESSIOND_WEBHOOKS_FILE. Needs SESSION_EVENTS=true",
		func(c *webhookConfig) *string { return &c.List }),
	config.String("SESSIOND_WEBHOOKS_FILE", "webhooks-file", "file of webhook endpoints, one 'name url types secret' a line, # comments allowed (docs/webhooks.md); used together with SESSIOND_WEBHOOKS",
		func(c *webhookConfig) *string { return &c.File }),
	config.Seconds("SESSIOND_WEBHOOK_TIMEOUT_SECONDS", "webhook-timeout-seconds", "how long one webhook request may take, from connecting to the end of the answer",
		1, 300, func(c *webhookConfig) *time.Duration { return &c.Timeout }),
	config.Int("SESSIOND_WEBHOOK_MAX_ATTEMPTS", "webhook-max-attempts", "attempts to deliver an event before it becomes a dead letter (sessionctl webhooks dead, retry)",
		1, 1000, func(c *webhookConfig) *int { return &c.MaxAttempts }),
	config.Millis("SESSIOND_WEBHOOK_RETRY_MS", "webhook-retry-ms", "pause after a webhook's first failed attempt; doubled after each further failure, drawn between half and all of it (jitter)",
		func(c *webhookConfig) *time.Duration { return &c.RetryDelay }),
	config.Seconds("SESSIOND_WEBHOOK_RETRY_MAX_SECONDS", "webhook-retry-max-seconds", "longest pause between two attempts (also the most a Retry-After answer is honoured)",
		1, 86400, func(c *webhookConfig) *time.Duration { return &c.RetryMax }),
	config.Seconds("SESSIOND_WEBHOOK_LEASE_SECONDS", "webhook-lease-seconds", "with Redis, how long an endpoint stays with a sessiond that stopped (killed, cut off) before another replica takes over its delivery",
		1, 300, func(c *webhookConfig) *time.Duration { return &c.Lease }),
})

func webhookConfigFromEnv(getenv func(string) string) (webhookConfig, error) {
	c := defaultWebhookConfig()
	err := config.ApplyEnv(&c, webhookSettings, getenv)
	return c, err
}

// check reads the endpoints; webhooks need the event log.
func (c *webhookConfig) check(cfg config.Config) error {
	eps, err := webhooks.ParseEndpoints(c.List, c.File)
	if err != nil {
		return err
	}
	if len(eps) > 0 && !cfg.Events {
		return errors.New("SESSIOND_WEBHOOKS/SESSIOND_WEBHOOKS_FILE: webhooks deliver the event log: set SESSION_EVENTS=true")
	}
	c.endpoints = eps
	return nil
}

// redisClient is what the Redis store offers the delivery state.
type redisClient interface {
	Client() (rueidis.Client, error)
	Prefix() string
}

// startWebhooks starts delivering to the configured endpoints, if any. The
// state is in Redis with a Redis store (shared by the replicas, kept across
// restarts), in memory otherwise. stop ends delivery and waits for it.
func startWebhooks(c webhookConfig, m *sessiondb.Manager, st sessiondb.Store, met *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	if len(c.endpoints) == 0 {
		return func() {}, nil
	}
	var state webhooks.State
	where := "memory (this process only: a restart starts from the present)"
	if rc, ok := st.(redisClient); ok {
		state = webhooks.NewRedisState(rc.Client, rc.Prefix())
		where = "redis"
	} else {
		state = webhooks.NewMemState(time.Now)
	}
	names := make([]string, len(c.endpoints))
	for i, e := range c.endpoints {
		names[i] = e.Name
	}
	d, err := webhooks.New(m, state, c.endpoints, webhooks.Options{
		Timeout: c.Timeout, MaxAttempts: c.MaxAttempts, RetryDelay: c.RetryDelay, RetryMax: c.RetryMax,
		Lease: c.Lease, UserAgent: "sessiond/" + version, Encode: webhooks.EncodeEvent,
		Logger: log, Observer: met.RegisterWebhooks(names),
	})
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	log.Info("webhooks", "endpoints", len(c.endpoints), "state", where, "owner", d.Owner())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}, nil
}
