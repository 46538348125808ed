package citus

import (
	"context"
	"fmt"
	"time"
)

// RebalanceProgress is the state of a background rebalance job, as
// citus_job_status reports it.
type RebalanceProgress struct {
	// JobID is the background job's id.
	JobID int64
	// State is the job's state: "scheduled", "running", "finished",
	// "cancelling", "cancelled", "failing" or "failed".
	State string
	// Tasks counts the job's shard moves by task state ("done",
	// "running", "runnable", "blocked", "error", ...).
	Tasks map[string]int
}

// Done is the number of shard moves finished.
func (p RebalanceProgress) Done() int { return p.Tasks["done"] }

// Total is the number of shard moves in the job.
func (p RebalanceProgress) Total() int {
	n := 0
	for _, c := range p.Tasks {
		n += c
	}
	return n
}

// Finished reports whether the job has stopped: finished, cancelled or
// failed.
func (p RebalanceProgress) Finished() bool {
	switch p.State {
	case "finished", "cancelled", "failed":
		return true
	}
	return false
}

// StartRebalance starts moving shards in the background so that every
// worker holds its share (citus_rebalance_start), and returns the job's
// id. When the cluster is already balanced it returns 0 and a nil error.
// Colocated shards move together, so a patient's chart stays on one node.
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the call's error, wrapped
// (Citus refuses a second rebalance while one runs).
func StartRebalance(ctx context.Context, db DB, mode TransferMode) (int64, error) {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return 0, err
	}
	var id *int64
	if err := rebalanceStartStep(mode).queryRow(ctx, db, &id); err != nil {
		return 0, fmt.Errorf("citus: start rebalance: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// RebalanceStatus returns the progress of the background job jobID.
//
// Errors: the query's error, wrapped (ErrNotCitus is not checked here:
// WaitRebalance calls it in a loop).
func RebalanceStatus(ctx context.Context, q Querier, jobID int64) (RebalanceProgress, error) {
	p := RebalanceProgress{JobID: jobID}
	if err := jobStatusStep(jobID).queryRow(ctx, q, &p.State, &p.Tasks); err != nil {
		return p, fmt.Errorf("citus: rebalance job %d status: %w", jobID, err)
	}
	return p, nil
}

// WaitRebalance polls the job every interval (a second when interval is
// not positive) until it has stopped, calling progress (when not nil)
// after each poll. A job id of 0 (nothing to rebalance) returns at once.
//
// Cancelling ctx stops the waiting, not the job: it goes on in the
// background; StopRebalance stops it.
//
// Errors: ctx.Err() when ctx ends first; an error naming the state when
// the job ends cancelled or failed; a failed query, wrapped.
func WaitRebalance(ctx context.Context, q Querier, jobID int64, interval time.Duration, progress func(RebalanceProgress)) error {
	if jobID == 0 {
		return nil
	}
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p, err := RebalanceStatus(ctx, q, jobID)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if progress != nil {
			progress(p)
		}
		if p.Finished() {
			if p.State != "finished" {
				return fmt.Errorf("citus: rebalance job %d %s (%d of %d moves done)", jobID, p.State, p.Done(), p.Total())
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// StopRebalance cancels the running rebalance job (citus_rebalance_stop).
// Moves already done stay done.
//
// Errors: ErrNotCitus, ErrNotCoordinator, or the call's error, wrapped.
func StopRebalance(ctx context.Context, db DB) error {
	if _, err := requireCoordinator(ctx, db); err != nil {
		return err
	}
	if err := rebalanceStopStep().exec(ctx, db); err != nil {
		return fmt.Errorf("citus: stop rebalance: %w", err)
	}
	return nil
}
