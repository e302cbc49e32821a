import Foundation
import XCTest
import VidLMTensor
@testable import VidLMModels

/// Token mergers, proportional attention and Video-LLaMA's frame positions against
/// tools/reference/vidlm_bridge.py (fixtures from tools/parity/cases_bridge.py).
final class MergerParityTests: XCTestCase {
    private struct Case {
        let folder: URL
        let config: MergerConfig
        let gridSide: Int
        let width: Int
        let inputs: SafetensorsFile
        let expected: SafetensorsFile
        let meta: [String: Any]
    }

    private func load(_ name: String) throws -> Case {
        let folder = ParityFixtures.folder(name)
        let data = try Data(contentsOf: folder.appendingPathComponent("config.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
        return Case(folder: folder, config: try MergerConfig.fromModelConfig(data),
                    gridSide: json["grid_side"] as? Int ?? 0, width: json["width"] as? Int ?? 0,
                    inputs: try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors")),
                    expected: try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors")), meta: meta)
    }

    private func ints(_ file: SafetensorsFile, _ name: String) throws -> [Int] {
        try file.tensor(name).floats().map { Int($0) }
    }

    /// Runs the merger of fixture `name` and checks tokens (1e-4 of scale), counts, provenance
    /// and frame offsets (exact).
    @discardableResult
    private func check(_ name: String, weights: Bool = false) throws -> MergedTokens {
        let c = try load(name)
        let merger: TokenMerger
        if weights {
            merger = try WeightBinder.load(try WeightStore(directory: c.folder)) {
                try TokenMerger(config: c.config, width: c.width, gridSide: c.gridSide, weights: $0)
            }
        } else {
            merger = try TokenMerger(config: c.config, width: c.width, gridSide: c.gridSide)
        }
        let out = try merger(try c.inputs.tensor("features"))
        assertClose(out.tokens, try c.expected.tensor("tokens"), tolerance: 1e-4, "\(name) tokens")
        if c.expected.contains("counts") {
            let expected = try c.expected.tensor("counts").floats()
            XCTAssertEqual(out.counts, expected, "\(name) counts")
            if c.config.proportionalAttention {
                XCTAssertEqual(out.encoderLogCounts?.flatMap { $0 }, expected.map { Foundation.log($0) }, "\(name) log counts")
                XCTAssertEqual(out.encoderLogCounts?.count, out.tokens.shape[0])
            }
        } else {
            XCTAssertNil(out.counts, name)
            XCTAssertNil(out.encoderLogCounts, name)
        }
        let offsets = try ints(c.expected, "provenance_offsets")
        let frames = try ints(c.expected, "provenance_frames"), positions = try ints(c.expected, "provenance_positions")
        let expectedProvenance = (0..<(offsets.count - 1)).map { i in
            (offsets[i]..<offsets[i + 1]).map { TokenOrigin(frame: frames[$0], position: positions[$0]) }
        }
        XCTAssertEqual(out.provenance.count, out.tokens.shape[0] * out.tokens.shape[1], "\(name) provenance per token")
        XCTAssertEqual(out.provenance, expectedProvenance, "\(name) provenance")
        if c.expected.contains("frame_offsets") {
            XCTAssertEqual(out.frameOffsets, try ints(c.expected, "frame_offsets"), "\(name) frame offsets")
            XCTAssertFalse(out.perFrame)
        } else {
            XCTAssertNil(out.frameOffsets)
            XCTAssertTrue(out.perFrame)
            XCTAssertEqual(out.tokens.shape[1], merger.tokensPerFrame)
        }
        // Every input token is accounted for exactly once (concat_linear drops the class tokens).
        let input = try c.inputs.tensor("features")
        let all = Set(out.provenance.flatMap { $0 })
        XCTAssertEqual(all.count, out.provenance.reduce(0) { $0 + $1.count }, "\(name) no token used twice")
        let dropped = c.config.typeName == "concat_linear" ? input.shape[0] : 0
        XCTAssertEqual(all.count, input.shape[0] * input.shape[1] - dropped, "\(name) every token kept")
        return out
    }

    func testSpatialPool() throws {
        let out = try check("bridge_merge_spatial_k2")
        XCTAssertEqual(out.tokens.shape, [2, 5, 8])
        XCTAssertEqual(out.counts?.prefix(5).map { $0 }, [1, 4, 4, 4, 4])
        XCTAssertEqual(out.provenance[1], [1, 2, 5, 6].map { TokenOrigin(frame: 0, position: $0) })
    }

    func testConcatLinear() throws {
        let out = try check("bridge_merge_concat_k4", weights: true)
        XCTAssertEqual(out.tokens.shape, [2, 4, 12])
        XCTAssertEqual(out.provenance[5], [5, 6, 7, 8].map { TokenOrigin(frame: 1, position: $0) })
    }

    func testTemporalStaticClipShrinks() throws {
        let out = try check("bridge_merge_temporal_static")
        let input = 8 * 17, kept = out.tokens.shape[1]
        XCTAssertEqual(kept, 16 + 8, "one frame of patches + one class token per frame")
        XCTAssertGreaterThanOrEqual(1 - Double(kept) / Double(input), 0.8)
    }

    func testTemporalMovingClipKeepsTokens() throws {
        let out = try check("bridge_merge_temporal_moving")
        XCTAssertGreaterThanOrEqual(Double(out.tokens.shape[1]) / Double(6 * 17), 0.9)
    }

    func testTemporalMixedClip() throws {
        let out = try check("bridge_merge_temporal_mixed")
        // Static rows until the scene cut at frame 4, the drift region breaks off at frame 3.
        XCTAssertEqual(out.provenance[1], (0..<4).map { TokenOrigin(frame: $0, position: 1) })
        XCTAssertEqual(out.provenance[11], (0..<3).map { TokenOrigin(frame: $0, position: 11) })
        XCTAssertEqual(out.frameOffsets, [0, 17, 22, 27, 36, 49, 54])
    }

    func testNoneMergerIsIdentity() throws {
        let c = try load("bridge_merge_spatial_k2")
        let x = try c.inputs.tensor("features")
        let out = try TokenMerger(config: .none, width: 8, gridSide: 4)(x)
        XCTAssertEqual(out.tokens.floats(), x.floats())
        XCTAssertEqual(out.provenance[18], [TokenOrigin(frame: 1, position: 1)])
        XCTAssertNil(out.counts)
        XCTAssertEqual(try MergerConfig.fromModelConfig(Data("{}".utf8)), .none)
    }

    /// The cross-attention contract: `MergedTokens.encoderLogCounts` is `Attention`'s `keyBias`.
    func testProportionalAttention() throws {
        let folder = ParityFixtures.folder("bridge_proportional_attention")
        let inputs = try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors"))
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        let counts = try inputs.tensor("counts").floats()
        let lk = try inputs.tensor("k").shape[1]
        let bias = (0..<(counts.count / lk)).map { b in counts[(b * lk)..<((b + 1) * lk)].map { Foundation.log($0) } }
        let (q, k, v) = (try inputs.tensor("q"), try inputs.tensor("k"), try inputs.tensor("v"))
        let out = Attention.scaledDotProduct(q: q, k: k, v: v, heads: 4, keyBias: bias)
        assertClose(out, try expected.tensor("out"), tolerance: 1e-4, "proportional attention")
        let plain = Attention.scaledDotProduct(q: q, k: k, v: v, heads: 4)
        assertClose(plain, try expected.tensor("out_without_counts"), tolerance: 1e-4, "attention without counts")
    }

    // MARK: Video-LLaMA frame positions

    private func positions(_ name: String) throws -> (VideoFramePositions, SafetensorsFile, SafetensorsFile, [String: Any]) {
        let folder = ParityFixtures.folder(name)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("config.json"))) as! [String: Any]
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as! [String: Any]
        let width = (config["qformer_config"] as! [String: Any])["hidden_size"] as! Int
        let store = try WeightStore(directory: folder)
        let binder = store.binder()
        let p = try VideoFramePositions(weights: binder, maxFramePositions: config["max_frame_pos"] as! Int, width: width)
        XCTAssertTrue(binder.missing.isEmpty && binder.wrongShapes.isEmpty)
        return (p, try SafetensorsFile(url: folder.appendingPathComponent("inputs.safetensors")),
                try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors")), meta)
    }

    func testFramePositions() throws {
        let (p, inputs, expected, _) = try positions("video_llama_qformer_tiny")
        let states = try inputs.tensor("frame_states")
        XCTAssertEqual(states.shape, [1, 3, 4, 32])
        assertClose(try p.rows(frames: 3), try expected.tensor("frame_positions"), tolerance: 1e-4, "positions")
        assertClose(try p(states), try expected.tensor("with_positions"), tolerance: 1e-4, "with positions [B, T, Q, H]")
        assertClose(try p(states.slice(0)), try expected.tensor("with_positions").slice(0), tolerance: 1e-4, "with positions [T, Q, H]")
        XCTAssertFalse(p.didWarn)
    }

    func testFramePositionsInterpolatedBeyondTable() throws {
        let (p, inputs, expected, meta) = try positions("video_llama_qformer_interp")
        XCTAssertEqual(meta["interpolated"] as? Bool, true)
        let states = try inputs.tensor("frame_states")
        XCTAssertEqual(states.shape[1], 11)
        XCTAssertFalse(p.didWarn)
        assertClose(try p.rows(frames: 11), try expected.tensor("frame_positions"), tolerance: 1e-4, "interpolated positions")
        XCTAssertTrue(p.didWarn)
        let copy = p
        assertClose(try copy(states), try expected.tensor("with_positions"), tolerance: 1e-4, "interpolated with positions")
        XCTAssertTrue(copy.didWarn, "copies share the one-time warning")
        // Ends are the table's first and last rows.
        let table = p.table.floats(), rows = try p.rows(frames: 11).floats()
        XCTAssertEqual(Array(rows.prefix(32)), Array(table.prefix(32)))
        XCTAssertEqual(Array(rows.suffix(32)), Array(table.suffix(32)))
    }

    func testVideoLLaMAKeyMapMatchesReference() throws {
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: ParityFixtures.folder("video_llama_qformer_tiny")
            .appendingPathComponent("meta.json"))) as! [String: Any]
        let rules = meta["key_map_rules"] as! [[Any]]
        XCTAssertEqual(rules.count, VideoLLaMAKeyMap.rules.count)
        XCTAssertEqual(VideoLLaMAKeyMap.compiledRuleCount, VideoLLaMAKeyMap.rules.count,
                       "every key-map pattern must compile")
        for (py, swift) in zip(rules, VideoLLaMAKeyMap.rules) {
            XCTAssertEqual(py[0] as? String, swift.pattern)
            XCTAssertEqual(py[1] as? String, swift.replacement)
        }
        let examples = meta["key_map_examples"] as! [String: Any]
        XCTAssertGreaterThan(examples.count, 40)
        for (lavis, ours) in examples {
            XCTAssertEqual(VideoLLaMAKeyMap.sanitize(lavis), ours as? String, lavis)
        }
        XCTAssertEqual(VideoLLaMAKeyMap.sanitize("video_Qformer.bert.encoder.layer.1.crossattention.self.key.weight"),
                       "video_Qformer.encoder.layer.1.crossattention.attention.key.weight")
        XCTAssertEqual(VideoLLaMAKeyMap.sanitize("video_Qformer.bert.encoder.layer.0.output_query.LayerNorm.bias"),
                       "video_Qformer.encoder.layer.0.output_query.LayerNorm.bias")
        XCTAssertNil(VideoLLaMAKeyMap.sanitize("video_Qformer.bert.encoder.layer.0.output.dense.weight"))
        XCTAssertEqual(VideoLLaMAKeyMap.sanitize("llama_proj.weight"), "llama_proj.weight")
        // The sanitized fixture names are exactly the weights the module has.
        let store = try WeightStore(directory: ParityFixtures.folder("video_llama_qformer_tiny"))
        XCTAssertEqual(Set(examples.values.compactMap { $0 as? String }), Set(store.names))
    }

    // MARK: Errors

    private func configFails(_ json: String, containing text: String, line: UInt = #line) {
        XCTAssertThrowsError(try MergerConfig.fromModelConfig(Data(json.utf8)), line: line) { error in
            guard let e = error as? ConfigError else { return XCTFail("not a ConfigError: \(error)", line: line) }
            XCTAssertTrue(e.description.contains(text), "'\(e.description)' lacks '\(text)'", line: line)
            XCTAssertFalse(e.description.contains("\n"), line: line)
        }
    }

    func testConfigSchema() throws {
        let cases: [(String, MergerConfig)] = [
            (#"{"token_merger": {"type": "none"}}"#, .none),
            (#"{"token_merger": null}"#, .none),
            (#"{"token_merger": {"type": "spatial_pool", "k": 2}}"#, .spatialPool(k: 2)),
            (#"{"token_merger": {"type": "spatial_pool", "k": 2, "proportional_attention": false}}"#, .spatialPool(k: 2, proportionalAttention: false)),
            (#"{"token_merger": {"type": "concat_linear", "k": 4, "out_size": 4096}}"#, .concatLinear(k: 4, outSize: 4096)),
            (#"{"token_merger": {"type": "concat_linear", "k": 4}}"#, .concatLinear(k: 4)),
            (#"{"token_merger": {"type": "temporal", "tau": 0.85}}"#, .temporal(tau: 0.85)),
            (#"{"token_merger": {"type": "temporal", "tau": 0}}"#, .temporal(tau: 0)),
        ]
        for (json, expected) in cases {
            let config = try MergerConfig.fromModelConfig(Data(json.utf8))
            XCTAssertEqual(config, expected, json)
            // Round trip through the same schema.
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            let again = try MergerConfig.fromModelConfig(Data(#"{"token_merger": "#.utf8) + encoder.encode(config) + Data("}".utf8))
            XCTAssertEqual(again, config, json)
        }
        XCTAssertFalse(MergerConfig.concatLinear(k: 4).proportionalAttention)
        XCTAssertTrue(MergerConfig.temporal(tau: 0.9).proportionalAttention)
    }

    func testBadConfigsNameTheField() {
        configFails(#"{"token_merger": {"type": "temporal", "tau": 1.5}}"#, containing: "'token_merger.tau' is invalid (must be within [0, 1], got 1.5)")
        configFails(#"{"token_merger": {"type": "temporal", "tau": -0.1}}"#, containing: "'token_merger.tau'")
        configFails(#"{"token_merger": {"type": "temporal"}}"#, containing: "'token_merger.tau' is missing")
        configFails(#"{"token_merger": {"type": "spatial_pool"}}"#, containing: "'token_merger.k' is missing")
        configFails(#"{"token_merger": {"type": "spatial_pool", "k": 0}}"#, containing: "'token_merger.k' is invalid (must be at least 1")
        configFails(#"{"token_merger": {"type": "concat_linear", "k": 4, "out_size": 0}}"#, containing: "'token_merger.out_size'")
        configFails(#"{"token_merger": {"type": "tome"}}"#, containing: "unknown merger type 'tome'")
        configFails(#"{"token_merger": {"k": 2}}"#, containing: "'token_merger.type' is missing")
        configFails(#"{"token_merger": {"type": "spatial_pool", "k": "two"}}"#, containing: "'token_merger.k' must be a number")
    }

    private func mergerFails(_ expected: MergerError, containing text: String, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual(error as? MergerError, expected, line: line)
            XCTAssertTrue("\(error)".contains(text), "'\(error)' lacks '\(text)'", line: line)
            XCTAssertFalse("\(error)".contains("\n"), line: line)
        }
    }

    func testMergerErrors() throws {
        mergerFails(.kDoesNotDivideGrid(type: "spatial_pool", k: 3, gridSide: 4), containing: "'token_merger.k' = 3 does not divide the 4x4 patch grid") {
            _ = try TokenMerger(config: .spatialPool(k: 3), width: 8, gridSide: 4)
        }
        mergerFails(.kDoesNotDivideGrid(type: "concat_linear", k: 3, gridSide: 4), containing: "'token_merger.k' = 3 does not divide the 16 patches") {
            _ = try TokenMerger(config: .concatLinear(k: 3), width: 8, gridSide: 4)
        }
        mergerFails(.tauOutOfRange(1.5), containing: "'token_merger.tau' must be within [0, 1]") {
            _ = try TokenMerger(config: .temporal(tau: 1.5), width: 8, gridSide: 4)
        }
        mergerFails(.invalidK(0), containing: "'token_merger.k' must be at least 1") {
            _ = try TokenMerger(config: .spatialPool(k: 0), width: 8, gridSide: 4)
        }
        mergerFails(.missingWeights("concat_linear needs merger.proj.weight and merger.proj.bias"), containing: "merger.proj.weight") {
            _ = try TokenMerger(config: .concatLinear(k: 4), width: 8, gridSide: 4)
        }
        let merger = try TokenMerger(config: .temporal(tau: 0.9), width: 8, gridSide: 4)
        mergerFails(.noFrames, containing: "zero frames") { _ = try merger(Tensor.zeros([0, 17, 8])) }
        mergerFails(.widthMismatch(expected: 8, got: 12), containing: "12 wide") { _ = try merger(Tensor.zeros([2, 17, 12])) }
        mergerFails(.badShape(expected: [2, 17, 8], got: [2, 16, 8]), containing: "[frames, 17, 8]") { _ = try merger(Tensor.zeros([2, 16, 8])) }
        mergerFails(.badShape(expected: [0, 17, 8], got: [17, 8]), containing: "got [17, 8]") { _ = try merger(Tensor.zeros([17, 8])) }
        // The concat weights must have the configured shape.
        let c = try load("bridge_merge_concat_k4")
        XCTAssertThrowsError(try WeightBinder.load(try WeightStore(directory: c.folder)) {
            try TokenMerger(config: .concatLinear(k: 4, outSize: 10), width: 8, gridSide: 4, weights: $0)
        }) { XCTAssertTrue("\($0)".contains("merger.proj.weight"), "\($0)") }
    }

    func testFramePositionErrors() throws {
        let p = try VideoFramePositions(table: Tensor(shape: [2, 4], values: [0, 1, 2, 3, 4, 5, 6, 7]))
        XCTAssertThrowsError(try p(Tensor.zeros([0, 2, 4]))) { XCTAssertEqual($0 as? FramePositionError, .noFrames) }
        XCTAssertThrowsError(try p(Tensor.zeros([3, 2, 5]))) {
            XCTAssertEqual($0 as? FramePositionError, .widthMismatch(expected: 4, got: 5))
            XCTAssertTrue("\($0)".contains("'video_frame_position_embedding' has width 4"))
        }
        XCTAssertThrowsError(try p(Tensor.zeros([4, 5]))) { XCTAssertEqual($0 as? FramePositionError, .badShape([4, 5])) }
        XCTAssertThrowsError(try p.rows(frames: 0)) { XCTAssertEqual($0 as? FramePositionError, .noFrames) }
        XCTAssertThrowsError(try VideoFramePositions(table: Tensor.zeros([0, 4]))) { XCTAssertEqual($0 as? FramePositionError, .badTable([0, 4])) }
        // A one-row table repeats its row; a two-row table interpolates linearly.
        let one = try VideoFramePositions(table: Tensor(shape: [1, 2], values: [3, 4]))
        XCTAssertEqual(try one.rows(frames: 3).floats(), [3, 4, 3, 4, 3, 4])
        XCTAssertEqual(try p.rows(frames: 3).floats(), [0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7])
    }
}
