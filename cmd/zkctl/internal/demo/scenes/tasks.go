package scenes

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zkrecipes/zkrecipes/backend"
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
	"github.com/zkrecipes/zkrecipes/recipes/task"
)

// taskDistribution is the demo's scene of recipes/task (see All).
var taskDistribution = demo.Scene{
	Name:  "task distribution",
	Title: "Task distribution: a worker dies mid-task; the master hands the task on; the zombie's late result is refused",
	Play:  playTasks,
}

// playTasks plays the scene: a master and two workers share a task tree.
// The task starts on worker-a, which reports progress, then dies (its
// session expires) while it still runs the task. It is told at once; the
// master assigns the task to worker-b, attempt 2, with a larger fencing
// token, and worker-b completes it. worker-a's late result is refused,
// by the tree (task.ErrLost) and by the storage (a stale token).
func playTasks(ctx context.Context, stage *demo.Stage) error {
	const root, id, spec = "/tasks/render", "video-9", "render video 9"
	producer, err := stage.Actor(ctx, "producer")
	if err != nil {
		return err
	}
	board, err := task.NewBoard(producer, root)
	if err != nil {
		return err
	}

	// The master runs until the scene ends (or returns early).
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ms, err := stage.Actor(ctx, "master")
	if err != nil {
		return err
	}
	master, err := task.NewMaster(ms, root, task.MasterID("master"))
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = master.Run(ctx) // returns when ctx ends
	}()
	stage.Say("master", "runs for master of %s: it assigns pending tasks to live workers", root)

	register := func(name string) (backend.Session, *task.Worker, error) {
		s, err := stage.Actor(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		w, err := task.Register(ctx, s, root, name)
		if err != nil {
			return nil, nil, err
		}
		stage.Say(name, "registers as a worker (capacity 1)")
		return s, w, nil
	}
	sa, workerA, err := register("worker-a")
	if err != nil {
		return err
	}
	defer workerA.Close()
	if _, err := board.Submit(ctx, []byte(spec), task.ID(id)); err != nil {
		return err
	}
	stage.Say("producer", "submits task %s: %q", id, spec)
	a, err := workerA.Next(ctx) // blocks until the master assigns it a task
	if err != nil {
		return err
	}
	stage.Token("worker-a", a.Token(), "takes %q (attempt %d): fencing token %d", a.Spec(), a.Attempt(), a.Token())
	if err := a.Progress(ctx, []byte("frame 400 of 1000")); err != nil {
		return err
	}
	st, err := board.Status(ctx, id)
	if err != nil {
		return err
	}
	if st.Progress == nil {
		return fmt.Errorf("status of %s while worker-a runs it: no progress", id)
	}
	stage.Say("producer", "status of %s: %s to %s, attempt %d, progress %q", id, st.State, st.Worker, st.Attempt, st.Progress.Data)

	_, workerB, err := register("worker-b")
	if err != nil {
		return err
	}
	defer workerB.Close()

	stage.Pause(ctx)
	expirer, ok := sa.(backend.Expirer)
	if !ok {
		return fmt.Errorf("%w: this backend's sessions cannot be expired on purpose", backend.ErrUnsupported)
	}
	stage.Say("server", "worker-a crashed mid-task: expires its session, deletes its presence and owner nodes")
	if err := expirer.Expire(ctx); err != nil {
		return err
	}
	select {
	case <-a.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	stage.Say("worker-a", "is told its assignment ended (its task context is cancelled): %v", a.Err())

	b, err := workerB.Next(ctx)
	if err != nil {
		return err
	}
	if b.ID() != id || b.Attempt() != 2 || b.Token() <= a.Token() {
		return fmt.Errorf("worker-b got %s, attempt %d, token %d; want %s again, attempt 2, a token above %d",
			b.ID(), b.Attempt(), b.Token(), id, a.Token())
	}
	stage.Token("worker-b", b.Token(), "takes %q (attempt %d): fencing token %d", b.Spec(), b.Attempt(), b.Token())
	if err := stage.Store.Write(b.Token(), "video 9 rendered by worker-b"); err != nil {
		return err
	}
	if err := b.Complete(ctx, []byte("video-9.mp4")); err != nil {
		return err
	}
	stage.Say("worker-b", "renders the video: storage accepts token %d (> %d of worker-a's attempt); completes the task", b.Token(), a.Token())

	stage.Pause(ctx)
	err = a.Complete(ctx, []byte("video-9-by-worker-a.mp4"))
	if !errors.Is(err, task.ErrLost) {
		return fmt.Errorf("worker-a's Complete after its session expired: %v, want task.ErrLost", err)
	}
	stage.Say("worker-a", "wakes up and completes the task: refused: %v", err)
	err = stage.Store.Write(a.Token(), "video 9 rendered by worker-a")
	if !errors.Is(err, demo.ErrStaleToken) {
		return fmt.Errorf("worker-a's write with token %d: %v, want a stale token", a.Token(), err)
	}
	stage.Say("storage", "refuses worker-a's write: %v", err)

	st, err = board.Status(ctx, id)
	if err != nil {
		return err
	}
	if st.State != task.Done || string(st.Result) != "video-9.mp4" || len(st.Instances) != 2 {
		return fmt.Errorf("status of %s at the end: %s, result %q, %d attempts; want done by worker-b, 2 attempts", id, st.State, st.Result, len(st.Instances))
	}
	stage.Say("producer", "status of %s: %s by %s, result %q; attempt 1 %s (%s), attempt 2 %s: completed once",
		id, st.State, st.Worker, st.Result, st.Instances[0].Outcome, st.Instances[0].Worker, st.Instances[1].Outcome)
	return nil
}
