// kernels/team.h (internal): seqnn's own thread team, the one owner of its parallel work.
//
// Every parallel region of seqnn (kernels/parallel.h: parallel_for, parallel_parts) runs on it,
// and OpenBLAS runs single-threaded (seqnn splits a large BLAS call over the team itself), so
// no second set of threads ever competes for the cores.
//
// Why not OpenMP's team: opening and closing an OpenMP parallel region costs about 3.3 us on
// the 2-core machine this was measured on, polling or not, because libgomp's team start and
// end barrier make futex system calls (1 us each there). Here the caller hands the work to
// helper threads that poll a shared counter, which costs a cache-line round trip (0.5 us). A
// streaming LSTM step (B = 1, H = 256) takes about 20 us, so that was a quarter of it. Two
// polling teams side by side are worse than either: a loop alternating one region of each ran
// 9x slower (measured), hence one owner.
//
// The helpers (num_threads() - 1) start at the first region and stay. After a job each polls for
// kSpinMicros (team.cpp), then sleeps on a futex until the next one: an idle team costs nothing, and a
// machine shared with other work loses at most that much of a core per job. The caller runs
// every part that no helper has claimed by the time its own part is done, so a helper that is
// asleep or has lost its core to another program delays nothing.
// A region runs on the caller alone when num_threads() is 1, inside a region of the team (nested
// work runs inline, as OpenMP does), inside an OpenMP parallel region of the caller's own, and
// while another thread of the program is using the team. An exception thrown by a part is
// rethrown to the caller once every part has finished.
#pragma once

namespace seqnn::kernels::detail {

// Runs fn(ctx, t, n) for every t in [0, n) concurrently, t = 0 on the caller, and returns true;
// returns false having run nothing when the team cannot take the job (see above).
bool team_run(int n, void (*fn)(void*, int, int), void* ctx);

// True inside a part of a team job or inside an OpenMP parallel region: where nested work runs
// on the calling thread alone.
bool in_parallel_region();

}  // namespace seqnn::kernels::detail
