import VidLMTensor

/// Where model code takes its weights from, by checkpoint name and expected shape. The source
/// records what was taken so a loader can report missing, unexpected and wrong-shaped weights
/// together (see `WeightBinder`).
public protocol ParameterSource {
    /// The weight `name`; a missing name or another shape is an error.
    func take(_ name: String, shape: [Int]) throws -> Tensor
    /// The weight `name` if the checkpoint has it; a wrong shape is still an error.
    func takeIfPresent(_ name: String, shape: [Int]) throws -> Tensor?
}
