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
            // The chunks touch disjoint ranges; concurrentPerform returns only when all are done.
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { shared.value(lo..<hi) }
            }
        }
    }
}

/// Wraps a value the compiler cannot prove Sendable where the code guarantees exclusive use.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
