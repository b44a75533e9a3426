package peers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The kazoo peer's SetPartitioner commands, for recipes/partition's
// interop test:
//
//	partition PATH ID TIME_BOUNDARY_S ITEM,ITEM,...
//	    runs a kazoo SetPartitioner on PATH with identifier ID, the given
//	    time_boundary and set, in a thread, as kazoo's docs drive one:
//	    release_set() on RELEASE, wait while ALLOCATING. Answers
//	    "started partition ID", then "partition-acquired PATH ID A,B,..."
//	    ("-" for none) every time it reaches ACQUIRED and
//	    "partition-released PATH ID" every time it releases its set.
//	partition-stop ID
//	    finish() (release every lock, leave the party); answers
//	    "partition-stopped ID".

// PartitionJoin starts a kazoo SetPartitioner with identifier id on path
// over items, with the time_boundary (its settle window) given.
func (p *Peer) PartitionJoin(ctx context.Context, path, id string, boundary time.Duration, items []string) error {
	if err := p.write(fmt.Sprintf("partition %s %s %s %s", path, id, strconv.FormatFloat(boundary.Seconds(), 'f', 3, 64), strings.Join(items, ","))); err != nil {
		return err
	}
	_, err := p.expectLine(ctx, "started partition "+id)
	return err
}

// PartitionAcquired waits for the next report of the partitioner id on
// path reaching ACQUIRED, and returns the items it holds then.
func (p *Peer) PartitionAcquired(ctx context.Context, path, id string) ([]string, error) {
	prefix := "partition-acquired " + path + " " + id + " "
	line, err := p.expectLine(ctx, prefix)
	if err != nil {
		return nil, err
	}
	v := strings.TrimPrefix(line, prefix)
	if v == "-" {
		return nil, nil
	}
	return strings.Split(v, ","), nil
}

// PartitionStop has the partitioner id finish: release its locks and
// leave the party.
func (p *Peer) PartitionStop(ctx context.Context, id string) error {
	if err := p.write("partition-stop " + id); err != nil {
		return err
	}
	_, err := p.expectLine(ctx, "partition-stopped "+id)
	return err
}
