import VidLMTensor

/// Temporal redundancy merging (`{"type": "temporal", "tau": τ}`), exactly as
/// `tools/reference/vidlm_bridge.py` defines it:
///
/// - class tokens are never merged: each frame's class token is emitted with count 1;
/// - every grid position p has an *active* token, the one holding the previous frame's patch at p;
///   frame 0 starts one token per position;
/// - for frame t ≥ 1, each position independently: with a = the active token's current value
///   (the running mean of its members) and x = the patch,
///   cos = (x·a) / (max(‖x‖, 1e-8)·max(‖a‖, 1e-8)); if cos ≥ τ then a ← a + (x − a)/(count + 1),
///   count += 1, else x starts a new token (count 1) that becomes p's active token.
///
/// Output [1, M, D] in creation order (frame-major: the frame's class token, then its new patch
/// tokens by position), counts, provenance and frame offsets.
enum TemporalMerge {
    static let cosineEpsilon: Float = 1e-8

    static func run(_ x: Tensor, gridSide g: Int, tau: Float, proportional: Bool) -> MergedTokens {
        let (t, n, d) = (x.shape[0], x.shape[1], x.shape[2])
        let patches = g * g
        // Worst case every token is kept; values are written in creation order.
        let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(t * n * d, 1))
        defer { values.deallocate() }
        var counts: [Float] = []
        var provenance: [[TokenOrigin]] = []
        var frameOffsets = [0]
        var active = [Int](repeating: 0, count: patches)
        var merged = [Bool](repeating: false, count: patches)
        counts.reserveCapacity(t * n)
        provenance.reserveCapacity(t * n)

        x.withFloats { src in
            let base = values.baseAddress!
            var m = 0
            func emit(_ token: UnsafePointer<Float>, _ origin: TokenOrigin) {
                (base + m * d).update(from: token, count: d)
                counts.append(1)
                provenance.append([origin])
                m += 1
            }
            for f in 0..<t {
                let frame = src.baseAddress! + f * n * d
                emit(frame, TokenOrigin(frame: f, position: 0))
                if f > 0 {
                    // Positions are independent within a frame: decide and fold in parallel.
                    let shared = FoldState(values: base, frame: frame, active: active, counts: counts)
                    let decisions = UnsafeMutableBufferPointer<Bool>.allocate(capacity: patches)
                    defer { decisions.deallocate() }
                    ParallelLoop.forEachChunk(patches, minimumPerChunk: max(1, 65_536 / max(d, 1))) { range in
                        for p in range { decisions[p] = shared.fold(position: p, width: d, tau: tau) }
                    }
                    for p in 0..<patches { merged[p] = decisions[p] }
                }
                for p in 0..<patches {
                    let origin = TokenOrigin(frame: f, position: 1 + p)
                    if f > 0 && merged[p] {
                        counts[active[p]] += 1
                        provenance[active[p]].append(origin)
                    } else {
                        active[p] = m
                        emit(frame + (1 + p) * d, origin)
                    }
                }
                frameOffsets.append(m)
            }
        }
        let total = frameOffsets.last!
        let tokens = Tensor.make(shape: [1, total, d], uninitialized: true) { out in
            if total > 0 { out.baseAddress!.update(from: values.baseAddress!, count: total * d) }
        }
        return MergedTokens(tokens: tokens, counts: counts, provenance: provenance, frameOffsets: frameOffsets,
                            proportionalAttention: proportional)
    }

    /// The read-only view one frame's parallel fold needs; each position writes only its own
    /// active token, so chunks never touch the same memory.
    struct FoldState: @unchecked Sendable {
        let values: UnsafeMutablePointer<Float>
        let frame: UnsafePointer<Float>
        let active: [Int]
        let counts: [Float]

        /// Folds patch p into its active token when similar enough; returns whether it did.
        func fold(position p: Int, width d: Int, tau: Float) -> Bool {
            let a = values + active[p] * d
            let x = frame + (1 + p) * d
            var dot: Float = 0, xx: Float = 0, aa: Float = 0
            for e in 0..<d {
                dot += x[e] * a[e]
                xx += x[e] * x[e]
                aa += a[e] * a[e]
            }
            let cos = dot / (max(xx.squareRoot(), TemporalMerge.cosineEpsilon) * max(aa.squareRoot(), TemporalMerge.cosineEpsilon))
            guard cos >= tau else { return false }
            let next = counts[active[p]] + 1
            for e in 0..<d { a[e] = a[e] + (x[e] - a[e]) / next }
            return true
        }
    }
}
