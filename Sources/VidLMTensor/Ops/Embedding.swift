extension Tensor {
    /// Rows of an embedding table [V, D] for `ids` → [ids.count, D].
    public func embeddingRows(_ ids: [Int]) -> Tensor {
        precondition(rank == 2, "embedding table must be [vocab, width], got \(shape)")
        let d = shape[1]
        return withFloats { table in
            Tensor.make(shape: [ids.count, d], uninitialized: true) { out in
                for (r, id) in ids.enumerated() {
                    precondition(id >= 0 && id < shape[0], "token id \(id) outside the vocabulary of \(shape[0])")
                    (out.baseAddress! + r * d).update(from: table.baseAddress! + id * d, count: d)
                }
            }
        }
    }

    /// Concatenation along the first dimension.
    public static func concatenate(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "nothing to concatenate")
        let inner = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == inner }, "concatenate: inner shapes differ")
        // One f32 part is the result already (tensors are immutable): no copy of a video's
        // features (25 MB for SmolVLM2's 8 frames) just to record them.
        if parts.count == 1 && parts[0].dtype == .f32 { return parts[0] }
        let rows = parts.reduce(0) { $0 + $1.shape[0] }
        return Tensor.make(shape: [rows] + inner, uninitialized: true) { out in
            var offset = 0
            for p in parts {
                p.withFloats { src in
                    (out.baseAddress! + offset).update(from: src.baseAddress!, count: src.count)
                    offset += src.count
                }
            }
        }
    }
}
