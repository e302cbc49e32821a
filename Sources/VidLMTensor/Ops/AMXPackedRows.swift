import CKernels

/// Rows of activations already rounded to bf16 in the tile layout the AMX GEMM reads its x in
/// (`vidlm_amx_pack_x`'s layout for a large x), written by the step before the products that
/// read them: a layer norm (`Tensor.layerNormPackedForAMX`), an MLP's first product
/// (`chainedLinear`, `gatedChainedLinear`), or a packing pass (`Tensor.packedForAMX`). The f32
/// rows are then never stored, nor read again to be packed: for a tower's MLP that was a write
/// and a read of a [tokens, 3-6 K] f32 hidden state per layer (see docs/benchmarks/e2e.md).
public final class AMXPackedRows: @unchecked Sendable {
    /// Immutable after `init`'s `fill`; shared read-only by the products' workers.
    let pointer: UnsafeMutablePointer<UInt16>
    /// The rows' tensor shape without its last dimension (the products keep it).
    public let leadingShape: [Int]
    public let rows: Int
    public let width: Int

    /// Packed rows of `leadingShape` × `width`, written by `fill(pointer)`.
    init(leadingShape: [Int], width: Int, fill: (UnsafeMutablePointer<UInt16>) -> Void) {
        self.leadingShape = leadingShape
        self.width = width
        rows = leadingShape.reduce(1, *)
        let count = vidlm_amx_packed_x_count(rows, width)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 2, alignment: 64).bindMemory(to: UInt16.self, capacity: count)
        fill(pointer)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// Whether products of `rows` rows of `width` read the tile layout on this CPU (AMX, more
    /// rows than the matrix-vector kernels take, an x large enough for the packed-weight path).
    static func apply(rows: Int, width: Int) -> Bool {
        rows > MixedPrecisionLinear.matvecRowLimit && MixedPrecisionLinear.usesBF16GEMM(.bf16) && HalfPrecisionKernels.useAMX
            && vidlm_amx_x_is_tiled(rows, width) == 1
    }

    /// Whether every one of `weights` is a bf16 [out, width] matrix, so the AMX GEMM computes it.
    public func takes(_ weights: [Tensor]) -> Bool {
        weights.allSatisfy { $0.dtype == .bf16 && $0.rank == 2 && $0.shape[1] == width }
    }

    /// `mixedLinear(parts:)` of the rows these are packed from, bit for bit; every weight bf16
    /// (`takes`). With `residual` (the shape of the result): `residual + mixedLinear(parts:)`,
    /// also bit for bit, added as each block of the product is stored.
    public func linear(parts: [(weight: Tensor, bias: Tensor?)], adding residual: Tensor? = nil) -> Tensor {
        precondition(takes(parts.map(\.weight)), "AMX packed rows need bf16 weights of width \(width)")
        let total = parts.reduce(0) { $0 + $1.weight.shape[0] }
        precondition(residual == nil || residual!.shape == leadingShape + [total], "residual \(residual!.shape) vs \(leadingShape + [total])")
        func product(_ r: UnsafePointer<Float>?) -> Tensor {
            Tensor.make(shape: leadingShape + [total], uninitialized: true) { yb in
                var column = 0
                for p in parts {
                    let out = p.weight.shape[0]
                    precondition(p.bias == nil || p.bias!.count == out, "linear: bias \(p.bias!.shape) vs weight \(p.weight.shape)")
                    optionalPointer(p.bias?.floats()) { bias in
                        MixedPrecisionLinear.amxGEMM(packedX: pointer, weight: p.weight, m: rows, k: width, out: out,
                                                     y: yb.baseAddress! + column, ldy: total, accumulate: false, bias: bias,
                                                     residual: r.map { $0 + column })
                    }
                    column += out
                }
            }
        }
        guard let residual else { return product(nil) }
        return residual.withFloats { product($0.baseAddress!) }
    }

    /// Whether `chainedLinear` takes these rows through `first` [hidden, width] and `second`
    /// [out, hidden] (both bf16; the first product's output packed for the second).
    public func chains(first: Tensor, second: Tensor) -> Bool {
        Self.chains(rows: rows, first: first, second: second) && takes([first])
    }

    /// Whether `rows` rows of `first.shape[1]` would chain through `first` and `second` on this CPU
    /// (checked before packing them).
    public static func chains(rows: Int, first: Tensor, second: Tensor) -> Bool {
        guard first.dtype == .bf16, first.rank == 2, second.dtype == .bf16, second.rank == 2,
              second.shape[1] == first.shape[0] else { return false }
        return apply(rows: rows, width: first.shape[1]) && vidlm_amx_chain_supported(rows, first.shape[1], first.shape[0]) == 1
    }

    /// `second(activation(first(rows)))` as `mixedLinear(weight:bias:activation:)` then
    /// `mixedLinear(weight:bias:)` compute it, bit for bit, the first product writing its
    /// activated output straight into the second's packed x (`chains` must hold).
    public func chainedLinear(first: (weight: Tensor, bias: Tensor?), activation: Activation,
                              second: (weight: Tensor, bias: Tensor?), adding residual: Tensor? = nil) -> Tensor {
        precondition(chains(first: first.weight, second: second.weight), "these rows and weights do not chain on AMX")
        let hidden = first.weight.shape[0]
        precondition(first.bias == nil || first.bias!.count == hidden, "linear: bias \(first.bias!.shape) vs weight \(first.weight.shape)")
        let middle = AMXPackedRows(leadingShape: leadingShape, width: hidden) { hp in
            let w = (first.weight.storage.base + first.weight.byteOffset).assumingMemoryBound(to: UInt16.self)
            let scratchCount = vidlm_amx_gemm_scratch_count()
            optionalPointer(first.bias?.floats()) { bias in
                MixedPrecisionLinear.forEachRowUnit(out: hidden, scratchBytes: scratchCount * 2, tileRows: 32, minimumRows: 32,
                                                    maximumRows: vidlm_amx_gemm_unit_rows(), xBytes: rows * width * 2) { scratch, units in
                    vidlm_amx_bf16_gemm_to_packed(pointer, rows, w, width, units.lowerBound, units.upperBound, bias,
                                                  activation.kernelID, hp, hidden,
                                                  scratch.bindMemory(to: UInt16.self, capacity: scratchCount))
                }
            }
        }
        return middle.linear(parts: [second], adding: residual)
    }
}

extension AMXPackedRows {
    /// Whether `rows` rows of `gate.shape[1]` would go through a gated MLP on this CPU with its
    /// hidden state packed for `down` (`gatedChainedLinear`): gate and up [hidden, width] and
    /// down [out, hidden], all bf16.
    public static func gatedChains(rows: Int, gate: Tensor, up: Tensor, down: Tensor) -> Bool {
        up.dtype == .bf16 && up.shape == gate.shape && chains(rows: rows, first: gate, second: down)
    }

    /// `down(activation(gate(rows)) · up(rows))` as the gate and up products side by side, then
    /// `Tensor.gatedActivation` and the down product compute it, bit for bit: the gated hidden
    /// state is written straight into the down product's packed x, so neither the [rows,
    /// 2·hidden] f32 products nor the f32 hidden state is ever stored (`gatedChains` must hold).
    public func gatedChainedLinear(gate: (weight: Tensor, bias: Tensor?), up: (weight: Tensor, bias: Tensor?),
                                   activation: Activation, down: (weight: Tensor, bias: Tensor?)) -> Tensor {
        precondition(Self.gatedChains(rows: rows, gate: gate.weight, up: up.weight, down: down.weight) && takes([gate.weight]),
                     "these rows and weights do not chain on AMX")
        let hidden = gate.weight.shape[0]
        for b in [gate.bias, up.bias] {
            precondition(b == nil || b!.count == hidden, "linear: bias \(b!.shape) vs \(hidden) outputs")
        }
        let middle = AMXPackedRows(leadingShape: leadingShape, width: hidden) { hp in
            let g = (gate.weight.storage.base + gate.weight.byteOffset).assumingMemoryBound(to: UInt16.self)
            let u = (up.weight.storage.base + up.weight.byteOffset).assumingMemoryBound(to: UInt16.self)
            let scratchCount = vidlm_amx_gemm_scratch_count()
            optionalPointer(gate.bias?.floats()) { gb in
                optionalPointer(up.bias?.floats()) { ub in
                    MixedPrecisionLinear.forEachRowUnit(out: hidden, scratchBytes: scratchCount * 2, tileRows: 32, minimumRows: 32,
                                                        maximumRows: vidlm_amx_gated_unit_rows(), xBytes: rows * width * 2) { scratch, units in
                        vidlm_amx_bf16_gated_to_packed(pointer, rows, g, u, width, units.lowerBound, units.upperBound, gb, ub,
                                                       activation.kernelID, hp, hidden,
                                                       scratch.bindMemory(to: UInt16.self, capacity: scratchCount))
                    }
                }
            }
        }
        return middle.linear(parts: [down])
    }

    /// `rows` × `width` f32 rows (row stride `width`) rounded and packed by all workers, or nil
    /// where products would not read the tile layout.
    static func packing(_ x: UnsafePointer<Float>, leadingShape: [Int], width: Int) -> AMXPackedRows? {
        let rows = leadingShape.reduce(1, *)
        guard apply(rows: rows, width: width) else { return nil }
        return AMXPackedRows(leadingShape: leadingShape, width: width) { xp in
            ParallelLoop.forEachChunk((rows + 31) / 32, minimumPerChunk: max(1, (1 << 16) / max(32 * width, 1))) { range in
                vidlm_amx_pack_x(x, width, rows, width, range.lowerBound * 32, range.upperBound * 32, xp)
            }
        }
    }
}

extension Tensor {
    /// `layerNorm(weight:bias:eps:)` rounded to bf16 and packed for AMX products as
    /// `vidlm_amx_pack_x` would pack it, bit for bit, without the f32 result ever being stored;
    /// nil where products of these rows would not read that layout (no AMX, few rows, a small x).
    public func layerNormPackedForAMX(weight: Tensor?, bias: Tensor?, eps: Float) -> AMXPackedRows? {
        let d = shape[rank - 1]
        let rows = count / max(d, 1)
        guard AMXPackedRows.apply(rows: rows, width: d) else { return nil }
        let w = weight?.floats(), b = bias?.floats()
        precondition(w == nil || w!.count == d, "layerNorm weight \(weight!.shape) vs width \(d)")
        precondition(b == nil || b!.count == d, "layerNorm bias \(bias!.shape) vs width \(d)")
        return withFloats { x in
            AMXPackedRows(leadingShape: Array(shape.dropLast()), width: d) { packed in
                ParallelLoop.forEachChunk((rows + 31) / 32, minimumPerChunk: 1) { range in
                    optionalPointer(w) { wp in
                        optionalPointer(b) { bp in
                            vidlm_amx_pack_layernorm(x.baseAddress!, d, rows, d, range.lowerBound * 32, range.upperBound * 32,
                                                     wp, bp, eps, packed)
                        }
                    }
                }
            }
        }
    }

    /// The gated MLP's form of `amxChainedLinear` (below): `down(activation(gate(self)) · up(self))`
    /// as `GatedFeedForward` computes it step by step, or nil where it does not apply.
    public func amxGatedChainedLinear(gate: (weight: Tensor, bias: Tensor?), up: (weight: Tensor, bias: Tensor?),
                                      activation: Activation, down: (weight: Tensor, bias: Tensor?)) -> Tensor? {
        let k = shape[rank - 1], m = count / max(k, 1)
        guard gate.weight.rank == 2, gate.weight.shape[1] == k,
              AMXPackedRows.gatedChains(rows: m, gate: gate.weight, up: up.weight, down: down.weight) else { return nil }
        return withFloats { x in
            AMXPackedRows.packing(x.baseAddress!, leadingShape: Array(shape.dropLast()), width: k)
        }.map { $0.gatedChainedLinear(gate: gate, up: up, activation: activation, down: down) }
    }

    /// These rows rounded and packed for AMX products (as `mixedLinear` packs them), or nil where
    /// products of them would not read the tile layout.
    public func packedForAMX() -> AMXPackedRows? {
        let k = shape[rank - 1]
        return withFloats { AMXPackedRows.packing($0.baseAddress!, leadingShape: Array(shape.dropLast()), width: k) }
    }

    /// `second(activation(first(self)))` as `mixedLinear(weight:bias:activation:)` and then
    /// `mixedLinear(weight:bias:)` compute it, bit for bit, or nil where this does not apply:
    /// where both weights are bf16 on AMX and the shapes allow (towers' and long prompts'
    /// MLPs), x is packed once and the first product writes straight into the second's packed x
    /// (`AMXPackedRows.chainedLinear`).
    public func amxChainedLinear(first: (weight: Tensor, bias: Tensor?), activation: Activation,
                                 second: (weight: Tensor, bias: Tensor?)) -> Tensor? {
        let k = shape[rank - 1], m = count / max(k, 1)
        guard first.weight.rank == 2, first.weight.shape[1] == k,
              AMXPackedRows.chains(rows: m, first: first.weight, second: second.weight) else { return nil }
        return withFloats { x in
            AMXPackedRows.packing(x.baseAddress!, leadingShape: Array(shape.dropLast()), width: k)
        }.map { $0.chainedLinear(first: first, activation: activation, second: second) }
    }
}
