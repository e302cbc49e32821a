/// Which decoder handles which run of frames, chosen by simulating the request.
///
/// A run is a stretch of wanted frames one decoder reaches without seeking (it starts at a key
/// frame), and its cost is about the number of frames decoded to reach each of its frames. Frames
/// are handed to the consumer in order, and a decoder may hand over frame `p` only once the frame
/// `lookahead` places before it has been taken (the memory bound), so where a run goes changes
/// when the others can start. Round-robin leaves one decoder with most of the work when run costs
/// differ (8 frames of a 1-minute clip with 250-frame GOPs: 602 of 941 frames on one decoder);
/// the schedule here is the best assignment under that model: exhaustive for a few runs, greedy
/// plus single-run moves beyond that.
public struct DecodeSchedule: Sendable, Equatable {
    /// The decoder of each run.
    public let worker: [Int]
    /// The simulated time the last frame is taken, in frames decoded.
    public let makespan: Double

    /// Decoding cost of each frame of each run, in average frames decoded: the first frame of a
    /// run pays for the seek and every frame from its key frame; later ones for the frames since
    /// the last. Where the timeline knows packet sizes, a frame weighs a quarter of an average
    /// frame plus three quarters of its share of the bytes: decoding time follows the bytes (a
    /// key frame costs as much as a dozen others) with a fixed part per frame. Frames listed in
    /// `nonReference` (see `MediaDecoder.nonReferenceFrames`) are skipped on the way to a wanted
    /// frame and cost next to nothing. Measured on the media benchmark's clip (H.264, half its
    /// frames non-reference): with them this model predicts each run's time within about 5 %;
    /// without, long runs came out 10 % dearer than short ones, enough to pick the slower of two
    /// near-equal assignments.
    public static func costs(of runs: [[Int]], on t: Timeline, nonReference: Set<Int>? = nil) -> [[Double]] {
        let weight = work(on: t, nonReference: nonReference ?? [])
        return runs.map { run in
            var previous: Int? = nil
            return run.map { index in
                defer { previous = index }
                if let previous { return weight(previous + 1, index) }
                return weight(keyframeIndex(before: index, on: t), index) + seekCost
            }
        }
    }

    /// The stretch of timeline positions each run decodes: from its first frame's key frame to
    /// its last frame.
    public static func decodedRanges(of runs: [[Int]], on t: Timeline) -> [ClosedRange<Int>] {
        runs.compactMap { run in
            guard let first = run.first, let last = run.last else { return nil }
            return keyframeIndex(before: first, on: t)...max(first, last)
        }
    }

    /// Where decoding starts for frame `index` after a seek (never after the frame itself).
    private static func keyframeIndex(before index: Int, on t: Timeline) -> Int {
        min(index, t.index(displayedAtPts: t.keyframes[t.keyframePosition(beforeIndex: index)].pts))
    }

    /// The cost of decoding frames `from...through` (see `costs`).
    private static func work(on t: Timeline, nonReference: Set<Int>) -> (Int, Int) -> Double {
        let decoded: (Int, Int) -> Double
        if let bytes = t.bytesBefore, t.count > 0, let total = bytes.last, total > 0 {
            let mean = Double(total) / Double(t.count)
            decoded = { from, through in
                0.25 * Double(through - from + 1) + 0.75 * Double(bytes[through + 1] - bytes[from]) / mean
            }
        } else {
            decoded = { from, through in Double(through - from + 1) }
        }
        return { from, through in
            guard through >= from else { return 0 }
            guard !nonReference.isEmpty else { return decoded(from, through) }
            var cost = 0.0
            for i in from...through {
                cost += i != through && nonReference.contains(i) ? skippedFrameCost : decoded(i, i)
            }
            return cost
        }
    }

    /// A non-reference frame passed over: its packet is read and its slice header parsed.
    static let skippedFrameCost = 0.05

    /// A seek flushes the decoder and refills its pipeline: about as much as decoding a few frames.
    static let seekCost = Double(Timeline.seekThresholdFrames)

    /// Assignments tried exhaustively up to this many (workers^runs); beyond it, greedy.
    static let exhaustiveLimit = 1 << 12

    /// The assignment of runs (given by the costs of their frames, in output order) to `workers`
    /// decoders that finishes first with `lookahead` frames allowed ahead of the consumer.
    public static func plan(costs: [[Double]], workers: Int, lookahead: Int) -> DecodeSchedule {
        let n = costs.count
        let w = max(1, workers)
        let model = Model(costs: costs, lookahead: max(1, lookahead))
        guard w > 1, n > 1 else {
            let single = [Int](repeating: 0, count: n)
            return DecodeSchedule(worker: single, makespan: model.makespan(single))
        }
        var best = roundRobin(n, w)
        var bestTime = model.makespan(best)
        func consider(_ a: [Int]) {
            let time = model.makespan(a)
            if time < bestTime { best = a; bestTime = time }
        }
        var combos = 1
        for _ in 1..<n where combos <= exhaustiveLimit { combos *= w }
        if combos <= exhaustiveLimit {
            // Run 0 goes to worker 0 (workers are interchangeable); the rest in every way.
            var a = [Int](repeating: 0, count: n)
            for code in 0..<combos {
                var c = code
                for r in 1..<n { a[r] = c % w; c /= w }
                consider(a)
            }
        } else {
            consider(model.greedy(workers: w))
            improveByMoves(&best, &bestTime, model: model, workers: w)
        }
        return DecodeSchedule(worker: best, makespan: bestTime)
    }

    static func roundRobin(_ n: Int, _ w: Int) -> [Int] { (0..<n).map { $0 % w } }

    /// Moves one run to another decoder while that shortens the schedule (a few passes; only for
    /// requests small enough that a pass stays cheap).
    private static func improveByMoves(_ best: inout [Int], _ bestTime: inout Double, model: Model, workers: Int) {
        guard best.count <= 64 else { return }
        for _ in 0..<4 {
            var improved = false
            for r in best.indices {
                let own = best[r]
                for other in 0..<workers where other != own {
                    best[r] = other
                    let time = model.makespan(best)
                    if time < bestTime { bestTime = time; improved = true; break }
                    best[r] = own
                }
            }
            if !improved { return }
        }
    }

    /// The request as the merger runs it: each decoder takes its runs in output order; a frame is
    /// handed over when decoded and when the frame `lookahead` places before it has been taken,
    /// and the decoder waits holding it until then; the consumer takes frames in order at once.
    struct Model {
        let costs: [[Double]]
        let lookahead: Int
        let frames: Int

        init(costs: [[Double]], lookahead: Int) {
            self.costs = costs
            self.lookahead = lookahead
            frames = costs.reduce(0) { $0 + $1.count }
        }

        func makespan(_ worker: [Int]) -> Double {
            var free = [Double](repeating: 0, count: (worker.max() ?? 0) + 1)
            var taken = [Double](repeating: 0, count: frames)
            var p = 0
            for (r, run) in costs.enumerated() {
                let w = worker[r]
                for cost in run {
                    let gate = p >= lookahead ? taken[p - lookahead] : 0
                    let handed = max(free[w] + cost, gate)
                    free[w] = handed
                    taken[p] = max(handed, p > 0 ? taken[p - 1] : 0)
                    p += 1
                }
            }
            return p > 0 ? taken[p - 1] : 0
        }

        /// Each run, in order, to the decoder that would hand over its last frame first.
        func greedy(workers: Int) -> [Int] {
            var free = [Double](repeating: 0, count: workers)
            var taken = [Double](repeating: 0, count: frames)
            var worker: [Int] = []
            var p = 0
            for run in costs {
                var bestW = 0, bestEnd = Double.infinity
                for w in 0..<workers {
                    // Frames of this run taken so far count in its own later gates.
                    var f = free[w], q = p, own: [Double] = []
                    for cost in run {
                        let g = q - lookahead
                        let gate = g < 0 ? 0 : g < p ? taken[g] : own[g - p]
                        f = max(f + cost, gate)
                        own.append(max(f, own.last ?? (p > 0 ? taken[p - 1] : 0)))
                        q += 1
                    }
                    if f < bestEnd { bestEnd = f; bestW = w }
                }
                worker.append(bestW)
                for cost in run {
                    let gate = p >= lookahead ? taken[p - lookahead] : 0
                    free[bestW] = max(free[bestW] + cost, gate)
                    taken[p] = max(free[bestW], p > 0 ? taken[p - 1] : 0)
                    p += 1
                }
            }
            return worker
        }
    }
}
