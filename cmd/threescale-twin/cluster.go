package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

type clusterFlags struct {
	dir        string
	kubeBinDir string
	etcdPath   string
	apiPort    int
	timeout    time.Duration
}

func (f *clusterFlags) bind(cmd *cobra.Command, full bool) {
	cmd.Flags().StringVar(&f.dir, "dir", "", "state directory of the cluster (required)")
	_ = cmd.MarkFlagRequired("dir")
	if full {
		cmd.Flags().StringVar(&f.kubeBinDir, "kube-bin-dir", "", "directory with kube-apiserver, kube-controller-manager, kube-scheduler (default: $"+cluster.KubeBinDirEnv+" or the `make deps` cache)")
		cmd.Flags().StringVar(&f.etcdPath, "etcd", "", "etcd binary (default: etcd on PATH, else "+cluster.DefaultEtcdPath+")")
		cmd.Flags().IntVar(&f.apiPort, "api-port", 0, "API server port on 127.0.0.1 (default: a free port)")
		cmd.Flags().DurationVar(&f.timeout, "timeout", 3*time.Minute, "how long to wait for the cluster to be ready")
	}
}

func (f *clusterFlags) config() cluster.Config {
	return cluster.Config{Dir: f.dir, KubeBinDir: f.kubeBinDir, EtcdPath: f.etcdPath, APIServerPort: f.apiPort}
}

func clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Start and stop the local cluster"}
	cmd.AddCommand(upCmd(), downCmd(), serveCmd())
	return cmd
}

// Files the supervisor writes beside the cluster's own.
const (
	readyFile      = "ready"
	supervisorLog  = "supervisor.log"
	serveSubcomand = "serve"
)

func upCmd() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster in the background; returns when the API server answers and the node is Ready",
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(f.dir)
			if err != nil {
				return err
			}
			if running, pid := cluster.Running(dir); running {
				return fmt.Errorf("a cluster is already running in %s (pid %d): run `threescale-twin cluster down --dir %s` first", dir, pid, dir)
			}
			// Check what can be checked before going to the background, so bad input is an
			// error here and not a line in a log.
			if _, err := cluster.FindBinaries(f.kubeBinDir, f.etcdPath); err != nil {
				return err
			}
			if f.apiPort != 0 {
				if err := cluster.CheckPortFree(f.apiPort); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			_ = os.Remove(filepath.Join(dir, readyFile))
			self, err := os.Executable()
			if err != nil {
				return err
			}
			logPath := filepath.Join(dir, supervisorLog)
			logFile, err := os.Create(logPath)
			if err != nil {
				return err
			}
			defer logFile.Close()
			args := []string{"cluster", serveSubcomand, "--dir", dir, "--api-port", strconv.Itoa(f.apiPort)}
			if f.kubeBinDir != "" {
				args = append(args, "--kube-bin-dir", f.kubeBinDir)
			}
			if f.etcdPath != "" {
				args = append(args, "--etcd", f.etcdPath)
			}
			sup := exec.Command(self, args...)
			sup.Stdout, sup.Stderr = logFile, logFile
			// The marker lets `down` find the supervisor and whatever it started after a SIGKILL.
			sup.Env = append(os.Environ(), cluster.MarkerEnv+"="+dir)
			// Its own session: the cluster outlives this command and the terminal.
			sup.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := sup.Start(); err != nil {
				return fmt.Errorf("start supervisor: %w", err)
			}
			exited := make(chan error, 1)
			go func() { exited <- sup.Wait() }()
			deadline := time.After(f.timeout)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case err := <-exited:
					return fmt.Errorf("cluster failed to start (%v): %s", err, tail(logPath))
				case <-deadline:
					_ = sup.Process.Signal(syscall.SIGTERM)
					return fmt.Errorf("cluster not ready after %s; stopping it. Last log lines: %s", f.timeout, tail(logPath))
				case <-tick.C:
					if _, err := os.Stat(filepath.Join(dir, readyFile)); err == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "cluster is up: kubectl --kubeconfig %s get nodes,pods\n", cluster.KubeconfigPath(dir))
						return nil
					}
				}
			}
		},
	}
	f.bind(cmd, true)
	return cmd
}

func serveCmd() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:    serveSubcomand,
		Short:  "Run the cluster in the foreground until SIGTERM or SIGINT (what `up` starts in the background)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			c, err := cluster.Start(startCtx, f.config(), cluster.NodeOptions{})
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(c.Dir(), readyFile), []byte(cluster.KubeconfigPath(c.Dir())), 0o644); err != nil {
				_ = c.Stop()
				return err
			}
			fmt.Println("cluster ready; kubeconfig:", cluster.KubeconfigPath(c.Dir()))
			<-ctx.Done()
			fmt.Println("stopping cluster")
			_ = os.Remove(filepath.Join(c.Dir(), readyFile))
			return c.Stop()
		},
	}
	f.bind(cmd, true)
	return cmd
}

func downCmd() *cobra.Command {
	var f clusterFlags
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the cluster and every process it started, pods included",
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(f.dir)
			if err != nil {
				return err
			}
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("no cluster directory %s: %w", dir, err)
			}
			out := cmd.OutOrStdout()
			if running, pid := cluster.Running(dir); running && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				deadline := time.Now().Add(grace)
				for time.Now().Before(deadline) {
					if r, _ := cluster.Running(dir); !r {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if r, _ := cluster.Running(dir); r {
					fmt.Fprintf(out, "supervisor %d did not stop within %s; killing what is left\n", pid, grace)
				}
			} else {
				fmt.Fprintf(out, "no cluster running in %s; removing anything left behind\n", dir)
			}
			killed, err := cluster.KillLeftovers(dir, 10*time.Second)
			if len(killed) > 0 {
				fmt.Fprintf(out, "killed leftover processes: %v\n", killed)
			}
			if err != nil {
				return err
			}
			_ = os.Remove(filepath.Join(dir, readyFile))
			fmt.Fprintln(out, "cluster is down")
			return nil
		},
	}
	f.bind(cmd, false)
	cmd.Flags().DurationVar(&grace, "grace", 60*time.Second, "how long the supervisor gets to stop pods and the control plane before everything is killed")
	return cmd
}

// tail returns the last lines of a log, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	if len(lines) == 0 {
		return "(empty log " + path + ")"
	}
	return "\n" + string(bytes.Join(lines, []byte("\n"))) + "\n(full log: " + path + ")"
}
