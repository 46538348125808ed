package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/historiaehr/historia/citus"
	"github.com/historiaehr/historia/refserver/internal/server"
)

const citusUsage = `Usage:
  historia citus distribute --database-url URL
  historia citus status     --database-url URL
  historia citus rebalance  [--mode MODE] [--interval 1s] --database-url URL
  historia citus move       --table T --value V --to HOST:PORT [--mode MODE] --database-url URL
  historia citus isolate    --table T --value V [--mode MODE] --database-url URL

MODE is how Citus copies shards between nodes: auto (the default: logical
replication, writes go on), force_logical, or block_writes (writes to the
shards being copied wait until the copy is done).
Run "historia citus <command> -h" for a command's help.
`

// citusCommands are the subcommands of `historia citus`, each with its
// help text (printed by -h, before the flags).
var citusCommands = map[string]string{
	"distribute": `Usage: historia citus distribute --database-url URL

Checks the schema against Historia's distribution plan, then distributes
its tables on the Citus cluster (reference tables, then tables sharded by
patient). Tables already distributed as planned are skipped, so it may run
after every migration. On plain PostgreSQL it reports that nothing was
distributed.
`,
	"status": `Usage: historia citus status --database-url URL

Lists every Citus table with its distribution column, colocation group,
shard count, and the shards and bytes each node holds.
`,
	"rebalance": `Usage: historia citus rebalance [--mode MODE] [--interval 1s] --database-url URL

Starts a background rebalance on the coordinator (citus_rebalance_start),
which moves shards so that every worker holds its share: run it after
adding a worker. A patient's shards move together. It then prints the
job's progress (shard moves by state) until the job ends, and exits 0 when
it finished, 1 when it failed or was cancelled. When the cluster is
already balanced it prints "nothing to rebalance".

Ctrl-C stops the waiting, not the rebalance: the job keeps running on the
cluster, and the command prints its id, how to follow it
(SELECT * FROM citus_job_status(ID)) and how to stop it
(SELECT citus_rebalance_stop()). Moves already done stay done.
`,
	"move": `Usage: historia citus move --table T --value V --to HOST:PORT [--mode MODE] --database-url URL

Moves the shard of table T that holds distribution value V (with Historia's
plan, --table patients --value PATIENT_ID: one patient), together with the
shards colocated with it (the rest of that chart), to worker HOST:PORT
(as the coordinator knows it: see historia citus status). It waits until
the move is done; Ctrl-C cancels it and the shard stays where it was.
`,
	"isolate": `Usage: historia citus isolate --table T --value V [--mode MODE] --database-url URL

Splits distribution value V of table T into a shard of its own, in T and
every table colocated with it (isolate_tenant_to_new_shard ... CASCADE).
With Historia's plan, --table patients --value PATIENT_ID isolates one
patient (a very large chart); hospitals are not a distribution column.
The new shard stays on its node: move it with historia citus move. It
waits until the split is done; Ctrl-C cancels it.
`,
}

func cmdCitus(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, citusUsage)
		return fmt.Errorf("%w: historia citus needs a command: distribute, status, rebalance, move or isolate", errUsage)
	}
	sub := args[0]
	help, ok := citusCommands[sub]
	if !ok {
		fmt.Fprint(stderr, citusUsage)
		return fmt.Errorf("%w: unknown citus command %q", errUsage, sub)
	}
	fs := flagSet("citus "+sub, stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help, "\nFlags:\n")
		fs.PrintDefaults()
	}
	var url string
	databaseFlags(fs, &url)
	var o shardOpts
	switch sub {
	case "rebalance":
		o.modeFlag(fs)
		fs.DurationVar(&o.interval, "interval", time.Second, "how often to poll the rebalance job")
	case "move":
		o.targetFlags(fs)
		fs.StringVar(&o.to, "to", "", "worker to move the shard to, as HOST:PORT (required)")
		o.modeFlag(fs)
	case "isolate":
		o.targetFlags(fs)
		o.modeFlag(fs)
	}
	if err := server.ParseFlags(fs, args[1:], getenv); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: citus %s takes no arguments (got %q)", errUsage, sub, fs.Arg(0))
	}
	if err := o.validate(sub); err != nil {
		return err
	}
	if err := needURL(url); err != nil {
		return err
	}
	conn, err := connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	switch sub {
	case "distribute":
		return distribute(ctx, conn, stdout, stderr)
	case "status":
		return citusStatus(ctx, conn, stdout)
	case "rebalance":
		return citusRebalance(ctx, conn, o, stdout)
	case "move":
		return citusMove(ctx, conn, o, stdout)
	default:
		return citusIsolate(ctx, conn, o, stdout)
	}
}

// shardOpts are the flags of rebalance, move and isolate.
type shardOpts struct {
	mode         citus.TransferMode
	interval     time.Duration
	table, value string
	to           string
	toHost       string
	toPort       int
}

func (o *shardOpts) modeFlag(fs *flag.FlagSet) {
	o.mode = citus.TransferAuto
	fs.Func("mode", "shard transfer mode: auto, force_logical or block_writes (default auto)", func(s string) error {
		switch m := citus.TransferMode(s); m {
		case citus.TransferAuto, citus.TransferLogical, citus.TransferBlockWrites:
			o.mode = m
			return nil
		}
		return fmt.Errorf("unknown mode %q (auto, force_logical or block_writes)", s)
	})
}

func (o *shardOpts) targetFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.table, "table", "", "distributed table, such as patients (required)")
	fs.StringVar(&o.value, "value", "", "distribution column value, such as a patient id (required)")
}

// validate checks the flags of sub before anything connects: each mistake
// is a usage error naming its flag.
func (o *shardOpts) validate(sub string) error {
	switch sub {
	case "rebalance":
		if o.interval <= 0 {
			return fmt.Errorf("%w: --interval must be positive", errUsage)
		}
	case "move", "isolate":
		o.table, o.value = strings.TrimSpace(o.table), strings.TrimSpace(o.value)
		if o.table == "" {
			return fmt.Errorf("%w: --table is required (the distributed table, such as patients)", errUsage)
		}
		if o.value == "" {
			return fmt.Errorf("%w: --value is required (the distribution value, such as a patient id)", errUsage)
		}
		if sub != "move" {
			return nil
		}
		if o.to == "" {
			return fmt.Errorf("%w: --to is required (the worker, as HOST:PORT)", errUsage)
		}
		host, port, err := net.SplitHostPort(o.to)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%w: --to %q: want HOST:PORT, such as worker-3:5432", errUsage, o.to)
		}
		o.toHost, o.toPort = host, p
	}
	return nil
}

// citusErr turns the library's sentinel errors into what an operator
// needs to read: which database it was and what to do.
func citusErr(sub string, err error) error {
	switch {
	case errors.Is(err, citus.ErrNotCitus):
		return fmt.Errorf("citus %s: Citus is not installed in this database (plain PostgreSQL): there are no shards", sub)
	case errors.Is(err, citus.ErrNotCoordinator):
		return fmt.Errorf("citus %s: this database is a Citus worker, not the coordinator: give the coordinator's URL", sub)
	case errors.Is(err, citus.ErrNotDistributed):
		return fmt.Errorf("citus %s: --table is not a hash-distributed table (see: historia citus status): %w", sub, err)
	case err == nil:
		return nil
	}
	return fmt.Errorf("citus %s: %w", sub, err)
}

// redactValue keeps a distribution value out of an error: it may be a
// document number (patient_identifiers is distributed by it), and errors
// reach logs. The library's and PostgreSQL's messages quote it as
// "= V:" or "\"V\"", and any longer value is removed wherever it is.
func redactValue(err error, value string) error {
	if err == nil || value == "" {
		return err
	}
	msg := err.Error()
	red := strings.ReplaceAll(msg, "= "+value+":", "= [value]:")
	red = strings.ReplaceAll(red, `"`+value+`"`, `"[value]"`)
	if len(value) >= 6 {
		red = strings.ReplaceAll(red, value, "[value]")
	}
	if red == msg {
		return err
	}
	return errors.New(red)
}

func citusStatus(ctx context.Context, conn *pgx.Conn, stdout io.Writer) error {
	st, err := citus.Status(ctx, conn)
	if errors.Is(err, citus.ErrNotCitus) {
		return errors.New("citus status: Citus is not installed in this database (plain PostgreSQL): nothing is distributed")
	}
	if err != nil {
		return err
	}
	if len(st) == 0 {
		fmt.Fprintln(stdout, "no Citus tables (plain PostgreSQL, or not distributed yet)")
	}
	for _, t := range st {
		fmt.Fprintln(stdout, t.String())
	}
	return nil
}

// distribute is `historia citus distribute`, and the distribution step of
// `historia demo --database-url` on Citus: Check the schema against
// server.DistributionPlan(), naming every violation on stderr and changing
// nothing when there is one, then Apply it.
func distribute(ctx context.Context, conn *pgx.Conn, stdout, stderr io.Writer) error {
	plan := server.DistributionPlan()
	// Check returns the violations and, when there are any, an error that
	// wraps them: name each one, then refuse.
	violations, err := citus.Check(ctx, conn, plan)
	if err != nil && len(violations) == 0 {
		return err
	}
	if len(violations) > 0 {
		for _, v := range violations {
			fmt.Fprintln(stderr, v.String())
		}
		return fmt.Errorf("the schema breaks the distribution plan in %d places; nothing was changed", len(violations))
	}
	rep, err := citus.Apply(ctx, conn, plan)
	fmt.Fprintln(stdout, rep.String())
	return err
}

// progressLine formats a rebalance job's state: "job 7 running: 2 of 6
// shard moves done (done 2, running 1, runnable 3)".
func progressLine(p citus.RebalanceProgress) string {
	var counts []string
	for _, state := range slices.Sorted(maps.Keys(p.Tasks)) {
		counts = append(counts, fmt.Sprintf("%s %d", state, p.Tasks[state]))
	}
	s := fmt.Sprintf("job %d %s: %d of %d shard moves done", p.JobID, p.State, p.Done(), p.Total())
	if len(counts) > 0 {
		s += " (" + strings.Join(counts, ", ") + ")"
	}
	return s
}

func citusRebalance(ctx context.Context, conn *pgx.Conn, o shardOpts, stdout io.Writer) error {
	id, err := citus.StartRebalance(ctx, conn, o.mode)
	if err != nil {
		return citusErr("rebalance", err)
	}
	if id == 0 {
		fmt.Fprintln(stdout, "nothing to rebalance: every worker already holds its share of the shards")
		return nil
	}
	fmt.Fprintf(stdout, "rebalance job %d started (shard transfer mode %s); Ctrl-C stops waiting, not the job\n", id, o.mode)
	last := ""
	err = citus.WaitRebalance(ctx, conn, id, o.interval, func(p citus.RebalanceProgress) {
		if line := progressLine(p); line != last {
			fmt.Fprintln(stdout, line)
			last = line
		}
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("citus rebalance: stopped waiting; job %d keeps running on the cluster "+
			"(follow it: SELECT * FROM citus_job_status(%d); stop it: SELECT citus_rebalance_stop())", id, id)
	}
	if err != nil {
		return citusErr("rebalance", err)
	}
	fmt.Fprintf(stdout, "rebalance job %d finished\n", id)
	return nil
}

func citusMove(ctx context.Context, conn *pgx.Conn, o shardOpts, stdout io.Writer) error {
	shard, err := citus.ShardFor(ctx, conn, o.table, o.value)
	if err != nil {
		return redactValue(citusErr("move", err), o.value)
	}
	from, err := citus.ShardNode(ctx, conn, shard)
	if err != nil {
		return citusErr("move", err)
	}
	info, err := citus.Detect(ctx, conn)
	if err != nil {
		return citusErr("move", err)
	}
	to := citus.Node{Host: o.toHost, Port: o.toPort}
	var workers []string
	found := false
	for _, w := range info.Workers {
		workers = append(workers, w.String())
		if w.Host == to.Host && w.Port == to.Port {
			to, found = w, true
		}
	}
	if !found {
		return fmt.Errorf("citus move: --to %s is not a worker of this cluster (workers: %s)", to, strings.Join(workers, ", "))
	}
	if from.Host == to.Host && from.Port == to.Port {
		fmt.Fprintf(stdout, "shard %d of %s is already on %s; nothing moved\n", shard, o.table, to)
		return nil
	}
	fmt.Fprintf(stdout, "moving shard %d of %s, with its colocated shards, from %s to %s (mode %s)\n", shard, o.table, from, to, o.mode)
	if err := citus.MoveShard(ctx, conn, shard, from, to, o.mode); err != nil {
		return redactValue(citusErr("move", err), o.value)
	}
	fmt.Fprintf(stdout, "moved shard %d of %s to %s\n", shard, o.table, to)
	return nil
}

func citusIsolate(ctx context.Context, conn *pgx.Conn, o shardOpts, stdout io.Writer) error {
	id, err := citus.IsolateTenant(ctx, conn, o.table, o.value, o.mode)
	if err != nil {
		return redactValue(citusErr("isolate", err), o.value)
	}
	where := ""
	if n, err := citus.ShardNode(ctx, conn, id); err == nil {
		where = " on " + n.String()
	}
	fmt.Fprintf(stdout, "isolated the value into shard %d of %s%s, with its colocated shards\n", id, o.table, where)
	fmt.Fprintf(stdout, "to give it a node of its own: historia citus move --table %s --value V --to HOST:PORT\n", o.table)
	return nil
}
