package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/threescale-chaos/harness/pkg/twin/apicast"
	"github.com/threescale-chaos/harness/pkg/twin/backend"
	"github.com/threescale-chaos/harness/pkg/twin/operator"
	"github.com/threescale-chaos/harness/pkg/twin/system"
	"github.com/threescale-chaos/harness/pkg/twin/zync"
)

// The 3scale processes read the environment variables the 3scale operator gives the real ones
// (research/3scale-operator.md, research/apicast-apisonator.md); flags exist only for what the
// twin needs beyond them, such as a listen address on the host network.

// signalContext ends on SIGTERM or SIGINT, as a pod's process is asked to stop.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func apicastCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "apicast",
		Short: "Run APIcast (THREESCALE_DEPLOYMENT_ENV, THREESCALE_PORTAL_ENDPOINT, APICAST_* as the operator sets them)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := apicast.ConfigFromEnv(os.Getenv)
			if err != nil {
				return err
			}
			// APIcast listens on every interface; on the host network the twin keeps it on
			// loopback when APICAST_LISTEN_HOST says so.
			if host := os.Getenv("APICAST_LISTEN_HOST"); host != "" {
				for _, a := range []*string{&cfg.Addr, &cfg.ManagementAddr} {
					if _, port, err := net.SplitHostPort(*a); err == nil {
						*a = net.JoinHostPort(host, port)
					}
				}
			}
			ctx, stop := signalContext()
			defer stop()
			return apicast.Run(ctx, cfg)
		},
	}
}

// backendRedis reads the storage and queues Redis URLs the operator passes apisonator.
func backendRedis() (storage, queues string, err error) {
	storage = os.Getenv("CONFIG_REDIS_PROXY")
	queues = os.Getenv("CONFIG_QUEUES_MASTER_NAME")
	if storage == "" {
		return "", "", fmt.Errorf("CONFIG_REDIS_PROXY (backend-redis storage URL) is not set")
	}
	return storage, queues, nil
}

func backendListenerCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "backend-listener",
		Short: "Run backend-listener (CONFIG_REDIS_PROXY, CONFIG_QUEUES_MASTER_NAME, CONFIG_INTERNAL_API_USER/PASSWORD)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			storage, queues, err := backendRedis()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return backend.RunListener(ctx, backend.ListenerConfig{
				Addr:             listen,
				RedisURL:         storage,
				QueuesRedisURL:   queues,
				InternalUser:     os.Getenv("CONFIG_INTERNAL_API_USER"),
				InternalPassword: os.Getenv("CONFIG_INTERNAL_API_PASSWORD"),
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", envOr("LISTEN_ADDR", "127.0.0.1:3000"), "address to serve the Service Management and internal APIs on")
	return cmd
}

func backendWorkerCmd() *cobra.Command {
	var metrics string
	cmd := &cobra.Command{
		Use:   "backend-worker",
		Short: "Run backend-worker (CONFIG_REDIS_PROXY, CONFIG_QUEUES_MASTER_NAME, CONFIG_EVENTS_HOOK)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			storage, queues, err := backendRedis()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return backend.RunWorker(ctx, backend.WorkerConfig{
				RedisURL:         storage,
				QueuesRedisURL:   queues,
				EventsHookURL:    os.Getenv("CONFIG_EVENTS_HOOK"),
				EventsHookSecret: os.Getenv("CONFIG_EVENTS_HOOK_SHARED_SECRET"),
				MetricsAddr:      metrics,
			})
		},
	}
	cmd.Flags().StringVar(&metrics, "metrics-listen", envOr("METRICS_ADDR", ""), "address for /metrics (the operator's liveness probe); none when empty")
	return cmd
}

func backendCronCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backend-cron",
		Short: "Run backend-cron (CONFIG_REDIS_PROXY, CONFIG_QUEUES_MASTER_NAME, RESCHEDULE_JOBS_FREQ)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			storage, queues, err := backendRedis()
			if err != nil {
				return err
			}
			// RESCHEDULE_JOBS_FREQ in seconds, 300 when unset, as apisonator's backend-cron
			// reads it (apisonator@3scale-2.16.4-GA:openshift/backend-cron
			// DEFAULT_RESCHEDULE_JOBS_FREQ); the operator does not set it
			// (operator@3scale-2.16.3-GA pkg/3scale/amp/component/backend.go CronDeployment).
			var every time.Duration
			if v := os.Getenv("RESCHEDULE_JOBS_FREQ"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n <= 0 {
					return fmt.Errorf("RESCHEDULE_JOBS_FREQ=%q: want a number of seconds", v)
				}
				every = time.Duration(n) * time.Second
			}
			ctx, stop := signalContext()
			defer stop()
			return backend.RunCron(ctx, backend.CronConfig{RedisURL: storage, QueuesRedisURL: queues, RescheduleEvery: every})
		},
	}
}

func zyncCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "zync",
		Short: "Run zync's API (DATABASE_URL, ZYNC_AUTHENTICATION_TOKEN)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			db := os.Getenv("DATABASE_URL")
			if db == "" {
				return fmt.Errorf("DATABASE_URL (zync-database) is not set")
			}
			ctx, stop := signalContext()
			defer stop()
			return zync.RunAPI(ctx, zync.APIConfig{Addr: listen, DatabaseURL: db, AuthToken: os.Getenv("ZYNC_AUTHENTICATION_TOKEN")})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", envOr("LISTEN_ADDR", "127.0.0.1:8080"), "address of zync's API")
	return cmd
}

func zyncQueCmd() *cobra.Command {
	var metrics string
	cmd := &cobra.Command{
		Use:   "zync-que",
		Short: "Run zync-que (DATABASE_URL; KUBECONFIG and POD_NAMESPACE to create Routes, none when unset)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			db := os.Getenv("DATABASE_URL")
			if db == "" {
				return fmt.Errorf("DATABASE_URL (zync-database) is not set")
			}
			cfg := zync.QueConfig{DatabaseURL: db, MetricsAddr: metrics, SystemProviderURL: os.Getenv("SYSTEM_PROVIDER_URL")}
			if kc := os.Getenv("KUBECONFIG"); kc != "" && os.Getenv("DISABLE_K8S_ROUTES_CREATION") == "" {
				rc, err := clientcmd.BuildConfigFromFlags("", kc)
				if err != nil {
					return fmt.Errorf("KUBECONFIG %s: %w", kc, err)
				}
				cfg.RESTConfig, cfg.Namespace = rc, os.Getenv("POD_NAMESPACE")
			}
			ctx, stop := signalContext()
			defer stop()
			return zync.RunQue(ctx, cfg)
		},
	}
	cmd.Flags().StringVar(&metrics, "metrics-listen", envOr("METRICS_ADDR", ""), "address for /metrics (the operator's liveness probe); none when empty")
	return cmd
}

func operatorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "operator",
		Short: "Run the twin 3scale operator: APIManager replicas reconciliation (WATCH_NAMESPACE, KUBECONFIG)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns := os.Getenv("WATCH_NAMESPACE")
			if ns == "" {
				return fmt.Errorf("WATCH_NAMESPACE is not set")
			}
			ctx, stop := signalContext()
			defer stop()
			return operator.Run(ctx, operator.Config{Kubeconfig: os.Getenv("KUBECONFIG"), Namespace: ns})
		},
	}
}

// onHost rewrites the host part of listen addresses (":3000" -> "127.0.0.1:3000") when
// LISTEN_HOST is set: on the host network the twin keeps its servers on loopback.
func onHost(addrs ...*string) {
	host := os.Getenv("LISTEN_HOST")
	if host == "" {
		return
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(*a); err == nil {
			*a = net.JoinHostPort(host, port)
		}
	}
}

func systemAppCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "system-app",
		Short: "Run system-app: master, provider and developer (DATABASE_URL, REDIS_URL, BACKEND_URL, system-seed variables...)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := system.AppConfigFromEnv()
			onHost(&cfg.MasterAddr, &cfg.ProviderAddr, &cfg.DeveloperAddr)
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return system.RunApp(ctx, cfg)
		},
	}
}

func systemSidekiqCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "system-sidekiq",
		Short: "Run system-sidekiq (REDIS_URL, DATABASE_URL, BACKEND_URL, ZYNC_ENDPOINT...)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := system.SidekiqConfigFromEnv()
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return system.RunSidekiq(ctx, cfg)
		},
	}
}

// systemSearchdCmd writes the real-time indexes' configuration and replaces itself with
// Debian's searchd, so the process the node stops is searchd itself.
func systemSearchdCmd() *cobra.Command {
	var listen, dataDir, searchd string
	cmd := &cobra.Command{
		Use:   "system-searchd",
		Short: "Run Sphinx searchd with system's real-time indexes",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dataDir, 0o755); err != nil {
				return err
			}
			conf := filepath.Join(dataDir, "searchd.conf")
			if err := os.WriteFile(conf, []byte(system.SearchdConfig(listen, dataDir)), 0o644); err != nil {
				return err
			}
			argv := []string{searchd, "--config", conf, "--nodetach"}
			return syscall.Exec(searchd, argv, os.Environ())
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9306", "SphinxQL listen address")
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/searchd", "where the indexes, binlog and logs live")
	cmd.Flags().StringVar(&searchd, "searchd", "/usr/bin/searchd", "the searchd binary")
	return cmd
}
