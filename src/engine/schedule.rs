//! The scheduler, apart from what it schedules: nodes with "waits for" edges run as soon as what
//! they wait for is done, at most `limit` at a time, in the given order among the ready. A failed
//! node blocks exactly the nodes that (transitively) wait for it; everything else goes on. When
//! `stop` resolves (Ctrl-C, SIGTERM), the nodes running finish and no new one starts.

use futures::stream::{FuturesUnordered, StreamExt};
use std::future::Future;

#[derive(Debug, Default)]
pub struct Outcome<E> {
    /// Finished, in completion order.
    pub done: Vec<usize>,
    pub failed: Vec<(usize, E)>,
    /// Not started because something they wait for failed.
    pub skipped: Vec<usize>,
    pub interrupted: bool,
    /// Not started because of the interruption.
    pub not_started: Vec<usize>,
}

pub async fn run<E, F, Fut, S>(waits: &[Vec<usize>], limit: usize, exec: F, stop: S) -> Outcome<E>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    S: Future<Output = ()>,
{
    let n = waits.len();
    let mut state = vec![State::Waiting; n];
    let mut out = Outcome { done: vec![], failed: vec![], skipped: vec![], interrupted: false, not_started: vec![] };
    let mut running = FuturesUnordered::new();
    tokio::pin!(stop);
    loop {
        // Block what waits for a failure, then start what is ready.
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                if state[i] == State::Waiting && waits[i].iter().any(|&w| matches!(state[w], State::Failed | State::Skipped)) {
                    state[i] = State::Skipped;
                    out.skipped.push(i);
                    changed = true;
                }
            }
        }
        if !out.interrupted {
            for i in 0..n {
                if running.len() >= limit.max(1) {
                    break;
                }
                if state[i] == State::Waiting && waits[i].iter().all(|&w| state[w] == State::Done) {
                    state[i] = State::Running;
                    let fut = exec(i);
                    running.push(async move { (i, fut.await) });
                }
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((i, r)) = running.next() => match r {
                Ok(()) => {
                    state[i] = State::Done;
                    out.done.push(i);
                }
                Err(e) => {
                    state[i] = State::Failed;
                    out.failed.push((i, e));
                }
            },
            _ = &mut stop, if !out.interrupted => out.interrupted = true,
        }
    }
    if out.interrupted {
        out.not_started = (0..n).filter(|&i| state[i] == State::Waiting).collect();
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    async fn never() {
        std::future::pending::<()>().await
    }

    #[tokio::test]
    async fn runs_in_dependency_order_with_bounded_concurrency() {
        // 0 <- 1 <- 2, and 3, 4 independent.
        let waits = vec![vec![], vec![0], vec![1], vec![], vec![]];
        let log = Mutex::new(Vec::new());
        let in_flight = Mutex::new((0usize, 0usize));
        let out = run(
            &waits,
            2,
            |i| {
                let (log, in_flight) = (&log, &in_flight);
                async move {
                    {
                        let mut f = in_flight.lock().unwrap();
                        f.0 += 1;
                        f.1 = f.1.max(f.0);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    log.lock().unwrap().push(i);
                    in_flight.lock().unwrap().0 -= 1;
                    Ok::<(), ()>(())
                }
            },
            never(),
        )
        .await;
        assert_eq!(out.done.len(), 5);
        let log = log.into_inner().unwrap();
        let pos = |x| log.iter().position(|&y| y == x).unwrap();
        assert!(pos(0) < pos(1) && pos(1) < pos(2), "{log:?}");
        assert_eq!(in_flight.into_inner().unwrap().1, 2, "at most two at a time, and two when possible");
    }

    #[tokio::test]
    async fn a_failure_blocks_only_what_depends_on_it() {
        let waits = vec![vec![], vec![0], vec![1], vec![]];
        let out = run(
            &waits,
            4,
            |i| async move {
                if i == 0 {
                    Err("boom")
                } else {
                    Ok(())
                }
            },
            never(),
        )
        .await;
        assert_eq!(out.failed, vec![(0, "boom")]);
        let mut skipped = out.skipped.clone();
        skipped.sort();
        assert_eq!(skipped, vec![1, 2]);
        assert_eq!(out.done, vec![3]);
    }

    #[tokio::test]
    async fn an_interruption_finishes_what_runs_and_starts_nothing() {
        let waits = vec![vec![], vec![0], vec![]];
        let out = run(
            &waits,
            1,
            |_| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<(), ()>(())
            },
            tokio::time::sleep(Duration::from_millis(10)),
        )
        .await;
        assert!(out.interrupted);
        assert_eq!(out.done, vec![0], "the node in flight finished");
        assert_eq!(out.not_started, vec![1, 2]);
    }
}
