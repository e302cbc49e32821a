import VidLMTensor

/// `torch.nn.LayerNorm` over the last dimension (f32 weight and bias; none without
/// `elementwise_affine`).
public struct LayerNorm: TensorLayer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let eps: Float

    /// Binds `name.weight` and `name.bias` [width] (nothing when not `affine`); `checkFinite`
    /// scans them for Inf/NaN.
    public init(_ weights: ParameterSource, _ name: String, width: Int, eps: Float, affine: Bool = true,
                checkFinite: Bool = false) throws {
        weight = affine ? try weights.take(name + ".weight", shape: [width]).toF32() : nil
        bias = affine ? try weights.take(name + ".bias", shape: [width]).toF32() : nil
        if checkFinite {
            if let weight { try TextForward.checkFinite(weight, name + ".weight") }
            if let bias { try TextForward.checkFinite(bias, name + ".bias") }
        }
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}

/// RMSNorm as LLaMA uses it (f32 weight, no bias).
public struct RMSNorm: TensorLayer {
    public let weight: Tensor
    public let eps: Float

    /// Binds `name.weight` [width]; `checkFinite` scans it for Inf/NaN.
    public init(_ weights: ParameterSource, _ name: String, width: Int, eps: Float, checkFinite: Bool = false) throws {
        weight = try weights.take(name + ".weight", shape: [width]).toF32()
        if checkFinite { try TextForward.checkFinite(weight, name + ".weight") }
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.rmsNorm(weight: weight, eps: eps) }
}
