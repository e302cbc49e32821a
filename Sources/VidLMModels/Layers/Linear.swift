import VidLMTensor

/// Something that maps activations to activations: the layers below compose through it.
public protocol TensorLayer: Sendable {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// `torch.nn.Linear`: `x · Wᵀ + b` with W [out, in]. The weight stays in the dtype it is given
/// (f32, bf16, f16, or llama.cpp's q8_0 / q4_0 blocks, through `mixedLinear`): this is the one
/// place weight formats live, so every tower, bridge and decoder can use each of them.
public struct Linear: TensorLayer {
    public let weight: Tensor
    public let bias: Tensor?

    /// A block-quantized `weight` is kept interleaved for the kernels and its row-layout pages
    /// are given back, unless `shared` (the tensor is also read elsewhere, e.g. tied embeddings).
    public init(weight: Tensor, bias: Tensor? = nil, shared: Bool = false) {
        self.weight = weight.dtype.isBlockQuantized && !shared ? weight.interleavedForKernels() : weight
        self.bias = bias
    }

    /// Binds `name.weight` [output, input] (and `name.bias` when `bias`). `widen` converts a
    /// half-precision weight to f32 at load (the contrastive heads, which compute in f32).
    /// Otherwise f32, bf16 and f16 stay as stored, as transformers runs a checkpoint in its stored
    /// dtype (towers, Q-Formers, projectors and decoders alike); f32 becomes bf16 when the model
    /// loads with `ComputePrecision.bf16`, and other dtypes are widened. Block-quantized weights always stay
    /// quantized (a quantized model was asked for). `checkFinite` scans for Inf/NaN (decoders).
    public init(_ weights: ParameterSource, _ name: String, input: Int, output: Int, bias hasBias: Bool = true,
                widen: Bool = false, checkFinite: Bool = false) throws {
        let w = try weights.take(name + ".weight", shape: [output, input])
        weight = w.dtype.isBlockQuantized ? w.interleavedForKernels()
            : widen || !MixedPrecisionLinear.isSupported(w.dtype) ? w.toF32() : ComputePrecision.projectionWeight(w)
        bias = hasBias ? try weights.take(name + ".bias", shape: [output]).toF32() : nil
        if checkFinite {
            try TextForward.checkFinite(weight, name + ".weight")
            if let bias { try TextForward.checkFinite(bias, name + ".bias") }
        }
    }

    public var inputWidth: Int { weight.shape[1] }
    public var outputWidth: Int { weight.shape[0] }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.mixedLinear(weight: weight, bias: bias) }

    /// `residual + self(x)`, the residual added as the product stores where the kernel can (see
    /// `mixedLinear(weight:bias:adding:)`).
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        x.mixedLinear(weight: weight, bias: bias, adding: residual)
    }

    /// `activation(self(x))`, fused into the product where the kernel can (see `mixedLinear`).
    public func callAsFunction(_ x: Tensor, then activation: Activation) -> Tensor {
        x.mixedLinear(weight: weight, bias: bias, activation: activation)
    }
}

/// Several projections of one input written side by side in one output (q, k, v; gate, up),
/// each from its own weight: no stacked copy of the weights is ever made.
public struct FusedLinear: TensorLayer {
    public let parts: [Linear]

    public init(_ parts: [Linear]) { self.parts = parts }

    public var outputWidth: Int { parts.reduce(0) { $0 + $1.outputWidth } }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.mixedLinear(parts: parts.map { ($0.weight, $0.bias) })
    }
}
