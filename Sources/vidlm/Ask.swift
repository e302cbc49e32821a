import ArgumentParser
import Foundation
import VidLM
import VidLMMedia
import VidLMModels
import VidLMTensor

/// Options shared by ask, caption and image.
struct AnswerOptions: ParsableArguments {
    @Option(help: "Model directory (default: $VIDLM_MODEL, else the built-in demo model vidlm-shapes; see docs/cli.md).")
    var model: String?

    @Option(help: "Frames to sample uniformly (default: the model's; with --fps, the maximum).")
    var frames: Int?

    @OptionGroup var range: TimeRangeOptions

    @OptionGroup var sampling: SamplingParameterOptions

    @OptionGroup var precision: ComputeOptions

    @Flag(help: "Print one JSON object (answer, token_ids, frames, model, timings) instead of text.")
    var json = false

    @Option(help: "A safetensors file with pixel_values [T, 3, H, W] to use instead of decoding the media.")
    var pixels: String?

    @Option(help: "Penalty > 1 for tokens already seen (default: the model's generation_config.json, else 1).")
    var repetitionPenalty: Float?

    func askOptions(stillImage: Bool, directory: URL) throws -> AskOptions {
        if let frames, frames < 1 { throw CLIError(message: "--frames must be at least 1.") }
        if let repetitionPenalty, !(repetitionPenalty > 0 && repetitionPenalty.isFinite) {
            throw CLIError(message: "--repetition-penalty must be positive.")
        }
        let defaults = try GenerationDefaults.load(directory: directory)
        let parameters = try sampling.parameters(repetitionPenalty: repetitionPenalty ?? defaults.repetitionPenalty ?? 1,
                                                 badWordsIds: defaults.badWordsIds ?? [])
        return AskOptions(frames: frames, fps: range.fps, start: range.start, end: range.end, keyframes: range.keyframes,
                          stillImage: stillImage, generation: parameters)
    }
}

/// The JSON `ask`, `caption` and `image` print with --json.
struct AnswerJSON: Encodable {
    struct Frame: Encodable { let index: Int; let seconds: Double }
    struct PerFrame: Encodable { let frame: Frame?; let answer: String; let tokenIds: [Int]; let promptTokenIds: [Int] }
    let answer: String
    let tokenIds: [Int]
    /// The prompt the decoder saw, as the processor's `input_ids` (the first answer's).
    let promptTokenIds: [Int]
    let frames: [Frame]
    let answers: [PerFrame]?
    let model: String
    let modelType: String
    let finish: String
    let timings: StageTimings
}

/// Runs one request and prints its answer: streamed text, or JSON at the end.
func answer(media: String?, question: String?, options: AnswerOptions, stillImage: Bool) async throws {
    try await runReportingErrors {
        guard (media == nil) != (options.pixels == nil) else {
            throw CLIError(message: "Give either a media file or --pixels, not both.")
        }
        let resolved = try ModelLocation.resolveModel(options.model)
        let directory = resolved.url
        let askOptions = try options.askOptions(stillImage: stillImage, directory: directory)
        if let question, question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw CLIError(message: "The question is empty.")
        }
        let input: EngineInput = try options.pixels.map { .pixels(try readPixels($0)) } ?? .media(path: media!)
        try await withInterruptCancellation {
            let engine = try await Engine.load(directory: directory, compute: options.precision.compute)
            let out = FileHandle.standardOutput, err = FileHandle.standardError
            if resolved.isBuiltIn && !options.json { err.writeIfTerminal(ModelLocation.builtInNotice) }
            var wroteText = false
            var result: AskResult?
            for try await event in engine.ask(input, question: question, options: askOptions) {
                switch event {
                case .framesPlanned(let frames):
                    err.writeIfTerminal("vidlm: \(frames.count) frame\(frames.count == 1 ? "" : "s")\n")
                case .encoded(let done, let total):
                    err.writeIfTerminal("\rvidlm: encoded \(done)/\(total) frames" + (done == total ? "\n" : ""))
                case .frameAnswer(let frame):
                    if !options.json {
                        if wroteText { out.write(Data("\n".utf8)) }
                        out.write(Data(String(format: "[frame %d, %.2f s] ", frame.index, frame.seconds).utf8))
                        wroteText = true
                    }
                case .prefilled(let positions, let s):
                    err.writeIfTerminal(String(format: "vidlm: prefill %d positions in %.3f s\n", positions, s))
                case .text(let piece, _):
                    if !options.json {
                        out.write(Data((wroteText ? piece : String(piece.drop(while: { $0 == " " }))).utf8))
                        wroteText = wroteText || !piece.allSatisfy { $0 == " " }
                    }
                case .finished(let r):
                    result = r
                }
            }
            guard let result else { throw CancellationError() }
            if options.json {
                let frame = { (f: FrameInfo) in AnswerJSON.Frame(index: f.index, seconds: f.seconds) }
                try printJSON(AnswerJSON(
                    answer: result.answer, tokenIds: result.tokenIds, promptTokenIds: result.answers.first?.promptTokenIds ?? [],
                    frames: result.frames.map(frame),
                    answers: result.answers.count > 1
                        ? result.answers.map { .init(frame: $0.frame.map(frame), answer: $0.text, tokenIds: $0.tokenIds, promptTokenIds: $0.promptTokenIds) }
                        : nil,
                    model: directory.path, modelType: engine.model.modelType, finish: "\(result.finish)", timings: result.timings))
            } else {
                out.write(Data("\n".utf8))
                let t = result.timings
                let tokens = result.tokenIds.count
                let rate = t.generation > 0 && tokens > 1 ? Double(tokens - 1) / t.generation : 0
                err.writeIfTerminal(String(format: "vidlm: %d tokens, %.1f tok/s (decode %.2f s, vision %.2f s, bridge %.3f s, prefill %.3f s)\n",
                                           tokens, rate, t.decode, t.vision, t.bridge, t.prefill))
            }
        }
    }
}

func readPixels(_ path: String) throws -> Tensor {
    let file = try SafetensorsFile(url: URL(fileURLWithPath: path))
    guard file.contains("pixel_values") else {
        throw CLIError(message: "\(path) has no tensor named pixel_values.")
    }
    let t = try file.tensor("pixel_values")
    guard t.rank == 4, t.shape[1] == 3 else {
        throw CLIError(message: "pixel_values must have shape [frames, 3, height, width], not \(t.shape).")
    }
    return t
}

/// Splits positional arguments into media and question: with --pixels there is no media.
func splitArguments(_ args: [String], pixels: Bool, questionRequired: Bool, command: String) throws -> (media: String?, question: String?) {
    let mediaCount = pixels ? 0 : 1
    let maxCount = mediaCount + 1, minCount = mediaCount + (questionRequired ? 1 : 0)
    guard args.count >= minCount, args.count <= maxCount else {
        let usage = pixels ? (questionRequired ? "\"QUESTION\"" : "[\"QUESTION\"]") : (questionRequired ? "MEDIA \"QUESTION\"" : "MEDIA [\"QUESTION\"]")
        throw CLIError(message: "vidlm \(command) takes \(usage)\(pixels ? " with --pixels" : "").")
    }
    return (pixels ? nil : args[0], args.count > mediaCount ? args[mediaCount] : nil)
}

struct Ask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a question about a video or an image.",
        discussion: """
        Usage: vidlm ask MEDIA "QUESTION" (or vidlm ask --pixels P.safetensors "QUESTION"). The \
        answer streams to stdout; progress goes to stderr when it is a terminal. Image models \
        (BLIP-2) answer a clip from its middle frame, or each frame when --frames N > 1 is given.
        """)

    @Argument(help: "The media file and the question.")
    var arguments: [String] = []

    @OptionGroup var options: AnswerOptions

    func run() async throws {
        try await runReportingErrors {
            let (media, question) = try splitArguments(arguments, pixels: options.pixels != nil, questionRequired: true, command: "ask")
            try await answer(media: media, question: question, options: options, stillImage: false)
        }
    }
}

struct Caption: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a video or an image.")

    @Argument(help: "A video or image file (omit with --pixels).")
    var media: String?

    @OptionGroup var options: AnswerOptions

    func run() async throws {
        try await answer(media: media, question: nil, options: options, stillImage: false)
    }
}

struct Image: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Caption an image, or answer a question about it (still-image mode: one frame).",
        discussion: "Usage: vidlm image IMAGE [\"QUESTION\"]; a video contributes its middle frame.")

    @Argument(help: "The image file and an optional question.")
    var arguments: [String] = []

    @OptionGroup var options: AnswerOptions

    func run() async throws {
        try await runReportingErrors {
            let (media, question) = try splitArguments(arguments, pixels: options.pixels != nil, questionRequired: false, command: "image")
            try await answer(media: media, question: question, options: options, stillImage: true)
        }
    }
}
