import VidLMTensor

/// LLaVA's `multi_modal_projector`: `linear_2(act(linear_1(x)))`, vision width (times the number
/// of feature layers concatenated) → the decoder's width. Weights stay in their stored dtype, as
/// the towers' do; it runs once per image.
public struct MultiModalProjector: Sendable {
    public let mlp: FeedForward

    /// Binds `prefix + "linear_1"` [text, input] and `prefix + "linear_2"` [text, text] (with
    /// biases when `bias`).
    public init(input: Int, output: Int, activation: Activation, bias: Bool, weights: ParameterSource, prefix: String) throws {
        mlp = FeedForward(up: try Linear(weights, prefix + "linear_1", input: input, output: output, bias: bias),
                          down: try Linear(weights, prefix + "linear_2", input: output, output: output, bias: bias),
                          activation: activation)
    }

    /// [..., input] → [..., output].
    public func callAsFunction(_ x: Tensor) -> Tensor { mlp(x) }
}
