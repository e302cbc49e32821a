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
        adds the per-frame table.
        """)

    @Argument(help: "An image or video file.")
    var media: String

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
            let labels = self.labels.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            _ = try ZeroShot.prompts(labels: labels, template: template)
            let zero = try ZeroShot.load(directory: try ModelLocation.resolve(model))
            let (media, template, frames, json) = (self.media, self.template, self.frames, self.json)
            try await withInterruptCancellation {
                let result = try await zero.classify(path: media, labels: labels, template: template, frames: frames)
                if json {
                    try printJSON(ClassifyReport(result, media: media))
                } else {
                    for (label, probability) in result.ranked {
                        print(String(format: "%.4f", probability) + "  " + label)
                    }
                }
            }
        }
    }
}

/// `vidlm classify --json`.
struct ClassifyReport: Encodable {
    struct Row: Encodable { let label: String; let probability: Float }
    let media: String
    let kind: String
    let labels: [Row]
    let texts: [String]
    let frames: [ZeroShot.FrameScores]

    init(_ r: ZeroShot.Classification, media: String) {
        self.media = media
        kind = r.kind.rawValue
        labels = r.ranked.map { Row(label: $0.label, probability: $0.probability) }
        texts = r.texts
        frames = r.frames
    }
}
