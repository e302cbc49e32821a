import ArgumentParser
import Foundation
import VidLM

struct Classify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Zero-shot classification of an image or a clip with a CLIP or SigLIP model.",
        discussion: """
        Each label (through --template, e.g. "a photo of {}.") is embedded by the model's text \
        tower and compared with the picture's embedding. CLIP's probabilities are the softmax of \
        its scaled similarities over the labels; SigLIP's are an independent sigmoid per label \
        (scale and bias learned), so they need not sum to 1. A clip is scored on --frames \
        uniformly spread frames (default 8) and the frames' probabilities are averaged; --json \
        adds the per-frame table. Several files are classified in one run against the same labels \
        (the labels are embedded once, still images go through the tower in batches): each file's \
        labels follow a line with its path, and --json prints {"results": [...], "timings": {...}}.
        """)

    @Argument(help: "One or more image or video files.")
    var media: [String] = []

    @Option(help: "Model directory (config.json model_type clip, siglip or siglip2).")
    var model: String?

    @Option(help: "Comma-separated labels, e.g. \"a cat,a dog\".")
    var labels: String

    @Option(help: "Prompt template with {} where each label goes, e.g. \"a photo of {}.\".")
    var template: String?

    @Option(help: "Frames scored from a clip (default 8).")
    var frames: Int?

    @Flag(help: "Print JSON: labels with probabilities, and each frame's scores.")
    var json = false

    func run() async throws {
        try await runReportingErrors {
            guard !media.isEmpty else { throw CLIError(message: "Give an image or video file to classify.") }
            let labels = self.labels.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            _ = try ZeroShot.prompts(labels: labels, template: template)
            let clock = ContinuousClock(), loadStart = clock.now
            let zero = try ZeroShot.load(directory: try ModelLocation.resolve(model))
            let load = seconds(clock.now - loadStart)
            let (media, template, frames, json) = (self.media, self.template, self.frames, self.json)
            try await withInterruptCancellation {
                let start = clock.now
                let results = try await zero.classify(paths: media, labels: labels, template: template, frames: frames)
                let timings = ClassifyReport.Timings(load: load, classify: seconds(clock.now - start), files: media.count)
                if json {
                    let reports = zip(results, media).map { ClassifyReport($0, media: $1) }
                    if reports.count == 1 {
                        try printJSON(reports[0].with(timings))
                    } else {
                        try printJSON(ClassifyBatchReport(results: reports, timings: timings))
                    }
                } else {
                    for (result, path) in zip(results, media) {
                        if media.count > 1 { print(path) }
                        for (label, probability) in result.ranked {
                            print((media.count > 1 ? "  " : "") + String(format: "%.4f", probability) + "  " + label)
                        }
                    }
                }
            }
        }
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// `vidlm classify --json` with several files.
struct ClassifyBatchReport: Encodable {
    let results: [ClassifyReport]
    let timings: ClassifyReport.Timings
}

/// `vidlm classify --json`.
struct ClassifyReport: Encodable {
    struct Row: Encodable { let label: String; let probability: Float }
    /// Seconds spent loading the model, and classifying (decoding, labels and pictures through the towers).
    struct Timings: Encodable { let load: Double; let classify: Double; let files: Int }
    let media: String
    let kind: String
    let labels: [Row]
    let texts: [String]
    let frames: [ZeroShot.FrameScores]
    var timings: Timings?

    func with(_ timings: Timings) -> ClassifyReport {
        var r = self
        r.timings = timings
        return r
    }

    init(_ r: ZeroShot.Classification, media: String) {
        self.media = media
        kind = r.kind.rawValue
        labels = r.ranked.map { Row(label: $0.label, probability: $0.probability) }
        texts = r.texts
        frames = r.frames
    }
}
