import Foundation
import XCTest
import VidLMTensor
import CKernels
@testable import VidLMModels

/// One parity fixture of tools/parity/cases_text.py, loaded.
private struct TextCase {
    let name: String
    let model: any LanguageModel
    let ids: [Int]
    let prefix: Tensor           // [P, E]
    let expected: SafetensorsFile
    let meta: [String: Any]

    init(_ name: String) throws {
        self.name = name
        let folder = ParityFixtures.folder(name)
        model = try LanguageModelLoader.load(directory: folder)
        let inputs = try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors"))
        ids = try inputs.tensor("input_ids").floats().map { Int($0) }
        let p = try inputs.tensor("inputs_embeds")
        prefix = p.reshaped([p.shape[1], p.shape[2]])
        expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
    }

    func tensor(_ key: String) throws -> Tensor { try expected.tensor(key) }
    /// The oracle's names for what this CPU computes: a bf16 case has its f32-attention variants
    /// (`…_f32_attention`) for CPUs without AVX-512 BF16, where vidlm attends in f32.
    func expectedName(_ name: String) -> String {
        let variant = name + "_f32_attention"
        return !Attention.bf16Rounding && expected.contains(variant) ? variant : name
    }

    func greedyIds() throws -> [Int] { try tensor(expectedName("greedy_ids")).floats().map { Int($0) } }

    func logits(_ embeddings: Tensor) throws -> Tensor {
        var cache = model.makeCache(capacity: embeddings.shape[0])
        return try model.forward(inputEmbeddings: embeddings, cache: &cache, logits: .all)
    }
}

/// The LLaMA and OPT decoders against transformers' LlamaForCausalLM / OPTForCausalLM.
final class TextParityTests: XCTestCase {
    static let f32Cases = ["llama_tiny_gqa", "llama_tiny_llama3", "llama_tiny_linear", "opt_tiny", "opt_tiny_project"]
    static let halfCases = ["llama_tiny_gqa_bf16", "opt_tiny_nobias_f16"]

    private func checkLogitsAndGreedy(_ name: String, tolerance: Float) throws {
        let c = try TextCase(name)
        let ids = c.ids
        var cache = c.model.makeCache(capacity: ids.count)
        let logits = try c.model.forward(ids: ids, cache: &cache, logits: .all)
        assertClose(logits, try c.tensor("logits"), tolerance: tolerance, "\(name) logits")
        if c.expected.contains("logits_rounded") {
            // The kernels against the f32 model on the rounded weights (and, for bf16, attention
            // rounded as this CPU's kernels round it): only summation order differs.
            let rounded = c.expectedName("logits_rounded")
            assertClose(logits, try c.tensor(rounded), tolerance: 1e-4, "\(name) \(rounded)")
        }
        // A visual-style prefix of input embeddings, then the prompt's own embeddings.
        let spliced = Tensor.concatenate([c.prefix, try c.model.embed(ids)])
        assertClose(try c.logits(spliced), try c.tensor("embeds_logits"), tolerance: tolerance, "\(name) inputs_embeds logits")

        let expectedIds = try c.greedyIds()
        let generator = TextGenerator(model: c.model)
        let result = try generator.generate(.tokens(ids), parameters: GenerationParameters(maxNewTokens: expectedIds.count, stopTokenIds: []))
        XCTAssertEqual(result.tokens, expectedIds, "\(name) greedy ids (min top-2 gap \(c.meta["min_greedy_gap"] ?? "?"))")
        XCTAssertEqual(result.finish, .maxTokens)
    }

    func testLlamaGQA() throws { try checkLogitsAndGreedy("llama_tiny_gqa", tolerance: 1e-4) }
    func testLlamaLlama3RopeTiedHeadDim() throws { try checkLogitsAndGreedy("llama_tiny_llama3", tolerance: 1e-4) }
    func testLlamaLinearRopeLegacyConfigBiases() throws { try checkLogitsAndGreedy("llama_tiny_linear", tolerance: 1e-4) }
    func testOPT() throws { try checkLogitsAndGreedy("opt_tiny", tolerance: 1e-4) }
    func testOPTProjectionsPostLN() throws { try checkLogitsAndGreedy("opt_tiny_project", tolerance: 1e-4) }
    func testLlamaBF16Weights() throws { try checkLogitsAndGreedy("llama_tiny_gqa_bf16", tolerance: 3e-2) }
    func testOPTF16WeightsNoBiasNoAffine() throws { try checkLogitsAndGreedy("opt_tiny_nobias_f16", tolerance: 2e-2) }

    func testConfigsParsed() throws {
        let llama3 = try TextCase("llama_tiny_llama3").model as! LlamaModel
        XCTAssertEqual(llama3.config.headDim, 24)
        XCTAssertEqual(llama3.config.ropeTheta, 500000)
        XCTAssertEqual(llama3.config.ropeScaling, .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 32))
        XCTAssertTrue(llama3.config.tieWordEmbeddings)
        let linear = try TextCase("llama_tiny_linear").model as! LlamaModel
        XCTAssertEqual(linear.config.ropeScaling, .linear(factor: 2))
        let opt = try TextCase("opt_tiny_project").model as! OPTModel
        XCTAssertEqual(opt.embeddingWidth, 16)
        XCTAssertFalse(opt.config.hasFinalLayerNorm)
        // BF16 weights stay BF16 in memory.
        let bf16 = try TextCase("llama_tiny_gqa_bf16").model as! LlamaModel
        XCTAssertEqual(bf16.layers[0].qkv[0].weight.dtype, .bf16)
        XCTAssertEqual(bf16.embedTokens.dtype, .bf16)
        // bf16 attention keeps bf16 keys and values, held exactly in a bf16 cache; f32 and f16
        // checkpoints keep the f32 cache their parity needs.
        XCTAssertEqual(bf16.makeCache(capacity: 4).precision, Attention.bf16Rounding ? .bf16 : .f32)
        XCTAssertEqual(try TextCase("opt_tiny_nobias_f16").model.makeCache(capacity: 4).precision, .f32)
        XCTAssertEqual(try TextCase("llama_tiny_gqa").model.makeCache(capacity: 4).precision, .f32)
    }

    /// forward(ids:) and forward(inputEmbeddings: embed(ids)) are the same computation.
    func testEmbeddingsPathEqualsIdsPath() throws {
        for name in Self.f32Cases + Self.halfCases {
            let c = try TextCase(name)
            var a = c.model.makeCache(capacity: c.ids.count), b = a
            let byIds = try c.model.forward(ids: c.ids, cache: &a, logits: .all)
            let byEmbeddings = try c.model.forward(inputEmbeddings: c.model.embed(c.ids), cache: &b, logits: .all)
            XCTAssertEqual(byIds.floats(), byEmbeddings.floats(), name)
        }
    }

    /// Chunked prefill (any chunk size, incl. one position at a time = the decode kernels) gives
    /// the one-shot logits, and decoding continues identically from either cache. A pass asking
    /// for the last logits (or none, every chunk but the last) runs its last layer on those rows
    /// only, and must still leave every row's keys and values in the cache.
    func testChunkedPrefillEqualsOneShot() throws {
        for name in Self.f32Cases + Self.halfCases {
            let c = try TextCase(name)
            let x = try c.model.embed(c.ids)
            let n = c.ids.count
            var oneShot = c.model.makeCache(capacity: n + 4)
            let whole = try c.model.prefill(inputEmbeddings: x, cache: &oneShot, chunkSize: 1000, logits: .all)
            for chunk in [1, 3, 5, 1000] {
                var chunked = c.model.makeCache(capacity: n + 4)
                let parts = try c.model.prefill(inputEmbeddings: x, cache: &chunked, chunkSize: chunk, logits: .all)
                assertClose(parts, whole, tolerance: 1e-5, "\(name) chunk \(chunk)")
                XCTAssertEqual(chunked.count, n)
                var lastOnly = c.model.makeCache(capacity: n + 4)
                let last = try c.model.prefill(inputEmbeddings: x, cache: &lastOnly, chunkSize: chunk, logits: .last)
                XCTAssertEqual(last.shape, [1, c.model.vocabularySize])
                assertClose(last, whole.rows((n - 1)..<n), tolerance: 1e-5, "\(name) chunk \(chunk) last")
                var noLogits = c.model.makeCache(capacity: n + 4)
                let none = try c.model.prefill(inputEmbeddings: x, cache: &noLogits, chunkSize: chunk, logits: .none)
                XCTAssertEqual(none.shape, [0, c.model.vocabularySize])
                var o = oneShot
                let expected = try c.model.forward(ids: [5, 7], cache: &o, logits: .all)
                for (cache, what) in [(chunked, "all"), (lastOnly, "last"), (noLogits, "none")] {
                    var continued = cache
                    XCTAssertEqual(continued.count, n)
                    assertClose(try c.model.forward(ids: [5, 7], cache: &continued, logits: .all), expected, tolerance: 1e-5,
                                "\(name) chunk \(chunk) continued after .\(what)")
                }
            }
        }
    }

    /// A cache is a value: extending a copy leaves the original's positions alone.
    func testCacheCopiesAreIndependent() throws {
        let c = try TextCase("llama_tiny_gqa")
        var base = c.model.makeCache(capacity: 20)
        _ = try c.model.forward(ids: Array(c.ids.prefix(6)), cache: &base, logits: .none)
        var fork = base
        _ = try c.model.forward(ids: [9, 9, 9], cache: &fork, logits: .none)
        var again = base
        let a = try c.model.forward(ids: [4], cache: &again, logits: .last)
        var fresh = c.model.makeCache(capacity: 20)
        let b = try c.model.forward(ids: Array(c.ids.prefix(6)) + [4], cache: &fresh, logits: .last)
        assertClose(a, b, tolerance: 1e-5, "forked cache")
        XCTAssertEqual(base.count, 6)
        XCTAssertEqual(fork.count, 9)
    }

    /// The same forward passes on an f16 cache (what quantized decoders get): close to the f32
    /// cache (keys and values rounded to f16), and copies stay independent.
    func testHalfPrecisionCacheIsCloseAndCopiesAreIndependent() throws {
        for name in ["llama_tiny_gqa", "opt_tiny", "llama_tiny_llama3"] {
            let c = try TextCase(name)
            XCTAssertEqual(c.model.makeCache(capacity: 4).precision, .f32, "\(name): unquantized models keep f32")
            var f32 = KVCache(layers: c.model.layerCount, width: c.model.keyValueWidth, capacity: 40, precision: .f32)
            var f16 = KVCache(layers: c.model.layerCount, width: c.model.keyValueWidth, capacity: 40, precision: .f16)
            XCTAssertEqual(f16.byteCount * 2, f32.byteCount)
            let prompt = Array(c.ids.prefix(9))
            let a = try c.model.forward(ids: prompt, cache: &f32, logits: .all)
            let b = try c.model.forward(ids: prompt, cache: &f16, logits: .all)
            let scale = a.floats().map(abs).max() ?? 1
            assertClose(b, a, tolerance: 2e-3 * scale, "\(name) prefill on an f16 cache")
            var fork = f16
            _ = try c.model.forward(ids: [3, 3, 3], cache: &fork, logits: .none)
            for step in [4, 5, 6] {  // decoding steps read the halves in the kernel
                let x = try c.model.forward(ids: [step], cache: &f32, logits: .last)
                let y = try c.model.forward(ids: [step], cache: &f16, logits: .last)
                assertClose(y, x, tolerance: 2e-3 * scale, "\(name) decoding step on an f16 cache")
            }
            XCTAssertEqual(f16.count, prompt.count + 3)
            XCTAssertEqual(fork.count, prompt.count + 3)
        }
    }

    func testModelInputErrors() throws {
        let c = try TextCase("opt_tiny")
        var cache = c.model.makeCache(capacity: 4)
        XCTAssertThrowsError(try c.model.forward(ids: [1, 2, 3, 4, 5], cache: &cache)) { error in
            XCTAssertEqual(error as? LanguageModelError, .cacheFull(needed: 5, capacity: 4))
        }
        XCTAssertThrowsError(try c.model.forward(ids: [96], cache: &cache)) { error in
            XCTAssertEqual(error as? LanguageModelError, .tokenOutOfRange(id: 96, vocabulary: 96))
        }
        XCTAssertThrowsError(try c.model.forward(inputEmbeddings: Tensor.zeros([2, 7]), cache: &cache, logits: .last)) { error in
            guard case .badInput = error as? LanguageModelError else { return XCTFail("\(error)") }
        }
        var big = c.model.makeCache(capacity: 1000)
        XCTAssertEqual(big.capacity, 64, "capped at the context")
        _ = try c.model.forward(ids: Array(repeating: 5, count: 60), cache: &big, logits: .none)
        XCTAssertThrowsError(try c.model.forward(ids: Array(repeating: 5, count: 5), cache: &big)) { error in
            XCTAssertEqual(error as? LanguageModelError, .contextOverflow(positions: 65, context: 64))
            XCTAssertEqual("\(error)", "The sequence needs 65 positions but the model's context holds 64.")
        }
    }

    func testNonFiniteWeightRejectedAtLoad() throws {
        let folder = ParityFixtures.folder("llama_tiny_gqa")
        let store = try WeightStore(directory: folder)
        let config = try ConfigError.decode(LlamaConfig.self, from: Data(contentsOf: folder.appendingPathComponent("config.json")), file: "config.json")
        struct Poisoned: ParameterSource {
            let store: WeightStore
            let name: String
            func take(_ n: String, shape: [Int]) throws -> Tensor {
                let t = try store.tensor(n)
                guard n == name else { return t }
                var v = t.floats()
                v[v.count / 2] = .nan
                return Tensor(shape: t.shape, values: v)
            }
            func takeIfPresent(_ n: String, shape: [Int]) throws -> Tensor? { store.contains(n) ? try take(n, shape: shape) : nil }
        }
        for name in ["model.layers.1.post_attention_layernorm.weight", "model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight"] {
            XCTAssertThrowsError(try LlamaModel(config: config, weights: Poisoned(store: store, name: name))) { error in
                guard case .nonFiniteWeight(let n, _) = error as? LanguageModelError else { return XCTFail("\(error)") }
                XCTAssertEqual(n, name)
            }
        }
    }
}

/// config.json errors: one sentence naming the field.
final class TextConfigTests: XCTestCase {
    private func error(_ json: String) -> String? {
        do {
            _ = try LanguageModelLoader.textConfig(from: Data(json.utf8), file: "config.json")
            return nil
        } catch {
            return error.message
        }
    }

    func testDefaultsAndForms() throws {
        let (c, prefix) = try LanguageModelLoader.textConfig(from: Data(#"{"model_type": "llama"}"#.utf8), file: "c")
        guard case .llama(let llama) = c else { return XCTFail() }
        XCTAssertEqual(prefix, "")
        XCTAssertEqual(llama.hiddenSize, 4096)
        XCTAssertEqual(llama.numKeyValueHeads, 32)
        XCTAssertEqual(llama.headDim, 128)
        XCTAssertEqual(llama.ropeTheta, 10000)
        XCTAssertEqual(llama.ropeScaling, .none)
        XCTAssertEqual(llama.eosTokenIds, [2])
        // TinyLlama-style: rope_scaling null; eos as a list (Llama 3).
        let (t, _) = try LanguageModelLoader.textConfig(from: Data(#"{"model_type": "llama", "rope_scaling": null, "rope_theta": 500000, "eos_token_id": [128001, 128009]}"#.utf8), file: "c")
        guard case .llama(let l3) = t else { return XCTFail() }
        XCTAssertEqual(l3.ropeTheta, 500000)
        XCTAssertEqual(l3.eosTokenIds, [128001, 128009])
        // A VLM: the text_config, weights under language_model.
        let (v, vp) = try LanguageModelLoader.textConfig(from: Data(#"{"model_type": "blip-2", "text_config": {"model_type": "opt", "hidden_size": 64, "num_attention_heads": 4}}"#.utf8), file: "c")
        guard case .opt(let opt) = v else { return XCTFail() }
        XCTAssertEqual(vp, "language_model.")
        XCTAssertEqual(opt.hiddenSize, 64)
        XCTAssertEqual(opt.wordEmbedProjDim, 64)
        // Only architectures.
        let (a, _) = try LanguageModelLoader.textConfig(from: Data(#"{"architectures": ["OPTForCausalLM"]}"#.utf8), file: "c")
        XCTAssertEqual(a.modelType, "opt")
        // transformers 5 rope_parameters with its own theta.
        let (r, _) = try LanguageModelLoader.textConfig(from: Data(#"{"model_type": "llama", "max_position_embeddings": 4096, "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}}"#.utf8), file: "c")
        guard case .llama(let rl) = r else { return XCTFail() }
        XCTAssertEqual(rl.ropeScaling, .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 4096))
        XCTAssertEqual(rl.ropeTheta, 500000)
    }

    func testErrors() {
        XCTAssertEqual(error(#"{"model_type": "bert"}"#),
                       "unknown language model_type 'bert'; supported: llama, mistral, opt, qwen2 (or a config with a text_config holding one).")
        XCTAssertEqual(error(#"{"architectures": ["BertModel"]}"#),
                       "unknown architecture 'BertModel' and no model_type; supported: LLaMAForCausalLM, LlamaForCausalLM, MistralForCausalLM, OPTForCausalLM, Qwen2ForCausalLM.")
        XCTAssertEqual(error(#"{"hidden_size": 8}"#), "the required field 'model_type' is missing.")
        XCTAssertEqual(error(#"{"model_type": "llama", "hidden_size": "big"}"#), "'hidden_size' must be a number.")
        XCTAssertEqual(error(#"{"model_type": "opt", "do_layer_norm_before": 1}"#), "'do_layer_norm_before' must be true or false.")
        XCTAssertEqual(error(#"{"model_type": "llama", "num_attention_heads": 8, "num_key_value_heads": 3, "hidden_size": 64}"#),
                       "'num_key_value_heads' is invalid (must divide num_attention_heads 8).")
        XCTAssertEqual(error(#"{"model_type": "llama", "rope_scaling": {"type": "yarn", "factor": 4}}"#),
                       "'rope_scaling' is invalid (unsupported rope type 'yarn' (supported: default, linear, llama3)).")
        XCTAssertEqual(error(#"{"model_type": "llama", "rope_scaling": {"type": "linear"}}"#),
                       "'rope_scaling' is invalid (rope type 'linear' needs 'factor').")
        XCTAssertEqual(error(#"{"model_type": "llama", "eos_token_id": "x"}"#), "'eos_token_id' must be a number.")
        XCTAssertEqual(error(#"{"model_type": "opt", "activation_function": "swoosh"}"#),
                       "'activation_function' is invalid (unsupported activation 'swoosh').")
        XCTAssertEqual(error(#"{"model_type": "blip-2", "text_config": {"model_type": "opt", "ffn_dim": "x"}}"#),
                       "'text_config.ffn_dim' must be a number.")
        XCTAssertEqual(error(#"{"model_type": "blip-2", "text_config": 3}"#), "'text_config' must be an object.")
        XCTAssertEqual(error(#"{"model_type": "blip-2", "text_config": {"model_type": "t5"}}"#),
                       "unknown language model_type 't5'; supported: llama, mistral, opt, qwen2 (or a config with a text_config holding one).")
        XCTAssertEqual(error("[1, 2]"), "is not a JSON object.")
        XCTAssertNotNil(error("{nope"))
    }

    func testLoadReportsMissingWeights() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vidlm-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = ParityFixtures.folder("opt_tiny")
        try FileManager.default.copyItem(at: src.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
        let store = try WeightStore(directory: src)
        var tensors: [String: Tensor] = [:]
        for n in store.names where !n.contains("layers.1.fc2") { tensors[n] = try store.tensor(n) }
        tensors["model.decoder.extra.weight"] = Tensor.zeros([2])
        try SafetensorsWriter.write(tensors, to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try LanguageModelLoader.load(directory: dir)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("model.decoder.layers.1.fc2.weight"), text)
            XCTAssertTrue(text.contains("model.decoder.extra.weight"), text)
        }
    }
}

/// Sampling, stopping, errors and cancellation of the token stream.
final class GenerationTests: XCTestCase {
    private var model: (any LanguageModel)!
    private var ids: [Int] = []
    private var greedy: [Int] = []

    override func setUpWithError() throws {
        let c = try TextCase("llama_tiny_gqa")
        model = c.model
        ids = c.ids
        greedy = try c.greedyIds()
    }

    func testStopTokenEndsWithoutEmittingIt() throws {
        // The first token whose first occurrence is not at the start.
        let k = (3..<greedy.count).first { !greedy[..<$0].contains(greedy[$0]) }!
        let result = try TextGenerator(model: model).generate(.tokens(ids), parameters: GenerationParameters(maxNewTokens: 32, stopTokenIds: [greedy[k]]))
        XCTAssertEqual(result.tokens, Array(greedy[..<k]))
        XCTAssertEqual(result.finish, .stopToken(greedy[k]))
    }

    func testStopConditionHookAndLimits() throws {
        let g = TextGenerator(model: model)
        let hooked = try g.generate(.tokens(ids), parameters: GenerationParameters(maxNewTokens: 32, stopTokenIds: [])) { $0.count == 3 }
        XCTAssertEqual(hooked.tokens, Array(greedy.prefix(3)))
        XCTAssertEqual(hooked.finish, .stopCondition)
        let short = try g.generate(.tokens(ids), parameters: GenerationParameters(maxNewTokens: 5, stopTokenIds: []))
        XCTAssertEqual(short.tokens, Array(greedy.prefix(5)))
        XCTAssertEqual(short.finish, .maxTokens)
        // The context (64) ends generation: a 60-token prompt leaves room for 4 more positions.
        let long = try g.generate(.tokens(Array(repeating: 7, count: 60)), parameters: GenerationParameters(maxNewTokens: 32, stopTokenIds: []))
        XCTAssertEqual(long.tokens.count, 5)
        XCTAssertEqual(long.finish, .contextFull)
    }

    func testPromptTooLong() throws {
        let g = TextGenerator(model: model)
        XCTAssertThrowsError(try g.generate(.tokens(Array(repeating: 7, count: 64)), parameters: .greedy(maxNewTokens: 4))) { error in
            XCTAssertEqual(error as? GenerationError, .promptTooLong(tokens: 64, context: 64))
            XCTAssertEqual("\(error)", "The prompt has 64 tokens but the model's context holds 64, leaving no room for an answer; shorten the prompt or use fewer frames.")
        }
        XCTAssertThrowsError(try g.generate(.tokens([]), parameters: .greedy(maxNewTokens: 4))) { error in
            XCTAssertEqual(error as? GenerationError, .emptyPrompt)
        }
        // answerRoom: a 60-token prompt leaves 4 positions; asking room for 5 refuses before any
        // work, room for 4 answers (and the context ends it), room 0 is not a setting.
        let sixty = Array(repeating: 7, count: 60)
        XCTAssertThrowsError(try g.generate(.tokens(sixty), parameters: GenerationParameters(maxNewTokens: 8, answerRoom: 5))) { error in
            XCTAssertEqual(error as? GenerationError, .promptTooLong(tokens: 60, context: 64))
        }
        let fits = try g.generate(.tokens(sixty), parameters: GenerationParameters(maxNewTokens: 8, stopTokenIds: [], answerRoom: 4))
        XCTAssertEqual(fits.finish, .contextFull)
        XCTAssertThrowsError(try g.generate(.tokens(ids), parameters: GenerationParameters(answerRoom: 0))) { error in
            guard case .invalidParameter = error as? GenerationError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try g.generate(.tokens(ids), parameters: GenerationParameters(topP: 0))) { error in
            guard case .invalidParameter = error as? GenerationError else { return XCTFail("\(error)") }
        }
    }

    func testPromptTooLongEndsTheStreamWithTheError() async throws {
        let stream = TextGenerator(model: model).tokens(.tokens(Array(repeating: 7, count: 100)))
        do {
            for try await _ in stream { XCTFail("no tokens expected") }
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? GenerationError, .promptTooLong(tokens: 100, context: 64))
        }
    }

    func testSamplingIsSeededAndWarpersBehave() throws {
        let g = TextGenerator(model: model)
        let p = GenerationParameters(maxNewTokens: 20, temperature: 1.0, seed: 42, stopTokenIds: [])
        let a = try g.generate(.tokens(ids), parameters: p).tokens
        let b = try g.generate(.tokens(ids), parameters: p).tokens
        XCTAssertEqual(a, b, "same seed, same tokens")
        var other = p
        other.seed = 7
        XCTAssertNotEqual(try g.generate(.tokens(ids), parameters: other).tokens, a, "another seed, another sample")
        // top-k 1 and a tiny top-p both reduce sampling to greedy.
        var k1 = p
        k1.topK = 1
        XCTAssertEqual(try g.generate(.tokens(ids), parameters: k1).tokens, Array(greedy.prefix(20)))
        var p0 = p
        p0.topP = 1e-6
        XCTAssertEqual(try g.generate(.tokens(ids), parameters: p0).tokens, Array(greedy.prefix(20)))
        // A strong repetition penalty changes the greedy path of a model that repeats itself.
        var rp = GenerationParameters(maxNewTokens: 32, repetitionPenalty: 5, stopTokenIds: [])
        let penalised = try g.generate(.tokens(ids), parameters: rp).tokens
        XCTAssertNotEqual(penalised, greedy)
        XCTAssertGreaterThan(Set(penalised).count, Set(greedy).count)
        rp.repetitionPenalty = 1
        XCTAssertEqual(try g.generate(.tokens(ids), parameters: rp).tokens, greedy)
    }

    func testSamplerMatchesTransformersProcessors() {
        // Repetition penalty: positive / p, negative × p, only seen ids.
        var s = TokenSampler(parameters: GenerationParameters(repetitionPenalty: 2))
        XCTAssertEqual(s.next(logits: [1.0, 3.0, -1.0, 2.5], context: [1, 2]), 3)  // 3/2 = 1.5 < 2.5
        XCTAssertNil(s.next(logits: [1, .nan], context: []))
        // Ties: argmax takes the first.
        var t = TokenSampler(parameters: GenerationParameters())
        XCTAssertEqual(t.next(logits: [0, 5, 5], context: []), 1)
        // top-k 2 never samples outside the two largest.
        var k = TokenSampler(parameters: GenerationParameters(temperature: 1, topK: 2, seed: 3))
        for _ in 0..<200 { XCTAssertTrue([1, 3].contains(k.next(logits: [0, 4, 1, 4.5], context: [])!)) }
        // top-p 0.5: p ≈ [0.64, 0.24, 0.09, 0.03] → only token 0 survives.
        var tp = TokenSampler(parameters: GenerationParameters(temperature: 1, topP: 0.5, seed: 3))
        for _ in 0..<100 { XCTAssertEqual(tp.next(logits: [3, 2, 1, 0], context: []), 0) }
        // Frequencies follow the softmax.
        var f = TokenSampler(parameters: GenerationParameters(temperature: 1, seed: 11))
        var counts = [0, 0]
        for _ in 0..<4000 { counts[f.next(logits: [0, logf(3)], context: [])!] += 1 }
        XCTAssertEqual(Double(counts[1]) / 4000, 0.75, accuracy: 0.03)
    }

    func testEmbeddingsPrompt() throws {
        // A prompt given as embeddings generates what the same ids do.
        let g = TextGenerator(model: model)
        let e = try model.embed(ids)
        let r = try g.generate(.embeddings(e, penaltyContext: ids), parameters: GenerationParameters(maxNewTokens: 32, stopTokenIds: []))
        XCTAssertEqual(r.tokens, greedy)
    }

    func testStreamYieldsTheGreedyTokens() async throws {
        var got: [Int] = []
        for try await token in TextGenerator(model: model).tokens(.tokens(ids), parameters: GenerationParameters(maxNewTokens: 32, stopTokenIds: [])) {
            got.append(token)
        }
        XCTAssertEqual(got, greedy)
    }

    /// Counts forward passes and slows them down so the consumer can stop mid-generation.
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func bump() { lock.lock(); n += 1; lock.unlock() }
        var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    }

    private struct SlowModel: LanguageModel {
        let inner: any LanguageModel
        let counter: Counter
        var vocabularySize: Int { inner.vocabularySize }
        var embeddingWidth: Int { inner.embeddingWidth }
        var contextLength: Int { inner.contextLength }
        var eosTokenIds: [Int] { [] }
        var layerCount: Int { inner.layerCount }
        var keyValueWidth: Int { inner.keyValueWidth }
        func embed(_ ids: [Int]) throws(LanguageModelError) -> Tensor { try inner.embed(ids) }
        func forward(inputEmbeddings: Tensor, cache: inout KVCache, logits: LogitsSelection) throws(LanguageModelError) -> Tensor {
            counter.bump()
            usleep(20_000)
            return try inner.forward(inputEmbeddings: inputEmbeddings, cache: &cache, logits: logits)
        }
    }

    func testBreakingOutOfTheStreamStopsGeneration() async throws {
        let counter = Counter()
        let g = TextGenerator(model: SlowModel(inner: model, counter: counter))
        var got: [Int] = []
        for try await token in g.tokens(.tokens(ids), parameters: GenerationParameters(maxNewTokens: 40, stopTokenIds: [])) {
            got.append(token)
            if got.count == 3 { break }
        }
        XCTAssertEqual(got, Array(greedy.prefix(3)))
        try await Task.sleep(nanoseconds: 150_000_000)
        let after = counter.value
        try await Task.sleep(nanoseconds: 200_000_000)
        XCTAssertEqual(counter.value, after, "forward passes continued after the consumer left")
        XCTAssertLessThanOrEqual(after, 6, "generation ran on after the consumer left")
    }

    func testCancellingTheConsumerTaskStopsGeneration() async throws {
        let counter = Counter()
        let g = TextGenerator(model: SlowModel(inner: model, counter: counter))
        let prompt = ids
        let consumer = Task {
            var n = 0
            for try await _ in g.tokens(.tokens(prompt), parameters: GenerationParameters(maxNewTokens: 40, stopTokenIds: [])) { n += 1 }
            return n
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        consumer.cancel()
        _ = try? await consumer.value
        try await Task.sleep(nanoseconds: 150_000_000)
        let after = counter.value
        try await Task.sleep(nanoseconds: 200_000_000)
        XCTAssertEqual(counter.value, after)
        XCTAssertLessThan(after, 20)
    }
}

/// The half-precision kernels, RoPE tables and helpers on their own.
final class TextKernelTests: XCTestCase {
    func testF16WideningIsExactForEveryFiniteValue() {
        var bits: [UInt16] = []
        for b in 0...UInt16.max where (b & 0x7C00) != 0x7C00 { bits.append(b) }
        let n = bits.count
        var out = [Float](repeating: 0, count: n)
        bits.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                HalfPrecisionKernels.widen(src.baseAddress!, dtype: .f16, count: n, into: dst.baseAddress!)
            }
        }
        for i in 0..<n where out[i].bitPattern != Float(Float16(bitPattern: bits[i])).bitPattern {
            return XCTFail("f16 0x\(String(bits[i], radix: 16)) → \(out[i])")
        }
    }

    func testBF16Widening() {
        let bits: [UInt16] = (0..<1000).map { UInt16(truncatingIfNeeded: $0 &* 65) }
        var out = [Float](repeating: 0, count: bits.count)
        bits.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { HalfPrecisionKernels.widen(src.baseAddress!, dtype: .bf16, count: bits.count, into: $0.baseAddress!) }
        }
        for i in bits.indices { XCTAssertEqual(out[i].bitPattern, HalfPrecision.bf16ToFloat(bits[i]).bitPattern) }
    }

    /// The AVX-512 bf16 and f16 matvecs (CKernels, used where the CPU has them) and the portable
    /// Swift ones agree with a double-precision sum, for k with and without a tail and odd block
    /// counts.
    func testBF16MatvecKernelsAgree() {
        var rng = SeededRandom(seed: 11)
        for dtype in [DType.bf16, .f16] {
        for k in [17, 32, 64, 96, 300, 2048, 5632 + 7] {
            let rows = 13, m = 2
            let w = Tensor(shape: [rows, k], values: (0..<(rows * k)).map { _ in Float(rng.nextUnit() * 2 - 1) }).converted(to: dtype)
            let x = (0..<(m * k)).map { _ in Float(rng.nextUnit() * 2 - 1) }
            let stride = (k + 15) / 16 * 16
            let raw = UnsafeMutableRawPointer.allocate(byteCount: m * stride * 4, alignment: 64)
            defer { raw.deallocate() }
            let xs = raw.bindMemory(to: Float.self, capacity: m * stride)
            var fast = [Float](repeating: 0, count: m * rows), portable = fast
            x.withUnsafeBufferPointer { xp in
                for j in 0..<m { HalfPrecisionKernels.deinterleave(xp.baseAddress! + j * k, count: k, into: xs + j * stride) }
                let base = w.storage.base + w.byteOffset
                for (allow, out) in [(true, 0), (false, 1)] {
                    var y = [Float](repeating: 0, count: m * rows)
                    y.withUnsafeMutableBufferPointer { yp in
                        HalfPrecisionKernels.matvec(weight: UnsafeRawPointer(base), dtype: dtype, k: k, rows: 0..<rows,
                                                    x: xp.baseAddress!, ldx: k, xs: xs, xsStride: stride, m: m,
                                                    y: yp.baseAddress!, ldy: rows, allowAVX512: allow)
                    }
                    if out == 0 { fast = y } else { portable = y }
                }
            }
            let wide = w.toF32().floats()
            let want = (0..<m).flatMap { j in (0..<rows).map { r in
                (0..<k).reduce(0.0) { $0 + Double(wide[r * k + $1]) * Double(x[j * k + $1]) } } }
            for i in want.indices {
                XCTAssertEqual(Double(fast[i]), want[i], accuracy: 1e-4 * Double(k).squareRoot(), "fast \(dtype) k \(k) [\(i)]")
                XCTAssertEqual(Double(portable[i]), want[i], accuracy: 1e-4 * Double(k).squareRoot(), "portable \(dtype) k \(k) [\(i)]")
            }
        }
        }
    }

    /// The AVX-512 BF16 dot-product matvec (decoding where the CPU has it) on x rounded to bf16:
    /// its products are exact, so it equals the double-precision sum to float rounding, for k
    /// with and without a tail (whole 128-element steps, 32-element ones, a masked rest), several
    /// row counts, and two x rows.
    func testBF16DotProductMatvecMatchesReference() throws {
        guard vidlm_avx512bf16_matvec_available() == 1 else {
            throw XCTSkip("this CPU lacks AVX-512 BF16; the widening kernel runs instead")
        }
        var rng = SeededRandom(seed: 12)
        for (rows, k) in [(1, 32), (8, 64), (13, 96), (17, 300), (9, 2048), (20, 5632 + 7)] {
            let m = 2
            let w = Tensor(shape: [rows, k], values: (0..<(rows * k)).map { _ in Float(rng.nextUnit() * 2 - 1) }).converted(to: .bf16)
            let x = (0..<(m * k)).map { _ in HalfPrecision.bf16ToFloat(HalfPrecision.floatToBF16(Float(rng.nextUnit() * 2 - 1))) }
            let xb = x.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
            var y = [Float](repeating: .nan, count: m * rows)
            let base = w.storage.base + w.byteOffset
            xb.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    vidlm_bf16_matvec_avx512bf16(UnsafeRawPointer(base).assumingMemoryBound(to: UInt16.self), k, 0, rows,
                                                 xp.baseAddress!, k, m, yp.baseAddress!, rows)
                }
            }
            let wide = w.toF32().floats()
            for j in 0..<m {
                for r in 0..<rows {
                    let want = (0..<k).reduce(0.0) { $0 + Double(wide[r * k + $1]) * Double(x[j * k + $1]) }
                    XCTAssertEqual(Double(y[j * rows + r]), want, accuracy: 1e-5 * Double(k).squareRoot(), "k \(k) row \(r) x \(j)")
                }
            }
        }
    }

    /// mixedLinear with bf16/f16 weights = f32 linear on the widened weights, for the matvec
    /// path (1–2 rows) and the blocked GEMM path, with k not a multiple of 32 and biases.
    func testMixedLinearMatchesWidenedWeights() {
        var rng = SeededRandom(seed: 5)
        func randoms(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        for dtype in [DType.bf16, .f16, .f32] {
            for (k, out) in [(70, 33), (64, 5), (300, 129), (8, 3)] {
                let w = Tensor(shape: [out, k], values: randoms(out * k)).converted(to: dtype)
                let w2 = Tensor(shape: [17, k], values: randoms(17 * k)).converted(to: dtype)
                let bias = Tensor(shape: [out], values: randoms(out))
                let wide = w.toF32(), wide2 = w2.toF32()
                for m in [1, 2, 3, 7, 9, 20] {
                    let x = Tensor(shape: [m, k], values: randoms(m * k))
                    let got = x.mixedLinear(parts: [(w, bias), (w2, nil)])
                    // bf16 weights multiply x rounded to bf16 (every path)
                    let want = (dtype == .bf16 ? x.converted(to: .bf16).toF32() : x).linear(parts: [(wide, bias), (wide2, nil)])
                    assertClose(got, want, tolerance: 1e-5, "\(dtype) k \(k) out \(out) m \(m)")
                }
            }
        }
    }

    /// The activation rounding of bf16 matmuls equals the tensor conversion to bf16 (ties to even,
    /// overflow to Inf, subnormals, signs), on the SIMD body and the scalar tail; NaN stays NaN.
    func testRoundToBF16MatchesConversion() {
        var values: [Float] = [0, -0, 1, -1, 1.00390625, 1.01171875, 1.0078125, -3.14159, .greatestFiniteMagnitude,
                               -.greatestFiniteMagnitude, .infinity, -.infinity, Float(bitPattern: 0x0000_8000),
                               Float(bitPattern: 0x0001_8000), 1e-40, 65504, 3.3895e38]
        var rng = SeededRandom(seed: 3)
        values += (0..<40).map { _ in Float(rng.nextUnit() * 200 - 100) }
        let want = Tensor(shape: [values.count], values: values).converted(to: .bf16).toF32().floats()
        var got = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { v in
            got.withUnsafeMutableBufferPointer { HalfPrecisionKernels.roundToBF16(v.baseAddress!, count: values.count, into: $0.baseAddress!) }
        }
        for i in values.indices { XCTAssertEqual(got[i].bitPattern, want[i].bitPattern, "\(values[i])") }
        // Against the rounding written out here (not the library's), for every length up to 40
        // (the AVX-512 kernel's masked last block), rounding in place and to bf16 storage.
        func reference(_ x: Float) -> UInt32 {
            let u = x.bitPattern
            return (u & 0x7FFF_FFFF) > 0x7F80_0000 ? (u | 0x0040_0000) & 0xFFFF_0000 : (u &+ 0x7FFF &+ ((u >> 16) & 1)) & 0xFFFF_0000
        }
        for n in 1...40 {
            var inPlace = Array(values.suffix(n))
            var halves = [UInt16](repeating: 0, count: n)
            inPlace.withUnsafeMutableBufferPointer { HalfPrecisionKernels.roundToBF16($0.baseAddress!, count: n, into: $0.baseAddress!) }
            values.suffix(n).withUnsafeBufferPointer { vidlm_f32_to_bf16($0.baseAddress!, &halves, n) }
            for (i, x) in values.suffix(n).enumerated() {
                XCTAssertEqual(inPlace[i].bitPattern, reference(x), "\(x), length \(n)")
                XCTAssertEqual(UInt32(halves[i]) << 16, reference(x), "\(x) as bf16, length \(n)")
            }
        }
        var nan: [Float] = [.nan, -.nan, Float(bitPattern: 0x7F80_0001)]
        nan.withUnsafeMutableBufferPointer { HalfPrecisionKernels.roundToBF16($0.baseAddress!, count: 3, into: $0.baseAddress!) }
        XCTAssertTrue(nan.allSatisfy { $0.isNaN })
    }

    /// The bf16 prefill GEMM over shapes that exercise its tiles' edges (m mod 4, out mod 6), the
    /// zero-padded k tail, several k slices, full and partial 48-row weight blocks, 96-row work
    /// units and weight rows that start off 64-byte boundaries (row 1 of a table with odd k): every
    /// output equals the sum over the bf16 weights and x rounded to bf16, in Double, and the bias
    /// is added once.
    func testBF16GEMMOverTileEdgesTailsAndSlices() {
        var rng = SeededRandom(seed: 23)
        func randoms(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        for (m, k, out) in [(13, 4096 + 45, 101), (9, 31, 7), (12, 2048, 96 + 13), (5, 63, 800)] {
            let table = Tensor(shape: [out + 1, k], values: randoms((out + 1) * k)).converted(to: .bf16)
            let w = table.rows(1..<(out + 1))
            let bias = Tensor(shape: [out], values: randoms(out))
            let x = Tensor(shape: [m, k], values: randoms(m * k))
            let got = x.mixedLinear(weight: w, bias: bias).floats()
            let xs = x.converted(to: .bf16).toF32().floats()
            let ws = w.toF32().floats(), bs = bias.floats()
            for i in 0..<m {
                for r in 0..<out {
                    var want = Double(bs[r])
                    for t in 0..<k { want += Double(xs[i * k + t]) * Double(ws[r * k + t]) }
                    XCTAssertEqual(Double(got[i * out + r]), want, accuracy: 2e-6 * Double(k).squareRoot() * 4,
                                   "m \(m) k \(k) out \(out) [\(i), \(r)]")
                }
            }
        }
    }

    func testGatherRowsAndFiniteCheck() {
        let table = Tensor(shape: [4, 40], values: (0..<160).map { Float($0) * 0.25 })
        for dtype in [DType.f32, .bf16, .f16] {
            let t = table.converted(to: dtype)
            XCTAssertEqual(t.gatherRows([3, 0]).floats(), table.rows(3..<4).floats() + table.rows(0..<1).floats())
            XCTAssertNil(t.firstNonFiniteElement())
        }
        var v = table.floats()
        v[77] = .infinity
        for dtype in [DType.f32, .bf16, .f16] {
            XCTAssertEqual(Tensor(shape: [4, 40], values: v).converted(to: dtype).firstNonFiniteElement(), 77)
        }
        v[77] = 1
        v[41] = .nan
        // Row 1 is skipped by a stride-2 sample, found by a full scan.
        XCTAssertNil(Tensor(shape: [4, 40], values: v).firstNonFiniteElement(rowStride: 2))
        XCTAssertEqual(Tensor(shape: [4, 40], values: v).converted(to: .bf16).firstNonFiniteElement(), 41)
    }

    func testRopeInverseFrequencies() {
        // transformers: linear divides; llama3 keeps high, divides low, smooths between.
        let base = RotaryEmbedding.inverseFrequencies(headDim: 16, theta: 10000, scaling: .none)
        XCTAssertEqual(base[0], 1)
        XCTAssertEqual(base[1], 1 / powf(10000, 0.125), accuracy: 1e-7)
        let linear = RotaryEmbedding.inverseFrequencies(headDim: 16, theta: 10000, scaling: .linear(factor: 4))
        for i in 0..<8 { XCTAssertEqual(linear[i], base[i] / 4) }
        let l3 = RotaryEmbedding.inverseFrequencies(headDim: 16, theta: 10000,
                                                    scaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64))
        XCTAssertEqual(l3[0], base[0])          // wavelength 6.3 < 16
        XCTAssertEqual(l3[7], base[7] / 8)      // wavelength ≫ 64
        XCTAssertTrue(l3[2] < base[2] && l3[2] > base[2] / 8)  // 62.8: smoothed
    }
}
