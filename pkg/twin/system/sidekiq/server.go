package sidekiq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Handler performs one job; an error sends it to the retry set (or dead after MaxRetries).
// ctx ends when the server gives up on the job at shutdown (ServerConfig.ShutdownTimeout);
// the job is then pushed back onto its queue and whatever the handler returns is ignored.
type Handler func(ctx context.Context, job Job) error

// RetryIn overrides the delay before retry n (0-based) for a class; ZyncWorker has its own
// (§5.1, see ZyncWorkerRetryIn). The value is used as is: include any jitter in it. A negative
// value counts as 0.
type RetryIn func(count int) time.Duration

// ServerConfig configures Run.
type ServerConfig struct {
	Redis    redis.UniversalClient
	Handlers map[string]Handler // by Job.Name(); a job with no handler fails (NameError-like) and goes to retry
	// RetryIn is per class (Job.Name()); default Sidekiq's count**4 + 15 + rand(10)*(count+1)
	// seconds (DefaultRetryIn).
	RetryIn      map[string]RetryIn
	MaxRetries   int           // 25 when 0; a job's own "retry": n overrides it
	Concurrency  int           // worker goroutines; 5 when 0
	Heartbeat    time.Duration // 10s when 0 (BEAT_PAUSE); the process hash TTL is 60s
	PollInterval time.Duration // how often due retries/scheduled jobs are moved back; ~5s when 0
	Identity     string        // hostname:pid:<random> when ""
	Logger       *slog.Logger
	// ShutdownTimeout is how long running jobs may take to finish once ctx ends; jobs still
	// running then are pushed back onto their queues. 25s (Sidekiq's -t) when 0.
	ShutdownTimeout time.Duration
}

const (
	defaultMaxRetries      = 25
	defaultConcurrency     = 5
	defaultHeartbeat       = 10 * time.Second
	defaultPollInterval    = 5 * time.Second
	defaultShutdownTimeout = 25 * time.Second

	processTTL   = 60 * time.Second
	fetchTimeout = time.Second // BRPOP timeout: bounds how long a stopping worker waits for a job
	maxBackoff   = time.Second
	statsTTL     = 5 * 365 * 24 * time.Hour
	metricsTTL   = 8 * time.Hour // sidekiq@v7.3.2:lib/sidekiq/metrics/tracking.rb Sidekiq::Metrics::ExecutionTracker SHORT_TERM (see metrics.go)
	deadMaxJobs  = 10000
	deadTimeout  = 180 * 24 * time.Hour
	maxErrorLen  = 10000
	requeueFor   = 3 * time.Second // how long a stopping server keeps trying to push a job back
)

type server struct {
	cfg        ServerConfig
	rdb        redis.UniversalClient
	log        *slog.Logger
	identity   string
	info       []byte
	queueKeys  []string
	maxRetries int

	processed, failed atomic.Int64
	metrics           classMetrics
	stopping          atomic.Bool
	redisDown         atomic.Bool
	abandon           chan struct{} // closed when the shutdown timeout passes

	mu   sync.Mutex
	work map[int]workEntry // by worker index, for <identity>:work
}

type workEntry struct {
	queue   string
	payload string
	runAt   float64
}

// Run serves the queues in strict order until ctx ends, keeps `processes` + the identity hash
// (info, busy, beat, quiet; TTL 60s) fresh, bumps stat:processed / stat:failed (and the dated
// keys), moves due jobs from `retry` and `schedule` back to their queues, sends exhausted jobs
// to `dead`. It survives Redis going away (logs, backs off, reconnects) and on ctx end lets
// running jobs finish (up to ShutdownTimeout), pushes the ones still running back onto their
// queues, and removes its identity from `processes`. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg ServerConfig) error {
	if cfg.Redis == nil {
		return errors.New("sidekiq: ServerConfig.Redis is nil")
	}
	s := newServer(cfg)
	s.log.Info("sidekiq starting", "identity", s.identity, "concurrency", s.cfg.Concurrency, "queues", Queues)

	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBg()

	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); s.heartbeatLoop(bgCtx) }()
	go func() { defer bg.Done(); s.pollLoop(ctx) }()

	var workers sync.WaitGroup
	for i := 0; i < s.cfg.Concurrency; i++ {
		workers.Add(1)
		go func() { defer workers.Done(); s.worker(ctx, jobCtx, i) }()
	}
	workersDone := make(chan struct{})
	go func() { workers.Wait(); close(workersDone) }()

	<-ctx.Done()
	s.stopping.Store(true)
	s.log.Info("sidekiq stopping", "identity", s.identity, "busy", s.busy())
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-workersDone:
	case <-timer.C:
		s.log.Warn("sidekiq shutdown timeout: pushing unfinished jobs back", "busy", s.busy())
		close(s.abandon) // workers push their jobs back, then the handlers' ctx ends
		<-workersDone
		cancelJobs()
	}
	stopBg()
	bg.Wait()
	s.clearHeartbeat()
	s.log.Info("sidekiq stopped", "identity", s.identity)
	return nil
}

func newServer(cfg ServerConfig) *server {
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = defaultMaxRetries
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = defaultHeartbeat
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = defaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	hostname, _ := os.Hostname()
	if cfg.Identity == "" {
		cfg.Identity = fmt.Sprintf("%s:%d:%s", hostname, os.Getpid(), randomHex(6))
	}
	s := &server{
		cfg:        cfg,
		rdb:        cfg.Redis,
		log:        cfg.Logger.With("component", "sidekiq"),
		identity:   cfg.Identity,
		maxRetries: cfg.MaxRetries,
		abandon:    make(chan struct{}),
		work:       map[int]workEntry{},
	}
	for _, q := range Queues {
		s.queueKeys = append(s.queueKeys, QueueKey(q))
	}
	s.info = mustJSON(ProcessInfo{
		Hostname:    hostname,
		StartedAt:   nowEpoch(),
		PID:         os.Getpid(),
		Tag:         "",
		Concurrency: cfg.Concurrency,
		Queues:      append([]string(nil), Queues...),
		Labels:      []string{},
		Identity:    cfg.Identity,
		Version:     "7.3.2",
	})
	return s
}

// worker fetches one job at a time (strict order across Queues) and performs it.
func (s *server) worker(ctx, jobCtx context.Context, tid int) {
	var b backoff
	for ctx.Err() == nil {
		queue, data, err := s.fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.redisError("fetch", err)
			b.wait(ctx)
			continue
		}
		s.redisOK()
		b.reset()
		if data == nil {
			continue
		}
		if ctx.Err() != nil { // popped while stopping: it goes back untouched
			s.requeue(queue, data)
			return
		}
		s.perform(jobCtx, tid, queue, data)
	}
}

// fetch is BRPOP over all queue keys in order: Redis serves the first non-empty list, which is
// Sidekiq's strict ordering. The command does not use ctx's cancellation (a job popped just as
// ctx ends must not be dropped on the floor); fetchTimeout bounds it instead.
func (s *server) fetch(ctx context.Context) (queue string, data []byte, err error) {
	res, err := s.rdb.BRPop(context.WithoutCancel(ctx), fetchTimeout, s.queueKeys...).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if len(res) != 2 {
		return "", nil, fmt.Errorf("sidekiq: unexpected BRPOP reply %q", res)
	}
	return strings.TrimPrefix(res[0], "queue:"), []byte(res[1]), nil
}

// perform runs the job's handler and records the outcome.
func (s *server) perform(jobCtx context.Context, tid int, queue string, data []byte) {
	var p payload
	job, err := func() (Job, error) {
		if err := p.decode(data); err != nil {
			return Job{}, err
		}
		return p.job()
	}()
	if err != nil {
		// A payload that cannot be read can never succeed: Sidekiq sends it to the dead set.
		s.log.Error("sidekiq: unreadable job sent to dead", "queue", queue, "err", err)
		s.processed.Add(1)
		s.failed.Add(1)
		s.persist("kill", func(ctx context.Context) error { return s.killRaw(ctx, data) })
		return
	}

	s.mu.Lock()
	s.work[tid] = workEntry{queue: queue, payload: string(data), runAt: nowEpoch()}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.work, tid)
		s.mu.Unlock()
	}()

	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.call(jobCtx, job) }()
	var herr error
	select {
	case herr = <-done:
	case <-s.abandon:
		select {
		case herr = <-done:
		default:
			s.log.Warn("sidekiq: job still running at shutdown timeout, pushed back", "class", job.Name(), "jid", job.JID, "queue", queue)
			s.requeue(queue, data)
			return
		}
	}
	s.processed.Add(1)
	s.metrics.add(job.Name(), herr != nil, time.Since(start).Milliseconds())
	if herr == nil {
		s.log.Debug("sidekiq: job done", "class", job.Name(), "jid", job.JID, "queue", queue)
		return
	}
	s.failed.Add(1)
	s.fail(&p, job, herr)
}

// call runs the handler registered for the job, turning a missing handler or a panic into an error.
func (s *server) call(ctx context.Context, job Job) (err error) {
	h := s.cfg.Handlers[job.Name()]
	if h == nil {
		return WithErrorClass("NameError", fmt.Errorf("uninitialized constant %s", job.Name()))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return h(ctx, job)
}

// requeue pushes a job back where the next fetch takes it first (RPUSH: the consuming end).
func (s *server) requeue(queue string, data []byte) {
	deadline := time.Now().Add(requeueFor)
	var b backoff
	for {
		err := s.rdb.RPush(context.Background(), QueueKey(queue), data).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.log.Error("sidekiq: could not push job back, it is lost", "queue", queue, "err", err, "payload", string(data))
			return
		}
		s.redisError("requeue", err)
		b.wait(context.Background())
	}
}

// persist retries a write until it succeeds; once the server has given up on running jobs
// (shutdown timeout) it tries for requeueFor more at most.
func (s *server) persist(what string, write func(ctx context.Context) error) {
	var b backoff
	var deadline time.Time
	for {
		err := write(context.Background())
		if err == nil {
			s.redisOK()
			return
		}
		s.redisError(what, err)
		select {
		case <-s.abandon:
			if deadline.IsZero() {
				deadline = time.Now().Add(requeueFor)
			} else if time.Now().After(deadline) {
				s.log.Error("sidekiq: giving up on a write at shutdown, job outcome lost", "op", what, "err", err)
				return
			}
		default:
		}
		b.wait(context.Background())
	}
}

func (s *server) busy() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.work)
}

// redisError logs a Redis failure once per outage (then at debug level).
func (s *server) redisError(op string, err error) {
	if s.redisDown.CompareAndSwap(false, true) {
		s.log.Warn("sidekiq: system-redis unavailable, backing off", "op", op, "err", err)
		return
	}
	s.log.Debug("sidekiq: system-redis still unavailable", "op", op, "err", err)
}

func (s *server) redisOK() {
	if s.redisDown.CompareAndSwap(true, false) {
		s.log.Info("sidekiq: system-redis reachable again")
	}
}

// backoff waits 50ms, 100ms, ... up to maxBackoff (with some jitter) between failed attempts.
type backoff struct{ next time.Duration }

func (b *backoff) reset() { b.next = 0 }

func (b *backoff) wait(ctx context.Context) {
	if b.next == 0 {
		b.next = 50 * time.Millisecond
	}
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, maxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func jittered(d time.Duration) time.Duration { return d/2 + rand.N(d+1) }
