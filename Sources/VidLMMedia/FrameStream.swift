import AsyncAlgorithms
import VidLMTensor

extension MediaDecoder {
    /// The frames `request` selects, in increasing index order, as they are decoded.
    ///
    /// Frames are split into runs that decode without seeking; runs go round-robin to up to
    /// `ThreadBudget.cores` independent decoders of the same file (parallel GOPs), each of which
    /// decodes at most one frame ahead of the consumer (backpressure; for pictures too large for
    /// that, see `ThreadBudget.decoders(forSegments:pictureBytes:)`, none ahead). Ending the iteration or
    /// cancelling the consuming task stops all decoding.
    public nonisolated func frames(_ request: FrameRequest) -> AsyncThrowingStream<VideoFrame, Error> {
        let merger = FrameMerger(primary: self, request: request)
        return AsyncThrowingStream(unfolding: { try await merger.next() })
    }

    /// The indices of the frames `request` will return, without decoding anything. In key-frame
    /// mode these are the key frames nearest the wanted frames, each once.
    public func plan(_ request: FrameRequest) throws(MediaError) -> [Int] {
        _ = try requireVideo()
        let t = try timeline()
        let wanted = try SamplingPlanner.indices(for: request, on: t)
        guard request.mode == .nearestKeyframe else { return wanted }
        let keys = wanted.map { t.index(displayedAtPts: t.keyframes[t.nearestKeyframePosition(to: t.pts[$0])].pts) }
        return Array(Set(keys)).sorted()
    }
}

/// Runs the decoders for one `frames(_:)` call and hands out their frames in order.
actor FrameMerger {
    private let primary: MediaDecoder
    private let request: FrameRequest
    private var started = false
    private var order: [Int] = []            // worker of each output position
    private var cursor = 0
    private var channels: [AsyncThrowingChannel<VideoFrame, Error>] = []
    private var producers: [Task<Void, Never>] = []
    private var lastIndex: Int? = nil
    /// The frames to decode on demand with `primary` alone, when decoding ahead is off.
    private var lockstep: [Int]? = nil

    init(primary: MediaDecoder, request: FrameRequest) {
        self.primary = primary
        self.request = request
    }

    deinit {
        for p in producers { p.cancel() }
    }

    func next() async throws -> VideoFrame? {
        if !started {
            started = true
            try await start()
        }
        // A frame that stood in for an undecodable one may come again for its own turn.
        while let frame = try await nextFromWorkers() {
            if frame.index == lastIndex { continue }
            lastIndex = frame.index
            return frame
        }
        return nil
    }

    private func nextFromWorkers() async throws -> VideoFrame? {
        if let targets = lockstep {
            guard cursor < targets.count else { return nil }
            try Task.checkCancellation()
            let index = targets[cursor]
            cursor += 1
            return switch request.mode {
            case .exact: try await primary.frame(at: index, size: request.size)
            case .nearestKeyframe: try await primary.keyframe(near: index, size: request.size)
            }
        }
        guard cursor < order.count else { return nil }
        if Task.isCancelled {
            for p in producers { p.cancel() }
            throw CancellationError()
        }
        let w = order[cursor]
        cursor += 1
        // A channel hands each element to one waiting iterator; a fresh one per element is fine.
        var iterator = channels[w].makeAsyncIterator()
        let frame = try await iterator.next()
        if frame == nil {
            // The producer ended early: only cancellation does that.
            for p in producers { p.cancel() }
            throw CancellationError()
        }
        return frame
    }

    private func start() async throws {
        let timeline = try await primary.timeline()
        let jobs = try await primary.plan(request)
        let runs = Self.runs(jobs, on: timeline, exact: request.mode == .exact)
        // Decoded pictures are 4:2:0 in the common case (1.5 bytes a pixel).
        let pictureBytes = await primary.info.video.map { $0.width * $0.height * 3 / 2 } ?? 0
        let (workerCount, threadsEach, decodeAhead) = ThreadBudget.decoders(forSegments: runs.count, pictureBytes: pictureBytes)
        // The primary decoder is worker 0; the others open concurrently.
        await primary.useDecoderThreads(threadsEach)
        if !decodeAhead {
            // Pictures so large that one more in flight would break the memory bound: the one
            // decoder works only when asked for the next frame.
            lockstep = jobs
            return
        }
        var decoders: [MediaDecoder] = [primary]
        if workerCount > 1 {
            let primary = self.primary
            try await withThrowingTaskGroup(of: MediaDecoder.self) { group in
                for _ in 1..<workerCount {
                    group.addTask { try await primary.sibling(threads: threadsEach) }
                }
                for try await d in group { decoders.append(d) }
            }
        }
        var perWorker = Array(repeating: [Int](), count: workerCount)
        for (r, run) in runs.enumerated() {
            perWorker[r % workerCount].append(contentsOf: run)
            order.append(contentsOf: repeatElement(r % workerCount, count: run.count))
        }
        let mode = request.mode
        let size = request.size
        for w in 0..<workerCount {
            let channel = AsyncThrowingChannel<VideoFrame, Error>()
            channels.append(channel)
            let decoder = decoders[w]
            let targets = perWorker[w]
            producers.append(Task {
                do {
                    for index in targets {
                        let frame = switch mode {
                        case .exact: try await decoder.frame(at: index, size: size)
                        case .nearestKeyframe: try await decoder.keyframe(near: index, size: size)
                        }
                        await channel.send(frame)
                        if Task.isCancelled { break }
                    }
                    channel.finish()
                } catch {
                    channel.fail(error)
                }
            })
        }
    }

    /// Splits sorted frame indices into runs that one decoder handles without seeking: a new
    /// run starts where a decoder would seek (see `Timeline.shouldSeek`).
    static func runs(_ indices: [Int], on t: Timeline, exact: Bool) -> [[Int]] {
        var runs: [[Int]] = []
        var previous: Int? = nil
        for i in indices {
            if let prev = previous, exact, !t.shouldSeek(fromIndex: prev, toIndex: i) {
                runs[runs.count - 1].append(i)
            } else {
                runs.append([i])
            }
            previous = i
        }
        return runs
    }
}
