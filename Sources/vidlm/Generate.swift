import ArgumentParser
import Foundation
import VidLMJinja
import VidLMModels
import VidLMTensor

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a text prompt with a language model (decoder checks).",
        discussion: """
        The model directory holds a causal LM (LlamaForCausalLM / OPTForCausalLM) or a VLM whose \
        config.json has a text_config (its decoder's weights are used), or a Qwen-VL checkpoint. The prompt is \
        tokenized with the tokenizer's special tokens (BOS where its post-processor adds one). \
        With --chat the prompt is a user turn (after --system, or the turns of --messages) rendered \
        by the checkpoint's chat template (chat_template.jinja or tokenizer_config.json's \
        chat_template) with the generation prompt, then tokenized as transformers' \
        apply_chat_template does (no special tokens added). \
        A prompt that leaves no room in the context is an error, never truncated.
        """)

    @Option(help: "Model directory (config.json, *.safetensors, tokenizer.json).")
    var model: String

    @Option(help: "The prompt text (with --chat: the user's message).")
    var prompt: String?

    @Flag(help: "Render the prompt with the model's chat template (a chat model's expected format).")
    var chat = false

    @Option(help: "With --chat: a system message before the user's.")
    var system: String?

    @Option(help: "With --chat: a JSON file holding the conversation (a list of {role, content} messages).")
    var messages: String?

    @Option(help: "With --chat: one of several named templates in the checkpoint (e.g. tool_use).")
    var templateName: String?

    @OptionGroup var sampling: SamplingParameterOptions

    @OptionGroup var precision: ComputeOptions

    @Option(help: "Keep only the K most likely tokens when sampling (0: all).")
    var topK: Int = 0

    @Option(help: "Penalty > 1 for tokens already seen.")
    var repetitionPenalty: Float = 1

    @Option(help: "Stop when the generated text contains this string (repeatable).")
    var stop: [String] = []

    @Flag(help: "Print one JSON object (text, token_ids, prompt_token_ids, prompt_tokens, finish, seconds).")
    var json = false

    struct Output: Encodable {
        let text: String
        let tokenIds: [Int]
        /// The prompt as ids (with --chat: `apply_chat_template(..., tokenize=True)`).
        let promptTokenIds: [Int]
        /// With --chat: the rendered prompt text.
        let prompt: String?
        let promptTokens: Int
        let finish: String
        let prefillSeconds: Double
        let generationSeconds: Double
    }

    func run() async throws {
        try await runReportingErrors { try await execute() }
    }

    private func execute() async throws {
        let directory = URL(fileURLWithPath: model)
        let parameters = try sampling.parameters(topK: topK, repetitionPenalty: repetitionPenalty)
        ThreadBudget.configureBLAS()
        let compute = precision.compute
        let language = try await Task.detached {
            try ComputePrecision.$current.withValue(compute) { try LanguageModelLoader.load(directory: directory) }
        }.value
        let tokenizer = try Tokenizer.load(directory: directory)
        let (ids, rendered) = try promptIds(directory: directory, tokenizer: tokenizer)
        guard !ids.isEmpty else { throw CLIError(message: "The prompt is empty after tokenization.") }
        let stops = stop, json = self.json
        try await withInterruptCancellation {
            try await Self.stream(language: language, tokenizer: tokenizer, ids: ids, rendered: rendered, parameters: parameters,
                                  stops: stops, json: json)
        }
    }

    /// The prompt's ids, and with --chat the text the chat template rendered.
    private func promptIds(directory: URL, tokenizer: Tokenizer) throws -> ([Int], String?) {
        guard chat else {
            if system != nil || messages != nil || templateName != nil {
                throw CLIError(message: "--system, --messages and --template-name need --chat.")
            }
            guard let prompt else { throw CLIError(message: "Give the prompt text with --prompt.") }
            return (tokenizer.encode(prompt, addSpecialTokens: true), nil)
        }
        guard let template = try ChatTemplate.load(directory: directory, name: templateName) else {
            throw CLIError(message: "\(directory.path) has no chat template (chat_template.jinja or a 'chat_template' in tokenizer_config.json); drop --chat to continue plain text.")
        }
        var conversation: [JinjaValue] = []
        if let messages {
            guard let data = FileManager.default.contents(atPath: messages), let text = String(data: data, encoding: .utf8) else {
                throw CLIError(message: "\(messages): the messages file cannot be read.")
            }
            let value: JinjaValue
            do { value = try JinjaJSON.parse(text) } catch {
                throw CLIError(message: "\(messages): is not valid JSON (\(error.message)).")
            }
            guard case .list(let list) = value else { throw CLIError(message: "\(messages): must hold a JSON list of messages.") }
            conversation = list
        }
        if let system { conversation.insert(ChatMessage.system(system).templateValue, at: 0) }
        if let prompt { conversation.append(ChatMessage.user(prompt).templateValue) }
        let text = try template.render(messages: .list(conversation), addGenerationPrompt: true,
                                       specialTokens: tokenizer.specialTokenStrings)
        return (tokenizer.encode(text, addSpecialTokens: false), text)
    }

    private static func stream(language: any LanguageModel, tokenizer: Tokenizer, ids: [Int], rendered: String?,
                               parameters: GenerationParameters, stops: [String], json: Bool) async throws {
        let out = FileHandle.standardOutput
        var detokenizer = tokenizer.streamingDetokenizer(skipSpecialTokens: true)
        var generated: [Int] = []
        var text = ""
        let start = ContinuousClock.now
        var firstToken: ContinuousClock.Instant?
        var stopWhen: StopCondition? = nil
        if !stops.isEmpty {
            stopWhen = { (tokens: [Int]) -> Bool in
                let decoded = tokenizer.decode(tokens, skipSpecialTokens: true)
                return stops.contains(where: { decoded.range(of: $0) != nil })
            }
        }
        let stream = TextGenerator(model: language).tokens(.tokens(ids), parameters: parameters, stopWhen: stopWhen)
        for try await token in stream {
            if firstToken == nil { firstToken = .now }
            generated.append(token)
            let piece = detokenizer.append(token)
            text += piece
            if !json { out.write(Data(piece.utf8)) }
        }
        let tail = detokenizer.finish()
        text += tail
        if !json { out.write(Data((tail + "\n").utf8)) }
        try Task.checkCancellation()
        if let cut = stops.compactMap({ text.range(of: $0)?.lowerBound }).min() {
            text = String(text[..<cut])
        }
        guard json else { return }
        let end = ContinuousClock.now
        let finish = generated.count >= parameters.maxNewTokens ? "max_tokens" : "stop"
        try printJSON(Output(text: text, tokenIds: generated, promptTokenIds: ids, prompt: rendered, promptTokens: ids.count, finish: finish,
                             prefillSeconds: durationSeconds((firstToken ?? end) - start),
                             generationSeconds: durationSeconds(end - (firstToken ?? end))))
    }
}

func durationSeconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
