import VidLMModels
import VidLMTensor

extension VisionTransformer {
    /// `encode` applied to [N, 3, S, S] pictures at most `ThreadBudget.visionBatch(tokensPerFrame:)`
    /// at a time, the outputs joined along the first axis. A picture's tokens attend only to each
    /// other, so the batch changes the peak of activations and the passes over the weights, not
    /// the features: the 13 tiles of a 1280×720 picture through SmolVLM2-2.2B's tower in one pass
    /// held ~0.35 GiB more at the peak than one tile at a time, and ran no faster.
    func inVisionBatches(_ pixels: Tensor, _ encode: (Tensor) throws -> Tensor) rethrows -> Tensor {
        let count = pixels.shape[0]
        let batch = ThreadBudget.visionBatch(tokensPerFrame: config.tokenCount)
        guard count > batch else { return try encode(pixels) }
        return Tensor.concatenate(try stride(from: 0, to: count, by: batch).map { start in
            try encode(pixels.rows(start..<min(count, start + batch)))
        })
    }
}
