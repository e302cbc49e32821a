/// Where the decoders of one request leave their frames until the consumer takes them in order.
///
/// A decoder hands over the frame for output position `p` once the frame `lookahead` places
/// before it has been taken, and waits (holding it) until then: at most `lookahead` frames sit
/// here, which bounds memory however far one decoder is ahead of another. Waits end with
/// `CancellationError` when the waiting task is cancelled, so dropping a request never leaves a
/// decoder parked.
actor FrameMailbox {
    private let lookahead: Int
    /// Positions below this have been taken.
    private var taken = 0
    private var frames: [Int: VideoFrame] = [:]
    private var failures: [Int: any Error] = [:]
    private var consumer: (position: Int, continuation: CheckedContinuation<VideoFrame, any Error>)? = nil
    private var senders: [UInt64: (position: Int, continuation: CheckedContinuation<Void, any Error>)] = [:]
    private var nextTicket: UInt64 = 0

    init(lookahead: Int) {
        self.lookahead = max(1, lookahead)
    }

    /// Leaves the frame for `position`, after waiting for room.
    func deliver(_ frame: VideoFrame, at position: Int) async throws {
        if position >= taken + lookahead {
            let ticket = nextTicket
            nextTicket += 1
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                    if Task.isCancelled { c.resume(throwing: CancellationError()); return }
                    senders[ticket] = (position, c)
                }
            } onCancel: {
                Task { await self.cancelSender(ticket) }
            }
        }
        if let waiting = consumer, waiting.position == position {
            consumer = nil
            advance(past: position)
            waiting.continuation.resume(returning: frame)
        } else {
            frames[position] = frame
        }
    }

    /// The decoder of `position` failed there: the consumer gets `error` when it reaches it.
    func fail(_ error: any Error, at position: Int) {
        if let waiting = consumer, waiting.position == position {
            consumer = nil
            waiting.continuation.resume(throwing: error)
        } else {
            failures[position] = error
        }
    }

    /// The frame for `position` (the next one in order), waiting for it to be decoded.
    func take(_ position: Int) async throws -> VideoFrame {
        if let frame = frames.removeValue(forKey: position) {
            advance(past: position)
            return frame
        }
        if let error = failures.removeValue(forKey: position) { throw error }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<VideoFrame, any Error>) in
                if Task.isCancelled { c.resume(throwing: CancellationError()); return }
                consumer = (position, c)
            }
        } onCancel: {
            Task { await self.cancelConsumer(position) }
        }
    }

    private func advance(past position: Int) {
        taken = max(taken, position + 1)
        for (ticket, sender) in senders where sender.position < taken + lookahead {
            senders[ticket] = nil
            sender.continuation.resume()
        }
    }

    private func cancelSender(_ ticket: UInt64) {
        senders.removeValue(forKey: ticket)?.continuation.resume(throwing: CancellationError())
    }

    private func cancelConsumer(_ position: Int) {
        guard let waiting = consumer, waiting.position == position else { return }
        consumer = nil
        waiting.continuation.resume(throwing: CancellationError())
    }
}
