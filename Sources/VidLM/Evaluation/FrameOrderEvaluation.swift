import Foundation
import VidLMModels
import VidLMTensor

/// Which frame orders a clip's true order is compared against.
public enum PerturbationMode: String, Sendable, Codable, CaseIterable {
    case reverse, shuffle, both
}

/// Settings of a frame-order run.
public struct FrameOrderSettings: Sendable, Codable {
    public var mode: PerturbationMode
    /// Seeded random shuffles per clip (mode shuffle/both).
    public var shuffles: Int
    /// Frames sampled per clip (nil: the model's default).
    public var frames: Int?
    public var seed: UInt64
    /// The question the caption answers (nil: the family's caption prompt).
    public var question: String?
    /// Bootstrap resamples for the 95 % interval.
    public var bootstrap: Int

    public init(mode: PerturbationMode = .both, shuffles: Int = 4, frames: Int? = nil, seed: UInt64 = 0,
                question: String? = nil, bootstrap: Int = 2000) {
        self.mode = mode
        self.shuffles = shuffles
        self.frames = frames
        self.seed = seed
        self.question = question
        self.bootstrap = bootstrap
    }

    public func validate() throws(EngineError) {
        if (mode == .shuffle || mode == .both) && shuffles < 1 {
            throw .invalidOption("--mode \(mode.rawValue) needs --shuffles K with K ≥ 1, got \(shuffles)")
        }
        if mode == .reverse && shuffles < 0 { throw .invalidOption("--shuffles must not be negative") }
        if let frames, frames < 2 { throw .invalidOption("frame order needs at least 2 frames, got \(frames)") }
        if bootstrap < 1 { throw .invalidOption("bootstrap resamples must be at least 1") }
    }
}

/// One clip's scores.
public struct ClipResult: Sendable, Codable {
    public struct Perturbation: Sendable, Codable {
        /// "reverse" or "shuffle-k".
        public let name: String
        /// order[i] = which sampled frame is shown i-th.
        public let order: [Int]
        public let score: Double
        public let controlScore: Double
    }
    public let id: String
    public let video: String
    public let frames: Int
    /// Caption log-likelihood (sum over tokens) in the true order.
    public let trueScore: Double
    public let trueMeanPerToken: Double
    public let perturbations: [Perturbation]
    /// trueScore − the best perturbation's score.
    public let margin: Double
    /// 1 when the true order beats every perturbation, 1/(tied + 1) on exact ties at the top, else 0.
    public let credit: Double
    /// The same with order information removed (every frame at position 0).
    public let controlTrueScore: Double
    public let controlMargin: Double
    public let controlCredit: Double
    /// Why the clip could not be scored (then every score is 0 and it is left out of the summary).
    public let error: String?
}

/// Summary statistics of one arm (true order, or the control).
public struct ArmSummary: Sendable, Codable {
    public let accuracy: Double
    public let meanMargin: Double
    /// 95 % bootstrap interval of the accuracy.
    public let accuracyInterval: [Double]
}

/// A frame-order report.
public struct FrameOrderReport: Sendable, Codable {
    public let model: String
    public let modelType: String
    public let manifest: String
    public let settings: FrameOrderSettings
    /// The accuracy an order-blind model gets: 1 / (perturbations + 1).
    public let chance: Double
    /// How the model can see order, and what the control removes.
    public let orderSignal: String
    public let control: String
    public let clips: Int
    public let scored: Int
    public let failed: Int
    public let trueOrder: ArmSummary
    public let orderRemoved: ArmSummary
    public let seconds: Double
    public let rows: [ClipResult]
}

/// The frame-order evaluation: for each clip, the caption's log-likelihood with frames in the true
/// order vs reversed / shuffled, and a control with every frame at the same position.
/// Each clip is decoded and vision-encoded once; perturbations reorder the features and rerun
/// only the merger, bridge and decoder prefill.
public struct FrameOrderEvaluation: Sendable {
    public let engine: Engine
    public let settings: FrameOrderSettings

    public init(engine: Engine, settings: FrameOrderSettings) {
        self.engine = engine
        self.settings = settings
    }

    /// The frame orders compared with the identity for `count` frames (distinct, never the
    /// identity itself; fewer shuffles when the frames allow fewer distinct orders).
    public func perturbations(frames count: Int, clipIndex: Int) -> [(name: String, order: [Int])] {
        var out: [(String, [Int])] = []
        let identity = Array(0..<count)
        var seen: Set<[Int]> = [identity]
        if settings.mode != .shuffle {
            out.append(("reverse", identity.reversed()))
            seen.insert(identity.reversed())
        }
        if settings.mode != .reverse {
            var rng = SplitMix64(seed: settings.seed &+ UInt64(clipIndex) &* 0x9E37_79B9_7F4A_7C15)
            var attempts = 0
            while out.count < (settings.mode == .both ? 1 : 0) + settings.shuffles && attempts < 1000 {
                attempts += 1
                var order = identity
                for i in stride(from: count - 1, to: 0, by: -1) {
                    let j = Int(rng.next() % UInt64(i + 1))
                    order.swapAt(i, j)
                }
                if seen.insert(order).inserted { out.append(("shuffle-\(out.count - (settings.mode == .both ? 1 : 0) + 1)", order)) }
            }
        }
        return out
    }

    /// Scores closer than this (relative, at least 1e-5 nats) are ties: reordering a set of
    /// tokens changes float summation order by a few ulps, which is not an order signal.
    public static let tieTolerance = 1e-5

    static func tied(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= tieTolerance * max(1, abs(a), abs(b))
    }

    /// Credit of the true-order score against the perturbations': 1 if it beats all of them, 0
    /// if any beats it, else 1/(ties + 1) for the perturbations tied with it at the top.
    public static func credit(trueScore: Double, others: [Double]) -> Double {
        var ties = 0
        for other in others {
            if tied(trueScore, other) { ties += 1 } else if other > trueScore { return 0 }
        }
        return 1 / Double(ties + 1)
    }

    /// Scores one clip (already decoded and encoded) given as features [T, …].
    public func scoreClip(id: String, video: String, caption: String, features: Tensor, clipIndex: Int) throws -> ClipResult {
        let t = features.shape[0]
        let media = EncodedMedia(kind: .video, frames: (0..<t).map { FrameInfo(index: $0, seconds: 0) },
                                 parts: (0..<t).map { EncodedFrame(features: features.rows($0..<($0 + 1))) }, durationSeconds: 0)
        return try scoreClip(id: id, video: video, caption: caption, media: media, clipIndex: clipIndex)
    }

    /// Scores one clip as the family encoded it. A perturbation reorders the frames' content;
    /// each slot keeps its place (and time) in the clip.
    public func scoreClip(id: String, video: String, caption: String, media: EncodedMedia, clipIndex: Int) throws -> ClipResult {
        let t = media.parts.count
        let zeros = Array(repeating: 0, count: t)
        func reorder(_ order: [Int]) -> EncodedMedia {
            EncodedMedia(kind: media.kind, frames: media.frames, parts: order.map { media.parts[$0] }, durationSeconds: media.durationSeconds)
        }
        func score(_ x: EncodedMedia, control: Bool) throws -> AnswerScore {
            try engine.score(media: x, question: settings.question, answer: caption, framePositions: control ? zeros : nil)
        }
        let truth = try score(media, control: false)
        let controlTruth = try score(media, control: true)
        var rows: [ClipResult.Perturbation] = []
        for (name, order) in perturbations(frames: t, clipIndex: clipIndex) {
            try Task.checkCancellation()
            let x = reorder(order)
            rows.append(.init(name: name, order: order, score: try score(x, control: false).sum,
                              controlScore: try score(x, control: true).sum))
        }
        let others = rows.map(\.score), controlOthers = rows.map(\.controlScore)
        return ClipResult(id: id, video: video, frames: t, trueScore: truth.sum, trueMeanPerToken: truth.mean,
                          perturbations: rows, margin: truth.sum - (others.max() ?? truth.sum),
                          credit: Self.credit(trueScore: truth.sum, others: others),
                          controlTrueScore: controlTruth.sum,
                          controlMargin: controlTruth.sum - (controlOthers.max() ?? controlTruth.sum),
                          controlCredit: Self.credit(trueScore: controlTruth.sum, others: controlOthers), error: nil)
    }

    /// Runs the manifest. `progress(done, total, id)` is called after each clip. A clip that
    /// cannot be decoded or scored becomes a row with its error; the run goes on.
    public func run(_ manifest: FrameOrderManifest, progress: @Sendable (Int, Int, String) -> Void = { _, _, _ in }) async throws -> FrameOrderReport {
        try settings.validate()
        let start = ContinuousClock.now
        var rows: [ClipResult] = []
        for (i, entry) in manifest.entries.enumerated() {
            try Task.checkCancellation()
            do {
                let options = AskOptions(frames: settings.frames ?? max(2, engine.model.defaultFrameCount))
                let media = try await engine.encodedMedia(.media(path: entry.url.path), options: options)
                guard media.parts.count >= 2 else {
                    throw EngineError.invalidOption("the clip gave \(media.parts.count) frame; frame order needs at least 2")
                }
                rows.append(try scoreClip(id: entry.id, video: entry.video, caption: entry.caption, media: media, clipIndex: i))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                rows.append(ClipResult(id: entry.id, video: entry.video, frames: 0, trueScore: 0, trueMeanPerToken: 0,
                                       perturbations: [], margin: 0, credit: 0, controlTrueScore: 0, controlMargin: 0,
                                       controlCredit: 0, error: String(describing: error)))
            }
            progress(i + 1, manifest.entries.count, entry.id)
        }
        let ok = rows.filter { $0.error == nil }
        let perturbationCount = settings.mode == .reverse ? 1 : settings.shuffles + (settings.mode == .both ? 1 : 0)
        let signal: String
        let control: String
        switch engine.model.orderSignal {
        case .framePositions:
            signal = "learned frame position embeddings"
            control = "every frame given position index 0"
        case .rotaryTimePositions:
            signal = "M-RoPE time positions of the frame pairs"
            control = "every frame pair given the first pair's time position (height and width positions kept)"
        case .frameTimestamps:
            signal = "each frame's time stated in the prompt"
            control = "every frame given the first frame's time"
        case .none(let why):
            signal = "none: \(why)"
            control = "identical to the true-order run (the family has no frame position signal to remove)"
        }
        return FrameOrderReport(
            model: engine.directory.path, modelType: engine.model.modelType, manifest: manifest.url.path,
            settings: settings, chance: 1 / Double(perturbationCount + 1), orderSignal: signal, control: control,
            clips: rows.count, scored: ok.count, failed: rows.count - ok.count,
            trueOrder: summary(ok.map(\.credit), ok.map(\.margin), salt: 1),
            orderRemoved: summary(ok.map(\.controlCredit), ok.map(\.controlMargin), salt: 2),
            seconds: durationSeconds(ContinuousClock.now - start), rows: rows)
    }

    private func summary(_ credits: [Double], _ margins: [Double], salt: UInt64) -> ArmSummary {
        guard !credits.isEmpty else { return ArmSummary(accuracy: 0, meanMargin: 0, accuracyInterval: [0, 0]) }
        let n = credits.count
        let accuracy = credits.reduce(0, +) / Double(n)
        var rng = SplitMix64(seed: settings.seed ^ (0xB007 &* salt))
        var means: [Double] = []
        for _ in 0..<settings.bootstrap {
            var s = 0.0
            for _ in 0..<n { s += credits[Int(rng.next() % UInt64(n))] }
            means.append(s / Double(n))
        }
        means.sort()
        let lo = means[Int(0.025 * Double(means.count - 1))], hi = means[Int(0.975 * Double(means.count - 1))]
        return ArmSummary(accuracy: accuracy, meanMargin: margins.reduce(0, +) / Double(n), accuracyInterval: [lo, hi])
    }
}

/// SplitMix64: a small seeded generator, identical on every platform.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func durationSeconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
