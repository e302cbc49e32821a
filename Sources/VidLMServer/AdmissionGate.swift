/// Admits at most `running` requests at once and keeps at most `queue` more waiting in arrival
/// order; a request that finds both full is refused at once (the caller answers 429). A waiting
/// request that is cancelled (its client went away) leaves the queue at once.
actor AdmissionGate {
    struct Full: Error {}

    let maxRunning: Int
    let maxWaiting: Int
    private(set) var running = 0
    private var waiting: [(id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
    private var nextId: UInt64 = 0

    init(maxRunning: Int, maxWaiting: Int) {
        self.maxRunning = max(1, maxRunning)
        self.maxWaiting = max(0, maxWaiting)
    }

    var queueDepth: Int { waiting.count }

    /// Waits for a slot; throws `Full` when none is free and the queue is full, or
    /// `CancellationError` when cancelled while waiting.
    func enter() async throws {
        try Task.checkCancellation()
        if running < maxRunning, waiting.isEmpty {
            running += 1
            return
        }
        guard waiting.count < maxWaiting else { throw Full() }
        nextId += 1
        let id = nextId
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                if Task.isCancelled { c.resume(throwing: CancellationError()) } else { waiting.append((id, c)) }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    /// Gives a slot back (the next waiter takes it).
    func leave() {
        running -= 1
        while running < maxRunning, !waiting.isEmpty {
            running += 1
            waiting.removeFirst().continuation.resume()
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let i = waiting.firstIndex(where: { $0.id == id }) else { return }
        waiting.remove(at: i).continuation.resume(throwing: CancellationError())
    }
}

/// A slot held by one request; given back exactly once, by `release()` or when the ticket is
/// dropped (a response whose body never ran still frees its slot).
final class AdmissionTicket: @unchecked Sendable {
    private let gate: AdmissionGate
    private let lock = NSLockLike()
    private var released = false

    init(gate: AdmissionGate) { self.gate = gate }

    func release() {
        guard lock.takeOnce(&released) else { return }
        let gate = self.gate
        Task { await gate.leave() }
    }

    deinit { release() }
}

import Foundation

/// A tiny lock wrapper for "do this once" flags.
struct NSLockLike: @unchecked Sendable {
    private let lock = NSLock()
    func takeOnce(_ flag: inout Bool) -> Bool {
        lock.lock(); defer { lock.unlock() }
        if flag { return false }
        flag = true
        return true
    }
}
