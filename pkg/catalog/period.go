package catalog

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownPeriod is wrapped by LookupPeriod when a name is not a known period.
var ErrUnknownPeriod = errors.New("unknown period")

// Period is a periodic process of one component whose interval is set on its workload.
// A `kept` expectation can rest on it: running gateways keep serving across a
// configuration refresh while system is down only if the observation spans a refresh, so
// such a claim is observed across at least one period. The harness reads the interval
// from the live workload (pkg/kube ReadPeriod) and Interpret turns what it read into one.
type Period struct {
	// Name is how scenario files refer to it.
	Name string
	// Component owns the process; its workload carries the setting.
	Component string
	// What names the process for plans and journals.
	What string
	// Env is the container environment variable that sets the interval.
	Env string
	// Default is the interval the harness assumes when Env cannot be read: the value the
	// operator sets. DefaultSource cites it.
	Default       time.Duration
	DefaultSource string
}

// ProductionConfigRefresh is apicast-production's configuration refresh: with the boot
// loader a timer in each worker reloads the configuration from system every
// APICAST_CONFIGURATION_CACHE seconds (APIcast@3scale-2.16.3-GA
// gateway/src/apicast/configuration_loader.lua boot.init_worker); a failed reload only logs
// and the stored configuration keeps serving, stale (configuration_store.lua find_by_host).
// The operator sets 300 (operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go
// buildApicastProductionEnv).
var ProductionConfigRefresh = Period{
	Name:          "apicast-production-configuration-refresh",
	Component:     "apicast-production",
	What:          "apicast-production's configuration refresh",
	Env:           "APICAST_CONFIGURATION_CACHE",
	Default:       300 * time.Second,
	DefaultSource: "the operator's value, operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go buildApicastProductionEnv",
}

// Periods returns the known periods, sorted by name.
func Periods() []Period {
	return []Period{ProductionConfigRefresh}
}

// LookupPeriod returns the period with the given name; an unknown name gives an error
// that wraps ErrUnknownPeriod and lists the known ones.
func LookupPeriod(name string) (Period, error) {
	var names []string
	for _, p := range Periods() {
		if p.Name == strings.TrimSpace(name) {
			return p, nil
		}
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return Period{}, fmt.Errorf("%w %q: known periods are %s", ErrUnknownPeriod, name, strings.Join(names, ", "))
}

// PeriodReading is what the harness found for a period on a live cluster.
type PeriodReading struct {
	Period Period
	// Interval is how often the process runs; 0 when it does not run periodically (the
	// setting turns it off, or makes it run on every request), which Meaning explains.
	Interval time.Duration
	// Source says where the value was read ("APICAST_CONFIGURATION_CACHE=300 on
	// Deployment/apicast-production"), or that it was not set there.
	Source string
	// Meaning explains the value as the component reads it.
	Meaning string
	// Unread is non-empty when the setting could not be read (no Deployment, no RBAC, a
	// value from a Secret or ConfigMap): it says why, and Interval is then the Default.
	Unread string
}

// EnvValue is one container environment variable as the workload declares it.
type EnvValue struct {
	// Value is the literal value; meaningful when Set.
	Value string
	// Set is true when the container's env declares the variable with a literal value.
	Set bool
	// Indirect is non-empty when the variable comes from somewhere the harness does not
	// read (valueFrom, or envFrom when the variable is not in env): it says which.
	Indirect string
}

// Interpret turns a gateway container's environment into the interval of p, the way
// APIcast@3scale-2.16.3-GA reads it:
//
//   - the configuration channel is THREESCALE_DEPLOYMENT_ENV, "production" when unset
//     (gateway/src/apicast/cli/command/start.lua), and selects gateway/config/<channel>.lua;
//   - the loader is APICAST_CONFIGURATION_LOADER, else the channel's (production.lua:
//     boot, staging.lua: lazy), else lazy (start.lua build_env);
//   - the cache is APICAST_CONFIGURATION_CACHE, else the channel's: 300 for production
//     (production.lua `os.getenv('APICAST_CONFIGURATION_CACHE') or 5*60`), nothing for
//     staging, which configuration_loader.lua ttl() reads as 0;
//   - boot with a cache > 0 reloads every cache seconds (boot.init_worker); with 0 APIcast
//     exits at start ("cache is off, cannot store configuration"); below 0 it never
//     reloads (init_worker schedules nothing; doc/parameters.md: "disables reloading");
//   - lazy with a cache > 0 keeps each host's configuration that long and reloads it on
//     the next request after; with 0 it loads on every request; below 0 never again.
//
// envFrom names the container's envFrom sources ("" when none): a variable missing from
// env may come from them, and the harness does not read them. from names the workload,
// for Source.
func (p Period) Interpret(env map[string]EnvValue, envFrom, from string) PeriodReading {
	r := PeriodReading{Period: p}
	for _, name := range []string{p.Env, "APICAST_CONFIGURATION_LOADER", "THREESCALE_DEPLOYMENT_ENV"} {
		v, declared := env[name]
		switch {
		case v.Indirect != "":
			return p.unread(fmt.Sprintf("%s on %s %s", name, from, v.Indirect))
		case !declared && envFrom != "":
			return p.unread(fmt.Sprintf("%s is not in the env of %s and may come from its envFrom (%s)", name, from, envFrom))
		}
	}
	channel, channelHow := "production", "THREESCALE_DEPLOYMENT_ENV unset"
	if v := env["THREESCALE_DEPLOYMENT_ENV"]; v.Set && v.Value != "" {
		channel, channelHow = v.Value, "THREESCALE_DEPLOYMENT_ENV="+v.Value
	}
	loader := map[string]string{"production": "boot", "staging": "lazy"}[channel]
	if loader == "" {
		loader = "lazy"
	}
	loaderHow := fmt.Sprintf("the %s channel's %s loader (%s)", channel, loader, channelHow)
	if v := env["APICAST_CONFIGURATION_LOADER"]; v.Set && v.Value != "" {
		loader, loaderHow = v.Value, "APICAST_CONFIGURATION_LOADER="+v.Value
	}
	var ttl float64
	cacheHow := ""
	if v := env[p.Env]; v.Set {
		n, err := strconv.ParseFloat(strings.TrimSpace(v.Value), 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return p.unread(fmt.Sprintf("%s=%q on %s is not a number", p.Env, v.Value, from))
		}
		ttl, cacheHow = n, p.Env+"="+v.Value
	} else {
		if channel == "production" {
			ttl = 300
		}
		cacheHow = fmt.Sprintf("%s unset, so the %s channel's %s (APIcast gateway/config/%s.lua)", p.Env, channel, strconv.FormatFloat(ttl, 'f', -1, 64), channel)
	}
	r.Source = fmt.Sprintf("%s, %s, on %s", cacheHow, loaderHow, from)
	secs := strconv.FormatFloat(ttl, 'f', -1, 64)
	switch {
	case loader != "boot" && loader != "lazy":
		return p.unread(fmt.Sprintf("%s: loader %q is neither boot nor lazy", from, loader))
	case ttl > 0:
		r.Interval = time.Duration(ttl * float64(time.Second))
		if loader == "boot" {
			r.Meaning = fmt.Sprintf("every %ss", secs)
		} else {
			r.Meaning = fmt.Sprintf("every %ss per host, on its first request after (lazy loader)", secs)
		}
	case ttl == 0 && loader == "boot":
		r.Meaning = "never: with the boot loader and the cache off APIcast exits at start (configuration_loader.lua boot.init)"
	case ttl == 0:
		r.Meaning = "on every request (lazy loader, cache off), which every sample already exercises"
	default:
		r.Meaning = fmt.Sprintf("never: a negative cache (%ss) disables reloading", secs)
	}
	return r
}

// unread is the reading when the setting cannot be known: the default, and why.
func (p Period) unread(why string) PeriodReading {
	return PeriodReading{
		Period: p, Interval: p.Default, Unread: why,
		Source:  fmt.Sprintf("%s could not be read: %s; assumed %s, %s", p.Env, why, fmtSeconds(p.Default), p.DefaultSource),
		Meaning: fmt.Sprintf("every %s", fmtSeconds(p.Default)),
	}
}

// Unreadable is the reading when the workload itself could not be read.
func (p Period) Unreadable(why string) PeriodReading { return p.unread(why) }

func fmtSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
