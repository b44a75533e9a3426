// Package countercheck checks the recorded results of a checked run of
// recipes/counter: clients incrementing one shared counter, and clients
// taking unique IDs, while a nemesis cuts their connections and drops the
// replies of their requests.
//
// # Counter runs
//
// Each client adds 1 to one counter, one Add at a time, and records every
// Add as an [Add] in the order it made them: OK with the Pre and Post
// values the recipe returned, Fail when the Add certainly did not apply,
// or Unknown when it may have (the recipe returned
// backend.ErrOutcomeUnknown, or the client gave up waiting). At the end
// the test reads the counter's Final value with a session of its own. The
// counter started at Initial, and nothing but the run's Adds wrote it.
//
// Since every increment moves the counter by one, the increments that
// landed are exactly the values Initial+1 .. Final, each the Post of one
// write, and a linearizable counter hands each to exactly one Add. [Check]
// asserts:
//
//   - step: every OK Add has Post == Pre+1;
//   - duplicate: no two OK Adds have the same Post (one increment counted
//     twice, by two callers or by one that was told twice);
//   - range: every OK Post lies in Initial+1 .. Final (an increment the
//     final value does not hold was lost);
//   - sum: Final-Initial is at least the number of OK Adds and at most OK
//     plus Unknown (each Unknown may explain one increment nobody claimed;
//     more unclaimed increments than that means an Add was applied twice,
//     the lost-reply hazard the recipe's outcome resolution prevents);
//   - order: each client's OK Posts increase (its Adds are sequential, so a
//     later one is linearized after an earlier one).
//
// A Fail that did apply shows up as sum too: the counter holds more than
// the OK and Unknown Adds explain. The values nobody claimed are listed in
// Result.Unclaimed.
//
// # ID runs
//
// Each client takes IDs from its own recipes/counter IDs value, one call
// at a time, as single IDs (a block of one) or blocks, and records each
// call as a [Grant]: the block's First ID and size, or the error. [CheckIDs]
// expands the blocks, as intervals, and asserts:
//
//   - overlap: no ID was handed out twice, within a client or across
//     clients;
//   - order: each client's grants increase: a grant's First is above the
//     previous grant's last ID;
//   - size: a granted block has the size asked for.
//
// Errors are not violations: IDsResult.Errors counts them by kind for the
// test to judge against what the recipe documents.
//
// Both checks are pure: they read a run and return a result listing every
// violation found. Their tests break each rule in hand-made runs.
package countercheck
