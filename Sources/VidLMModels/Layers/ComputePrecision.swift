import VidLMTensor

/// The precision projection layers compute in, chosen when a model is loaded.
/// - `stored`: as the checkpoint stores its weights (f32 stays f32; bf16/f16 stay half), as
///   transformers does when it loads a model in its stored dtype.
/// - `bf16`: f32 projection weights are rounded to bf16 at load, so towers, bridges and decoders
///   run the bf16 kernels (twice the f32 rate, half the bytes per decoded token). Answers may
///   differ from f32 (docs/numerics.md says how often on the parity fixtures).
public enum ComputePrecision: String, Sendable, CaseIterable {
    case stored
    case bf16

    /// The precision of the model being loaded by the current task (`Engine.load(directory:compute:)`
    /// sets it around the family's loader; layers read it while binding weights).
    @TaskLocal public static var current: ComputePrecision = .stored

    /// `weight` as the projection layers of the model being loaded should hold it. A converted
    /// weight's source pages are released, so a bf16-computing model's resident set is about its
    /// bf16 copy, not f32 + bf16.
    public static func projectionWeight(_ weight: Tensor) -> Tensor {
        guard current == .bf16 && weight.dtype == .f32 else { return weight }
        let converted = weight.converted(to: .bf16)
        weight.storage.releasePages(offset: weight.byteOffset, count: weight.count * weight.dtype.byteSize)
        return converted
    }
}
