import VidLMTensor

extension MediaDecoder {
    /// The frames `request` selects, in increasing index order, as they are decoded.
    ///
    /// Frames are split into runs that decode without seeking; runs go to up to
    /// `ThreadBudget.cores` independent decoders of the same file (parallel GOPs) as
    /// `DecodeSchedule` balances them, and decoders hand frames over through a `FrameMailbox` that
    /// holds a few frames at most (backpressure; for pictures too large for any decoding ahead,
    /// see `ThreadBudget.decoders(forSegments:pictureBytes:)`, one decoder works on demand).
    /// Ending the iteration or cancelling the consuming task stops all decoding.
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
    private var frameCount = 0
    private var cursor = 0
    private var mailbox: FrameMailbox? = nil
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
        guard cursor < frameCount, let mailbox else { return nil }
        if Task.isCancelled {
            for p in producers { p.cancel() }
            throw CancellationError()
        }
        let position = cursor
        cursor += 1
        do {
            return try await mailbox.take(position)
        } catch {
            for p in producers { p.cancel() }
            throw error
        }
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
            if request.mode == .exact { try await primary.expect(jobs) }
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
        // Where each run goes: simulated, since run costs differ (frames from each key frame).
        let frameBytes = request.size.map { $0.width * $0.height * 3 } ?? pictureBytes * 2
        let lookahead = Self.lookahead(frameBytes: frameBytes)
        // Which pictures decoders will skip matters only when there is work to share.
        let nonReference = workerCount > 1 && runs.count > 1
            ? await primary.nonReferenceFrames(in: DecodeSchedule.decodedRanges(of: runs, on: timeline)) : nil
        let schedule = DecodeSchedule.plan(costs: DecodeSchedule.costs(of: runs, on: timeline, nonReference: nonReference),
                                           workers: workerCount, lookahead: lookahead)
        var perWorker = Array(repeating: [(position: Int, index: Int)](), count: workerCount)
        var position = 0
        for (r, run) in runs.enumerated() {
            for index in run {
                perWorker[schedule.worker[r]].append((position, index))
                position += 1
            }
        }
        frameCount = position
        let mailbox = FrameMailbox(lookahead: lookahead)
        self.mailbox = mailbox
        let mode = request.mode
        let size = request.size
        for w in 0..<workerCount where !perWorker[w].isEmpty {
            let decoder = decoders[w]
            let jobs = perWorker[w]
            if mode == .exact { try await decoder.expect(jobs.map(\.index)) }
            producers.append(Task {
                for job in jobs {
                    do {
                        let frame = switch mode {
                        case .exact: try await decoder.frame(at: job.index, size: size)
                        case .nearestKeyframe: try await decoder.keyframe(near: job.index, size: size)
                        }
                        try await mailbox.deliver(frame, at: job.position)
                    } catch {
                        await mailbox.fail(error, at: job.position)
                        return
                    }
                }
            })
        }
    }

    /// Bytes of RGB frames decoders may hand over ahead of the consumer beyond the first: room
    /// for a decoder that finished its run early to go on with the next (720p: three frames).
    static let aheadBytes = 8 << 20

    /// Frames allowed ahead of the consumer for frames of `frameBytes` each: two at least, so
    /// one decoder is never held up just because another's frame is next.
    static func lookahead(frameBytes: Int) -> Int {
        1 + max(1, min(3, aheadBytes / max(1, frameBytes)))
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
