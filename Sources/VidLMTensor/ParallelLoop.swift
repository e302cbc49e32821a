import Synchronization
import Dispatch

/// Swift-side data parallelism sized by `ThreadBudget`, for loops BLAS does not cover.
public enum ParallelLoop {
    /// Runs `body(range)` over `0..<count` split into at most `ThreadBudget.computeThreads`
    /// chunks; small loops (under `minimumPerChunk` items per chunk) run inline.
    public static func forEachChunk(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = max(1, min(ThreadBudget.computeThreads, count / max(1, minimumPerChunk)))
        if chunks == 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            // The chunks touch disjoint ranges; both runners return only when all are done. The
            // pool's spinning workers start at once; concurrentPerform (a nested loop, or a second
            // request computing at the same time) wakes dispatch threads.
            let shared = UncheckedSendable(body)
            let chunk: @Sendable (Int) -> Void = { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { shared.value(lo..<hi) }
            }
            if WorkerPool.shared.run(chunks, chunk) { return }
            DispatchQueue.concurrentPerform(iterations: chunks, execute: chunk)
        }
    }
}

/// Wraps a value the compiler cannot prove Sendable where the code guarantees exclusive use.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension ParallelLoop {
    /// Items `0..<count` claimed one at a time: `runner` runs once on each of up to
    /// `ThreadBudget.computeThreads` threads (set up per-thread scratch there) and calls `claim()`
    /// until it returns nil. For loops of coarse items of uneven cost, such as attention heads: a
    /// static split leaves one core waiting when the other is slowed (this project's VM runs
    /// one core's AMX at 40 % of the other's for minutes; waiting for the other half of a tower's
    /// attention was 12 % of its attention time).
    public static func forEachClaimed(_ count: Int, _ runner: (_ claim: () -> Int?) -> Void) {
        guard count > 0 else { return }
        let next = Atomic<Int>(0)
        forEachChunk(min(ThreadBudget.computeThreads, count)) { _ in
            runner {
                let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                return item < count ? item : nil
            }
        }
    }

    /// The output rows of several weights taken as one range (so q, k and v, or gate and up, cost
    /// one parallel dispatch), split into units of `unitRows` that `computeThreads` workers claim
    /// dynamically: a worker slowed by another process on its core does not hold the others up at
    /// the end. `body(part, rows)` runs a unit's rows of one part (`rows` counted within that part);
    /// `outs[i]` is part i's row count, and only the parts in `only` are covered, in that order.
    public static func forEachPartRows(outs: [Int], only: [Int], unitRows: Int, _ body: (Int, Range<Int>) -> Void) {
        var starts: [(start: Int, part: Int)] = []
        var total = 0
        for i in only { starts.append((total, i)); total += outs[i] }
        guard total > 0 else { return }
        let unitRows = max(1, unitRows)
        let units = (total + unitRows - 1) / unitRows
        let next = Atomic<Int>(0)
        forEachChunk(min(ThreadBudget.computeThreads, units)) { _ in
            while true {
                let unit = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if unit >= units { break }
                let lo = unit * unitRows, hi = min(total, lo + unitRows)
                var r = lo
                var s = starts.lastIndex { $0.start <= r }!
                while r < hi {
                    let (start, part) = starts[s]
                    let end = min(hi, start + outs[part])
                    body(part, (r - start)..<(end - start))
                    r = end
                    s += 1
                }
            }
        }
    }
}
