import ArgumentParser
import VidLMModels

/// Where in a clip frames are taken from, shared by every media command.
struct TimeRangeOptions: ParsableArguments {
    @Option(help: "Frames per second to sample instead of a fixed count.")
    var fps: Double?

    @Option(help: "Start time in seconds from the first frame.")
    var start: Double?

    @Option(help: "End time in seconds from the first frame.")
    var end: Double?

    @Flag(help: "Approximate and fast: use the key frame nearest each chosen frame.")
    var keyframes = false
}

/// How tokens are chosen, shared by ask / caption / image / generate.
struct SamplingParameterOptions: ParsableArguments {
    @Option(help: "Most tokens to generate.")
    var maxTokens: Int = 64

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling: keep the most likely tokens up to this probability mass.")
    var topP: Float = 1

    @Option(help: "Seed of the sampler (the same seed gives the same output).")
    var seed: UInt64 = 0

    /// The generation parameters, checked, with one sentence per bad value.
    func parameters(topK: Int = 0, repetitionPenalty: Float = 1, badWordsIds: [[Int]] = []) throws -> GenerationParameters {
        if maxTokens < 1 { throw CLIError(message: "--max-tokens must be at least 1.") }
        if !(temperature >= 0) || !temperature.isFinite { throw CLIError(message: "--temperature must be 0 (greedy) or positive.") }
        if !(topP > 0 && topP <= 1) { throw CLIError(message: "--top-p must be in (0, 1].") }
        let parameters = GenerationParameters(maxNewTokens: maxTokens, temperature: temperature, topK: topK, topP: topP,
                                              repetitionPenalty: repetitionPenalty, badWordsIds: badWordsIds, seed: seed)
        try parameters.validate()
        return parameters
    }
}

extension ComputePrecision: ExpressibleByArgument {}

/// The precision the model computes in, shared by every command that loads one.
struct ComputeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Precision of the projections: stored (as the checkpoint: f32 stays f32, bf16 stays bf16) or bf16 (f32 weights rounded to bf16 at load: about twice as fast on CPUs with AVX-512 BF16; answers may differ from f32).",
        valueName: "stored|bf16"))
    var compute: ComputePrecision = .stored
}
