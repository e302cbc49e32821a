/// Which frames to take from a clip. Times are seconds from the first displayed frame.
public enum FrameSelection: Sendable, Equatable {
    /// `count` frames spread evenly: the range is cut into `count` equal segments and the frame
    /// on screen at each segment's centre is taken (for N frames and count n over a whole
    /// constant-rate clip: index ⌊(i + ½)·N/n⌋).
    case uniform(count: Int)
    /// The frames on screen at `start + k/rate` for k = 0, 1, …; if that gives more than
    /// `maxFrames`, `maxFrames` uniform frames over the range instead.
    case fps(rate: Double, maxFrames: Int?)
    /// The frame on screen at each of these times, in increasing order, each frame once.
    case timestamps([Double])
    /// Every frame in the range.
    case all
    /// These frame indices (presentation order, 0-based), as a model's own sampling rule chose
    /// them; out-of-range indices are an error, duplicates are taken once.
    case indices([Int])
}

/// How precisely frames are found.
public enum SeekMode: String, Sendable, Codable {
    /// The requested frames exactly (decode from the preceding key frame).
    case exact
    /// Approximate, for speed: the key frame nearest each requested frame; the index reported
    /// is the frame actually returned.
    case nearestKeyframe = "keyframe"
}

/// A frame request: the selection, an optional time range, and output options.
public struct FrameRequest: Sendable, Equatable {
    public var selection: FrameSelection
    public var start: Double?
    public var end: Double?
    public var mode: SeekMode
    /// Output size after rotation (width, height); nil keeps the display size.
    public var size: PixelSize?

    public init(_ selection: FrameSelection, start: Double? = nil, end: Double? = nil,
                mode: SeekMode = .exact, size: PixelSize? = nil) {
        self.selection = selection
        self.start = start
        self.end = end
        self.mode = mode
        self.size = size
    }
}

public struct PixelSize: Sendable, Equatable, Codable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
}

/// Turns a request into frame indices on a timeline. Pure, so it is tested on its own.
public enum SamplingPlanner {
    /// Sorted, distinct frame indices for `request` on `timeline`.
    public static func indices(for request: FrameRequest, on timeline: Timeline) throws(MediaError) -> [Int] {
        let duration = timeline.durationSeconds
        let start = request.start ?? 0
        let end = min(request.end ?? duration, duration)
        guard start.isFinite, end.isFinite else {
            throw .invalidRequest("Start and end times must be finite numbers.")
        }
        guard start >= 0 else { throw .invalidRequest("The start time must not be negative.") }
        guard start < duration || (timeline.count == 1 && start == 0) else {
            throw .startAfterEnd(start: start, duration: duration)
        }
        guard end > start || (timeline.count == 1 && start == 0) else {
            throw .invalidRequest("The end time must be after the start time.")
        }
        let first = timeline.index(displayedAt: start)
        // The last frame whose display starts before `end`.
        var last = timeline.index(displayedAt: end)
        if last > first, timeline.seconds(ofPts: timeline.pts[last]) >= end {
            // Frames sharing that pts all start at `end`.
            last = max(first, (timeline.indices(ofPts: timeline.pts[last])?.lowerBound ?? last) - 1)
        }

        switch request.selection {
        case .uniform(let count):
            guard count > 0 else { throw .invalidRequest("The frame count must be at least 1.") }
            return uniform(count: count, start: start, end: end, first: first, timeline: timeline)
        case .fps(let rate, let maxFrames):
            guard rate > 0, rate.isFinite else { throw .invalidRequest("The frame rate must be a positive number.") }
            if let maxFrames, maxFrames <= 0 { throw .invalidRequest("The maximum frame count must be at least 1.") }
            var picked: [Int] = []
            var k = 0
            while true {
                let t = start + Double(k) / rate
                if t >= end && !(k == 0) { break }
                picked.append(timeline.index(displayedAt: t))
                k += 1
                if k > 10_000_000 { break }
            }
            let distinct = dedupe(picked)
            if let maxFrames, distinct.count > maxFrames {
                return uniform(count: maxFrames, start: start, end: end, first: first, timeline: timeline)
            }
            return distinct
        case .timestamps(let times):
            guard !times.isEmpty else { throw .invalidRequest("At least one timestamp is needed.") }
            var picked: [Int] = []
            for t in times {
                guard t.isFinite, t >= 0, t < duration || (timeline.count == 1 && t == 0) else {
                    throw .timestampOutOfRange(t, duration: duration)
                }
                picked.append(timeline.index(displayedAt: t))
            }
            return dedupe(picked.sorted())
        case .all:
            // Frames sharing the first one's pts start with it.
            let from = timeline.indices(ofPts: timeline.pts[first])?.lowerBound ?? first
            return Array(from...max(first, last))
        case .indices(let wanted):
            guard !wanted.isEmpty else { throw .invalidRequest("At least one frame index is needed.") }
            for i in wanted where i < 0 || i >= timeline.count {
                throw .invalidRequest("Frame index \(i) is outside the clip's \(timeline.count) frames.")
            }
            return dedupe(wanted.sorted())
        }
    }

    private static func uniform(count: Int, start: Double, end: Double, first: Int, timeline: Timeline) -> [Int] {
        if timeline.count == 1 { return [0] }
        let span = end - start
        var picked: [Int] = []
        picked.reserveCapacity(count)
        for i in 0..<count {
            let t = start + (Double(i) + 0.5) * span / Double(count)
            picked.append(max(first, timeline.index(displayedAt: t)))
        }
        return dedupe(picked)
    }

    private static func dedupe(_ sorted: [Int]) -> [Int] {
        var out: [Int] = []
        for i in sorted where out.last != i { out.append(i) }
        return out
    }
}
