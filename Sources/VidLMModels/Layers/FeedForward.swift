import VidLMTensor

/// The two-layer MLP of ViTs, Q-Formers and OPT: `down(act(up(x)))`.
public struct FeedForward: TensorLayer {
    public let up: Linear
    public let down: Linear
    public let activation: Activation

    public init(up: Linear, down: Linear, activation: Activation) {
        self.up = up
        self.down = down
        self.activation = activation
    }

    /// Through packed rows where both products can (bf16 on AMX: `amxChainedLinear`; bf16 on the
    /// AVX-512 BF16 GEMM: `bf16ChainedLinear`; f32 on vidlm's GEMM: `f32ChainedLinear`), the same
    /// values.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let y = x.amxChainedLinear(first: (up.weight, up.bias), activation: activation, second: (down.weight, down.bias)) {
            return y
        }
        return chained(x, adding: nil) ?? down(up(x, then: activation))
    }

    /// `residual + self(x)`, the same values; the second product adds the residual as it stores
    /// where it can (`Linear.callAsFunction(_:adding:)`, the chained products).
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        if let y = x.amxChainedLinear(first: (up.weight, up.bias), activation: activation, second: (down.weight, down.bias)) {
            return residual + y
        }
        return chained(x, adding: residual) ?? down(up(x, then: activation), adding: residual)
    }

    /// The AVX-512 GEMMs' chains (bf16 or f32), nil where neither applies.
    private func chained(_ x: Tensor, adding residual: Tensor?) -> Tensor? {
        let first = (up.weight, up.bias), second = (down.weight, down.bias)
        return x.bf16ChainedLinear(first: first, activation: activation, second: second, adding: residual)
            ?? x.f32ChainedLinear(first: first, activation: activation, second: second, adding: residual)
    }

    /// `x + self(norm(x))`, bit for bit, with the norm written straight into the first
    /// product's packed bf16 x, that product's output into the second's, and x added as the
    /// second stores; nil unless both weights are bf16 on AMX and the shapes take the tile
    /// layout (`AMXPackedRows.chains`).
    public func residualOnAMX(_ x: Tensor, norm: LayerNorm) -> Tensor? {
        guard x.shape.last == up.inputWidth,
              AMXPackedRows.chains(rows: x.count / max(up.inputWidth, 1), first: up.weight, second: down.weight),
              let packed = x.layerNormPackedForAMX(weight: norm.weight, bias: norm.bias, eps: norm.eps),
              packed.chains(first: up.weight, second: down.weight) else { return nil }
        return packed.chainedLinear(first: (up.weight, up.bias), activation: activation, second: (down.weight, down.bias),
                                    adding: x)
    }
}

/// LLaMA's gated MLP (SwiGLU with SiLU): `down(act(gate(x)) · up(x))`, gate and up in one pass.
public struct GatedFeedForward: TensorLayer {
    /// gate then up, side by side.
    public let gateUp: FusedLinear
    public let down: Linear
    public let activation: Activation

    public init(gate: Linear, up: Linear, down: Linear, activation: Activation) {
        gateUp = FusedLinear([gate, up])
        self.down = down
        self.activation = activation
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (gate, up) = (gateUp.parts[0], gateUp.parts[1])
        if let y = x.amxGatedChainedLinear(gate: (gate.weight, gate.bias), up: (up.weight, up.bias), activation: activation,
                                           down: (down.weight, down.bias)) {
            return y
        }
        if let y = x.bf16GatedChainedLinear(gate: (gate.weight, gate.bias), up: (up.weight, up.bias), activation: activation,
                                            down: (down.weight, down.bias)) {
            return y
        }
        return down(gateUp(x).gatedActivation(activation))
    }

    /// `residual + self(x)`, the same values; the down projection adds the residual as it stores
    /// where it can (`Linear.callAsFunction(_:adding:)`).
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        let (gate, up) = (gateUp.parts[0], gateUp.parts[1])
        if let y = x.amxGatedChainedLinear(gate: (gate.weight, gate.bias), up: (up.weight, up.bias), activation: activation,
                                           down: (down.weight, down.bias)) {
            return residual + y
        }
        if let y = x.bf16GatedChainedLinear(gate: (gate.weight, gate.bias), up: (up.weight, up.bias), activation: activation,
                                            down: (down.weight, down.bias), adding: residual) {
            return y
        }
        return down(gateUp(x).gatedActivation(activation), adding: residual)
    }
}
