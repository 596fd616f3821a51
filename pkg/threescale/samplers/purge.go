package samplers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
)

// purgeSampler keeps one planted deleted service pending backend-cron's purge in backend
// Redis (planting another whenever none of its plants is still pending) and checks each of its
// plants: pending, being purged or purged are all healthy; a plant whose statistics remain
// while its mark is gone is work the purge has lost, and an unreadable store fails the sample.
// The purge itself runs when cron starts and then daily (DELETE_STATS_FREQ), so within a
// window it is judged only where cron restarts: backend-cron's deferred cell, by purgeProbe.
type purgeSampler struct {
	s *samplers

	mu     sync.Mutex
	plants []threescale.PurgePlant
}

func (p *purgeSampler) sample(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.s.o.Timeout)
	defer cancel()
	storage := p.s.env.BackendStorage
	p.mu.Lock()
	defer p.mu.Unlock()
	pending := false
	kept := p.plants[:0]
	for _, pl := range p.plants {
		st, err := pl.State(ctx, storage)
		if err != nil {
			return storeFailure("backend-redis SISMEMBER "+threescale.DeletedServicesSet, err)
		}
		if st.Orphaned() {
			return probe.Failf(scenario.ErrNotApplied, "deleted service %s: %s; its statistics will never be purged", pl.ServiceID, st)
		}
		if !st.Purged() {
			kept = append(kept, pl)
		}
		pending = pending || st.Pending()
	}
	p.plants = kept
	if pending {
		return nil
	}
	pl := threescale.NewPurgePlant(p.s.f.Token, time.Now())
	if err := pl.Plant(ctx, storage); err != nil {
		return storeFailure("backend-redis SADD "+threescale.DeletedServicesSet, err)
	}
	p.plants = append(p.plants, pl)
	return nil
}

// purgeProbe plants deleted services while the fault holds and checks, after recovery, that
// backend-cron's purge removed every one: its stats keys gone, then its mark.
type purgeProbe struct {
	s *samplers
	o WorkOptions

	mu     sync.Mutex
	plants []threescale.PurgePlant
}

func (p *purgeProbe) Capability() scenario.Capability { return scenario.StatsPurge }

// Baseline checks that the set of services marked for deletion can be read.
func (p *purgeProbe) Baseline(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	if err := p.s.env.BackendStorage.SCard(ctx, threescale.DeletedServicesSet).Err(); err != nil {
		return fmt.Errorf("stats-purge baseline: backend-redis: %s", probe.ErrorDetail(err))
	}
	p.mu.Lock()
	p.plants = nil
	p.mu.Unlock()
	return nil
}

func (p *purgeProbe) Submit(ctx context.Context) error {
	for i := range p.o.Units {
		pl := threescale.NewPurgePlant(p.s.f.Token, time.Now())
		pctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		err := pl.Plant(pctx, p.s.env.BackendStorage)
		cancel()
		if err != nil {
			return fmt.Errorf("stats-purge submit: %d of %d deleted services planted: backend-redis: %s", i, p.o.Units, probe.ErrorDetail(err))
		}
		p.mu.Lock()
		p.plants = append(p.plants, pl)
		p.mu.Unlock()
	}
	return nil
}

// Check waits, within the cell's budget, until every plant is purged; Applied counts those
// purged when it ends.
func (p *purgeProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	o := p.o.within(budget)
	p.mu.Lock()
	plants := append([]threescale.PurgePlant(nil), p.plants...)
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: scenario.StatsPurge, What: "deleted services' statistics", Submitted: len(plants)}
	purged, last := 0, "nothing read"
	wctx, cancel := context.WithTimeout(ctx, o.Settle)
	defer cancel()
	_ = wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n := 0
		for _, pl := range plants {
			sctx, cancel := context.WithTimeout(ctx, o.Timeout)
			st, err := pl.State(sctx, p.s.env.BackendStorage)
			cancel()
			if err != nil {
				if ctx.Err() == nil { // not the end of the wait cutting a read short
					last = "backend-redis: " + probe.ErrorDetail(err)
				}
				return false, nil
			}
			if st.Purged() {
				n++
			} else {
				last = pl.ServiceID + ": " + st.String()
			}
		}
		purged = n
		return n == len(plants), nil
	})
	wc.CheckedAt = time.Now()
	wc.Applied = purged
	wc.Detail = fmt.Sprintf("%d of %d purged by backend-cron (stats keys deleted, mark removed)", purged, len(plants))
	if purged < len(plants) {
		wc.Detail += "; last seen: " + last
	}
	return wc, nil
}
