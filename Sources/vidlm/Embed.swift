import ArgumentParser
import Foundation
import VidLM
import VidLMTensor

struct Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "L2-normalised CLIP / SigLIP embeddings of an image, a clip's frames, or a text.",
        discussion: """
        An image gives one embedding, a clip one per frame (--frames, default 8) plus their \
        normalised mean, a text (--text) one embedding; all in the model's shared image–text \
        space, so cosine similarity is a dot product. --output writes safetensors (tensor \
        `embeddings` [N, P], and `mean` [P] for a clip); --json prints them.
        """)

    @Argument(help: "An image or video file (omit with --text).")
    var media: String?

    @Option(help: "Embed this text instead of media.")
    var text: String?

    @Option(help: "Model directory (config.json model_type clip, siglip or siglip2).")
    var model: String?

    @Option(help: "Frames embedded from a clip (default 8).")
    var frames: Int?

    @Option(name: .shortAndLong, help: "Output .safetensors file.")
    var output: String?

    @Flag(help: "Print the embeddings as JSON.")
    var json = false

    func validate() throws {
        if (media == nil) == (text == nil) { throw ValidationError("Give either a media file or --text, not both.") }
        if (output == nil) == !json { throw ValidationError("Give either --output FILE or --json.") }
        if let text, ZeroShot.trimmed(text).isEmpty { throw ValidationError("--text must not be empty.") }
    }

    func run() async throws {
        try await runReportingErrors {
            let zero = try ZeroShot.load(directory: try ModelLocation.resolve(model))
            let (media, text, frames, output, json) = (self.media, self.text, self.frames, self.output, self.json)
            try await withInterruptCancellation {
                let result = try await zero.embed(path: media, text: text, frames: frames)
                if let output {
                    var tensors = ["embeddings": result.embeddings]
                    if let mean = result.mean { tensors["mean"] = mean }
                    try SafetensorsWriter.write(tensors, metadata: ["kind": result.kind, "model": zero.model.modelType],
                                                to: URL(fileURLWithPath: output))
                }
                if json { try printJSON(EmbedReport(result)) }
            }
        }
    }
}

/// `vidlm embed --json`.
struct EmbedReport: Encodable {
    let kind: String
    let frames: [ZeroShot.Embeddings.Frame]?
    let embeddings: [[Float]]
    let mean: [Float]?

    init(_ r: ZeroShot.Embeddings) {
        kind = r.kind
        frames = r.frames
        let p = r.embeddings.shape[1], v = r.embeddings.floats()
        embeddings = (0..<r.embeddings.shape[0]).map { Array(v[$0 * p..<($0 + 1) * p]) }
        mean = r.mean?.floats()
    }
}
