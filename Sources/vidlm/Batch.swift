import ArgumentParser
import Foundation
import VidLM
import VidLMMedia
import VidLMModels
#if canImport(Glibc)
import Glibc
#endif

/// `vidlm batch MANIFEST.jsonl --output RESULTS.jsonl [--shard I/N] [--resume]`: answers every
/// item of a manifest, one result line per item appended as it finishes (docs/batch.md).
struct Batch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer questions about many clips: one manifest line per item, one result line per item.",
        discussion: """
        MANIFEST lines: {"id": "a", "media": "clip.mp4", "question": "…"} ("questions": [...] for \
        several, none to caption; optional frames, fps, start, end, max_tokens). Results are appended \
        to --output as items finish; a failed item records "error" and the run goes on; the exit \
        status is 1 when any item failed. --resume continues an output file, --shard I/N runs \
        every N-th item from the I-th (0-based) for array jobs (docs/batch.md).
        """)

    @Argument(help: "The manifest (JSON lines).")
    var manifest: String

    @Option(help: "The results file (JSON lines).")
    var output: String

    @Option(help: "Run shard I of N (0-based): items whose position mod N is I.")
    var shard: String?

    @Flag(help: "Continue an existing results file: skip items that already have a result.")
    var resume = false

    @Option(help: "Model directory (default: $VIDLM_MODEL, else the built-in demo model vidlm-shapes).")
    var model: String?

    @Option(help: "Frames to sample uniformly (an item's 'frames' overrides it).")
    var frames: Int?

    @OptionGroup var sampling: SamplingParameterOptions

    func run() async throws {
        try await runReportingErrors {
            let shard = try self.shard.map(Shard.init) ?? Shard("0/1")
            if let frames, frames < 1 { throw CLIError(message: "--frames must be at least 1.") }
            let items = try BatchManifest.read(manifest)
            let resolved = try ModelLocation.resolveModel(model)
            let defaults = try GenerationDefaults.load(directory: resolved.url)
            let parameters = try sampling.parameters(repetitionPenalty: defaults.repetitionPenalty ?? 1,
                                                     badWordsIds: defaults.badWordsIds ?? [])
            let mine = items.enumerated().filter { shard.contains($0.offset) }.map(\.element)
            let engine = try await Engine.load(directory: resolved.url)
            let out = try BatchOutput(path: output, resume: resume)
            let todo = mine.filter { !out.done.contains($0.id) }
            var progress = BatchProgress(total: todo.count, skipped: mine.count - todo.count)
            var failed = 0
            for item in todo {
                try Task.checkCancellation()
                let started = ContinuousClock.now
                var record: [String: Any] = ["id": item.id, "media": item.media]
                do {
                    var options = AskOptions(frames: item.frames ?? frames, fps: item.fps, start: item.start, end: item.end,
                                             generation: parameters)
                    if let maxTokens = item.maxTokens { options.generation.maxNewTokens = maxTokens }
                    var answers: [[String: Any]] = []
                    var usedFrames: [FrameInfo] = []
                    for question in item.questions {
                        let result = try await engine.answer(.media(path: item.media), question: question, options: options)
                        answers.append(["question": question ?? NSNull(), "answer": result.answer, "finish": Self.finish(result.finish)])
                        usedFrames = result.frames
                    }
                    record["answers"] = answers
                    record["frames"] = usedFrames.map { ["index": $0.index, "seconds": $0.seconds] }
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    failed += 1
                    record["error"] = Self.sentence(error)
                }
                let elapsed = ContinuousClock.now - started
                record["seconds"] = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                try out.append(record)
                progress.step(failed: failed)
            }
            progress.finish()
            if failed > 0 {
                throw CLIError(message: "\(failed) of \(todo.count) items failed; their lines in \(output) say why.")
            }
        }
    }

    /// OpenAI's words: "stop" (end token) or "length" (token limit or context full).
    static func finish(_ reason: FinishReason) -> String {
        if case .stopToken = reason { return "stop" }
        return "length"
    }

    static func sentence(_ error: any Error) -> String {
        switch error {
        case let e as MediaError: return e.description
        case let e as EngineError: return e.description
        case let e as GenerationError: return e.description
        case let e as CustomStringConvertible: return e.description
        default: return "\(error)"
        }
    }
}

/// A progress bar with rate and ETA on stderr (terminals only).
struct BatchProgress {
    let total: Int
    let skipped: Int
    var done = 0
    let start = ContinuousClock.now
    let err = FileHandle.standardError

    init(total: Int, skipped: Int) {
        self.total = total
        self.skipped = skipped
        if skipped > 0 { err.writeIfTerminal("vidlm: \(skipped) item\(skipped == 1 ? "" : "s") already done (--resume)\n") }
    }

    mutating func step(failed: Int) {
        done += 1
        let d = ContinuousClock.now - start
        let elapsed = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 24, filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        err.writeIfTerminal(String(format: "\r[%@] %d/%d  %.2f items/s  ETA %.0f s  %d failed ", bar, done, total, rate, eta, failed))
    }

    func finish() { if total > 0 { err.writeIfTerminal("\n") } }
}
