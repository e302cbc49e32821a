import ArgumentParser
import Foundation
import VidLM
import VidLMMedia
import VidLMModels
#if canImport(Glibc)
import Glibc
#endif

/// `vidlm chat [MEDIA]`: a conversation in the terminal about a clip or an image. Answers stream;
/// `/video PATH` and `/image PATH` attach media to the next question, `/reset` starts over,
/// `/quit` (or end of input) leaves; Ctrl-C stops the answer being written, not the session.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk about a clip or an image in the terminal (multi-turn, streaming).",
        discussion: """
        Type a question and press Enter. Commands: /video PATH, /image PATH (attach media to the \
        next question), /reset (forget the conversation), /quit. Ctrl-C stops the current answer \
        (the session goes on); at the prompt it drops the line being typed (/quit or Ctrl-D leaves). \
        Models with a chat template see the whole conversation (the oldest turns are dropped, with \
        a notice, when it outgrows the context); the others answer each question about the media on \
        its own.
        """)

    @Argument(help: "A video or image to talk about (or attach one later with /video or /image).")
    var media: String?

    @Option(help: "Model directory (default: $VIDLM_MODEL, else the built-in demo model vidlm-shapes).")
    var model: String?

    @Option(help: "Frames to sample uniformly (default: the model's).")
    var frames: Int?

    @OptionGroup var sampling: SamplingParameterOptions

    func run() async throws {
        try await runReportingErrors {
            if let frames, frames < 1 { throw CLIError(message: "--frames must be at least 1.") }
            if let media, !FileManager.default.fileExists(atPath: media) { throw CLIError(message: "\(media): no such file.") }
            let resolved = try ModelLocation.resolveModel(model)
            let defaults = try GenerationDefaults.load(directory: resolved.url)
            let parameters = try sampling.parameters(repetitionPenalty: defaults.repetitionPenalty ?? 1,
                                                     badWordsIds: defaults.badWordsIds ?? [])
            let engine = try await Engine.load(directory: resolved.url)
            var session = ChatSession(engine: engine, options: AskOptions(frames: frames, generation: parameters))
            if let media { session.attach(media, kind: Self.kind(of: media)) }
            try await session.loop(builtIn: resolved.isBuiltIn)
        }
    }

    static func kind(of path: String) -> MediaKind {
        let ext = (path as NSString).pathExtension.lowercased()
        return ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"].contains(ext) ? .image : .video
    }
}

/// The state of one terminal conversation: the turns so far and media waiting for the next question.
struct ChatSession {
    let engine: Engine
    let options: AskOptions
    var messages: [ChatMessage] = []
    var pending: [ChatMessage.Part] = []
    /// Every media part of the conversation (what a /reset keeps, so questions go on about it).
    var current: [ChatMessage.Part] = []
    let out = FileHandle.standardOutput
    let err = FileHandle.standardError
    let interactive: Bool
    let interrupt: ChatInterrupt
    /// The features of the conversation's media, reused by later questions.
    let encodings = EncodedMediaCache()

    init(engine: Engine, options: AskOptions) {
        self.engine = engine
        var options = options
        // Each question's prompt repeats the conversation so far: only what follows is prefilled.
        options.promptCache = PromptCache()
        self.options = options
        interactive = isatty(STDIN_FILENO) != 0
        interrupt = ChatInterrupt(interactive: interactive)
    }

    mutating func attach(_ path: String, kind: MediaKind) {
        let part: ChatMessage.Part = kind == .image ? .image(source: path) : .video(source: path)
        pending.append(part)
        current = [part]
    }

    func say(_ text: String) { err.write(Data(("vidlm: " + text + "\n").utf8)) }

    mutating func loop(builtIn: Bool) async throws {
        if builtIn && interactive { err.write(Data(ModelLocation.builtInNotice.utf8)) }
        if !engine.model.takesConversations {
            say("this model answers each question about the media on its own; it does not see earlier turns.")
        }
        if interactive { say("type a question, /video PATH, /image PATH, /reset or /quit; Ctrl-C stops an answer.") }
        interrupt.install()
        defer { interrupt.uninstall() }
        while true {
            if interactive { out.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/quit" || text == "/exit" { break }
            if text == "/reset" {
                messages = []
                pending = current
                say("conversation cleared.")
                continue
            }
            if text.hasPrefix("/video ") || text.hasPrefix("/image ") {
                let path = String(text.dropFirst(7)).trimmingCharacters(in: .whitespaces)
                guard FileManager.default.fileExists(atPath: path) else {
                    say("\(path): no such file.")
                    continue
                }
                attach(path, kind: text.hasPrefix("/image") ? .image : .video)
                say("attached \(path) to the next question.")
                continue
            }
            if text.hasPrefix("/") {
                say("unknown command \(text.split(separator: " ")[0]); use /video PATH, /image PATH, /reset or /quit.")
                continue
            }
            guard !(pending.isEmpty && current.isEmpty) else {
                say("attach a clip or an image first: /video PATH or /image PATH.")
                continue
            }
            try await ask(text)
        }
    }

    /// Asks `question` (with any pending media), streams the answer, and keeps the turn when it
    /// completes. A prompt that leaves no room for a whole answer (--max-tokens, at most half the
    /// context) drops the oldest turns and tries again, so answers are not cut short by history.
    mutating func ask(_ question: String) async throws {
        let user = ChatMessage(role: "user", content: .parts(pending + [.text(question)]))
        var conversation = messages + [user]
        var options = self.options
        // Families without a chat template see only the media and this question: no history to drop.
        let conversational = engine.model.takesConversations
        if conversational {
            options.generation.answerRoom = max(1, min(options.generation.maxNewTokens, engine.model.language.contextLength / 2))
        }
        while true {
            let fitted = ConversationFit.fit(conversation, for: engine.model)
            do {
                let answer = try await stream(fitted.messages, options: options)
                guard let answer else {
                    say("answer stopped (Ctrl-C); it is not kept in the conversation.")
                    return
                }
                messages = conversation + [ChatMessage.assistant(answer)]
                pending = []
                await encodings.keep(Set((messages + current.map { ChatMessage(role: "user", content: .parts([$0])) })
                    .flatMap(\.mediaSources).compactMap { $0 }))
                return
            } catch GenerationError.promptTooLong {
                if conversational, Self.dropOldestTurn(&conversation) != nil {
                    say("the conversation outgrew the model's context: dropped its oldest question and answer.")
                } else if options.generation.answerRoom > 1 {
                    // The question alone: answer in whatever room it leaves.
                    options.generation.answerRoom = 1
                } else {
                    say("the question and its media do not fit the model's context; ask a shorter question or use fewer frames (--frames).")
                    return
                }
            } catch let error as EngineError {
                say(error.description)
                return
            } catch let error as MediaError {
                say(error.description)
                pending = []
                return
            }
        }
    }

    /// Removes the oldest question and its answer; their media moves to the next question so
    /// the conversation stays about it. Returns how many messages went, or nil when only the
    /// current question is left.
    static func dropOldestTurn(_ conversation: inout [ChatMessage]) -> Int? {
        guard conversation.count >= 3 else { return nil }
        var media: [ChatMessage.Part] = []
        if case .parts(let parts) = conversation[0].content {
            media = parts.filter { if case .text = $0 { return false } else { return true } }
        }
        var rest = Array(conversation.dropFirst(2))
        if !media.isEmpty {
            switch rest[0].content {
            case .parts(let parts): rest[0].content = .parts(media + parts)
            case .text(let text): rest[0].content = .parts(media + [.text(text)])
            }
        }
        conversation = rest
        return 2
    }

    /// Streams one answer to stdout; nil when Ctrl-C stopped it.
    func stream(_ messages: [ChatMessage], options: AskOptions) async throws -> String? {
        let engine = self.engine, out = self.out, encodings = self.encodings
        let task = Task { () -> String in
            var text = ""
            do {
                // Each media part's features: encoded once, then reused by every later question.
                var media: [EngineInput] = []
                for source in messages.flatMap(\.mediaSources) {
                    guard let source else { throw EngineError.invalidOption("a media part of the conversation names no file") }
                    media.append(.encoded(try await encodings.encoded(source, engine: engine, options: options)))
                }
                for try await event in engine.respond(to: messages, media: media, options: options) {
                    if case .text(let piece, _) = event {
                        let shown = text.isEmpty ? String(piece.drop(while: { $0 == " " })) : piece
                        text += shown
                        out.write(Data(shown.utf8))
                    }
                }
            } catch where Task.isCancelled {
                throw CancellationError()
            }
            // A cancelled stream just ends (the iterator returns nil), so the loop finishing is
            // no proof the answer is whole.
            try Task.checkCancellation()
            out.write(Data("\n".utf8))
            return text
        }
        interrupt.answering(task)
        defer { interrupt.answering(nil) }
        do {
            return try await task.value
        } catch is CancellationError {
            out.write(Data("\n".utf8))
            return nil
        }
    }
}

/// Ctrl-C during a chat. The session installs one handler for its whole life, so the signal
/// means the same at every moment: an answer being written is stopped; at the prompt the
/// terminal has already dropped the half-typed line and we only say how to leave (a stray
/// second Ctrl-C just after an answer ends must not end the session). With input from a pipe
/// there is no prompt to return to, so it ends the process as Ctrl-C normally does.
final class ChatInterrupt: @unchecked Sendable {
    private let lock = NSLock()
    private var answer: Task<String, Error>?
    private var source: DispatchSourceSignal?
    let interactive: Bool

    init(interactive: Bool) { self.interactive = interactive }

    func install() {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in self?.fired() }
        source.resume()
        lock.withLock { self.source = source }
    }

    func uninstall() {
        lock.withLock { source?.cancel(); source = nil }
        signal(SIGINT, SIG_DFL)
    }

    /// The answer Ctrl-C should stop now (nil: none is being written).
    func answering(_ task: Task<String, Error>?) { lock.withLock { answer = task } }

    private func fired() {
        if let task = lock.withLock({ answer }) {
            task.cancel()
        } else if interactive {
            FileHandle.standardError.write(Data("\nvidlm: Ctrl-C stops an answer; type /quit or press Ctrl-D to leave.\n".utf8))
            FileHandle.standardOutput.write(Data("> ".utf8))
        } else {
            signal(SIGINT, SIG_DFL)
            raise(SIGINT)
        }
    }
}
