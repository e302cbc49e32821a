import Foundation
import VidLMMedia
import VidLMModels
import VidLMTensor

/// How a family uses the frames sampled from a clip.
public enum FrameUse: Sendable, Equatable {
    /// All frames form one input, in order (InstructBLIP-Video, vidlm).
    case clip
    /// The model sees one image at a time (BLIP-2): a clip is answered from its middle frame, or
    /// once per sampled frame when more than one is asked for.
    case singleImage
}

/// Whether a family's answer can depend on frame order (the frame-order evaluation reports it).
public enum OrderSignal: Sendable, Equatable {
    /// Frames carry learned position embeddings; the control run gives every frame position 0.
    case framePositions
    /// The model has no temporal signal, with the reason in words.
    case none(String)
}

/// The decoder input a family built for one request, plus its intermediate stages.
public struct PreparedPrompt: Sendable {
    /// Input embeddings [L, D]: text embeddings with the visual rows spliced in.
    public let embeddings: Tensor
    /// The text token ids of the prompt (the repetition penalty's context; placeholders removed).
    public let textIds: [Int]
    /// The whole prompt as ids, visual rows shown as the family's placeholder id (-1 where the
    /// family has none): what a transformers processor builds as `input_ids`.
    public let inputIds: [Int]
    /// Stage outputs for `vidlm features`: "merged" [.., E], "bridge" [.., H], "projected" [.., D].
    public let stages: [String: Tensor]
}

/// A loaded model of one family: the shared vision core, the family's bridge and prompt rules,
/// and its decoder. Immutable and shareable across concurrent requests.
public protocol VisionLanguageModel: Sendable {
    /// config.json's `model_type`.
    var modelType: String { get }
    var vision: VisionTransformer { get }
    var language: any LanguageModel { get }
    var tokenizer: Tokenizer { get }
    var preprocess: PreprocessConfig { get }
    /// Frames sampled from a clip when the request does not say.
    var defaultFrameCount: Int { get }
    var frameUse: FrameUse { get }
    var orderSignal: OrderSignal { get }
    /// The question asked when captioning.
    var captionQuestion: String? { get }
    /// The decoder input for vision features [T, N, Dv] (frames in order) and a question (nil =
    /// caption). `framePositions` overrides each frame's position index (frame-order control).
    func prompt(features: Tensor, question: String?, framePositions: [Int]?) throws -> PreparedPrompt
}

extension VisionLanguageModel {
    /// Splices visual rows [V, D] into the embeddings of `ids` at the positions holding
    /// `placeholder` (there must be exactly V of them).
    func splice(ids: [Int], placeholder: Int, visual: Tensor) throws -> Tensor {
        let positions = ids.indices.filter { ids[$0] == placeholder }
        let v = visual.shape[0], d = visual.shape[1]
        guard positions.count == v else {
            throw EngineError.prompt("the prompt has \(positions.count) image placeholders but the bridge made \(v) visual tokens")
        }
        let text = try language.embed(ids.map { $0 == placeholder ? 0 : $0 })
        return text.withFloats { t in
            visual.withFloats { vis in
                Tensor.make(shape: [ids.count, d], uninitialized: true) { out in
                    out.baseAddress!.update(from: t.baseAddress!, count: ids.count * d)
                    for (row, p) in positions.enumerated() {
                        (out.baseAddress! + p * d).update(from: vis.baseAddress! + row * d, count: d)
                    }
                }
            }
        }
    }
}
