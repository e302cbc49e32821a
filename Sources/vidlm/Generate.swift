import ArgumentParser
import Foundation
import VidLMModels
import VidLMTensor

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a text prompt with a language model (decoder checks).",
        discussion: """
        The model directory holds a causal LM (LlamaForCausalLM / OPTForCausalLM) or a VLM whose \
        config.json has a text_config (its language_model.* weights are used). The prompt is \
        tokenized with the tokenizer's special tokens (BOS where its post-processor adds one). \
        A prompt that leaves no room in the context is an error, never truncated.
        """)

    @Option(help: "Model directory (config.json, *.safetensors, tokenizer.json).")
    var model: String

    @Option(help: "The prompt text.")
    var prompt: String

    @OptionGroup var sampling: SamplingParameterOptions

    @Option(help: "Keep only the K most likely tokens when sampling (0: all).")
    var topK: Int = 0

    @Option(help: "Penalty > 1 for tokens already seen.")
    var repetitionPenalty: Float = 1

    @Option(help: "Stop when the generated text contains this string (repeatable).")
    var stop: [String] = []

    @Flag(help: "Print one JSON object (text, token_ids, prompt_tokens, finish, seconds).")
    var json = false

    struct Output: Encodable {
        let text: String
        let tokenIds: [Int]
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
        let language = try await Task.detached { try LanguageModelLoader.load(directory: directory) }.value
        let tokenizer = try Tokenizer.load(directory: directory)
        let ids = tokenizer.encode(prompt, addSpecialTokens: true)
        guard !ids.isEmpty else { throw CLIError(message: "The prompt is empty after tokenization.") }
        let stops = stop, json = self.json
        try await withInterruptCancellation {
            try await Self.stream(language: language, tokenizer: tokenizer, ids: ids, parameters: parameters,
                                  stops: stops, json: json)
        }
    }

    private static func stream(language: any LanguageModel, tokenizer: Tokenizer, ids: [Int],
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
        try printJSON(Output(text: text, tokenIds: generated, promptTokens: ids.count, finish: finish,
                             prefillSeconds: durationSeconds((firstToken ?? end) - start),
                             generationSeconds: durationSeconds(end - (firstToken ?? end))))
    }
}

func durationSeconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
