import Foundation
import VidLMTensor

/// Bounds how many requests compute at once, process-wide (every engine shares it). Each
/// request's compute already spreads over `ThreadBudget.computeThreads` cores, so on a CPU more
/// than a few at once only makes every one of them slower and multiplies memory; the rest wait
/// in arrival order. A waiting request that is cancelled leaves the queue at once.
public actor ComputeScheduler {
    public static let shared = ComputeScheduler(limit: ComputeScheduler.defaultLimit)

    /// One request per two cores (at least one): each request already uses every core.
    public static var defaultLimit: Int { max(1, ThreadBudget.cores / 2) }

    public private(set) var limit: Int
    private var running = 0
    private var waiting: [(id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
    private var nextId: UInt64 = 0

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Changes the bound (waiters start as room appears).
    public func setLimit(_ newLimit: Int) {
        limit = max(1, newLimit)
        wakeWaiters()
    }

    /// Requests computing now, and waiting.
    public var load: (running: Int, waiting: Int) { (running, waiting.count) }

    /// Runs `body` once fewer than `limit` requests are computing.
    public nonisolated func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }

    private func acquire() async throws {
        try Task.checkCancellation()
        if running < limit {
            running += 1
            return
        }
        nextId += 1
        let id = nextId
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                // Cancelled before the handler could see this waiter: do not queue it.
                if Task.isCancelled { c.resume(throwing: CancellationError()) } else { waiting.append((id, c)) }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let i = waiting.firstIndex(where: { $0.id == id }) else { return }
        waiting.remove(at: i).continuation.resume(throwing: CancellationError())
    }

    private func release() {
        running -= 1
        wakeWaiters()
    }

    private func wakeWaiters() {
        while running < limit, !waiting.isEmpty {
            running += 1
            waiting.removeFirst().continuation.resume()
        }
    }
}
